// Every kernel implementation computes the same thing. native/test/kernels_test.cpp checks each
// kernel against the scalar reference on random data (here, and for NEON under qemu with the
// slow checks); the whole forward pass then runs with each ISA on float weights. (Quantised
// models are left to the kernel test: on random weights, float-rounding differences in the
// activations can flip a near-tie in expert routing.)
import assert from 'node:assert/strict';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { ensureModel } from './generator/index';
import type { ModelOptions } from './generator/model';

const root = path.resolve(__dirname, '..');

function logitsWith(isa: string, model: string, env: Record<string, string> = {}): { isa: string; packed: number; rows: number[][] } {
  const script = `
    const { loadNativeAddon } = require(${JSON.stringify(path.join(root, 'engine', 'native-addon.ts'))});
    const s = loadNativeAddon().createSession(${JSON.stringify(model)}, { threads: 2, context: 256 });
    const rows = [];
    rows.push(Array.from(s.evaluate(Int32Array.from({ length: 40 }, (_, i) => (i * 31 + 7) % 300))));
    for (let i = 0; i < 3; i++) rows.push(Array.from(s.evaluate(Int32Array.of(i + 11))));
    process.stdout.write(JSON.stringify({ isa: s.info.isa, packed: s.info.packed_weights_bytes, rows }));`;
  const out = execFileSync(process.execPath, ['--import=tsx', '-e', script], {
    cwd: root, encoding: 'utf8', env: { ...process.env, SMALLTHINKER_ISA: isa, ...env }, maxBuffer: 64 << 20,
  });
  return JSON.parse(out);
}

describe('kernels: every instruction set agrees with the scalar reference', function () {
  this.timeout(120_000);
  const simd = process.arch === 'x64' ? 'avx2' : process.arch === 'arm64' ? 'neon' : '';
  it('each kernel matches the scalar reference on random data (native/test/kernels_test.cpp)', () => {
    const bin = execFileSync('bash', [path.join(root, 'native', 'test', 'build-kernels-test.sh')], { encoding: 'utf8' }).trim();
    const r = spawnSync(bin, { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /\d+ passed, 0 failed/);
  });

  (process.env.SMALLTHINKER_SLOW ? it : it.skip)('NEON kernels match the scalar reference (aarch64 cross-build under qemu-user)', function () {
    this.timeout(600_000);
    const r = spawnSync('bash', [path.join(root, 'native', 'test', 'neon-qemu.sh')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /kernels \(neon\): \d+ passed, 0 failed/);
  });

  const types: ModelOptions['type'][] = ['f32', 'f16', 'bf16'];
  for (const type of types) {
    (simd ? it : it.skip)(`${type} weights: scalar vs ${simd}`, async () => {
      const model = await ensureModel({ preset: 'tiny', type });
      const a = logitsWith('scalar', model);
      const b = logitsWith(simd, model);
      assert.equal(a.isa, 'scalar');
      assert.equal(b.isa, simd);
      let maxDiff = 0;
      a.rows.forEach((row, i) => row.forEach((v, k) => { maxDiff = Math.max(maxDiff, Math.abs(v - b.rows[i][k])); }));
      // Same math, different summation order. F16/BF16 weights take activations rounded to
      // F16/BF16 (as llama.cpp does), which turns last-bit differences into a step of the
      // activation format, so the bound follows that format's precision.
      const bound = { f32: 2e-3, f16: 2e-2, bf16: 1e-1 }[type as 'f32' | 'f16' | 'bf16'];
      assert.ok(maxDiff < bound, `max |logit difference| ${maxDiff} (bound ${bound})`);
    });
  }

  // The AVX-512 table replaces the integer dot products: Q4_0 and Q8_0 models.
  for (const type of ['q4_0', 'q8_0'] as const) {
    it(`${type} weights: scalar vs avx2 vs avx512 (where the CPU has AVX-512 VNNI)`, async function () {
      if (process.arch !== 'x64') this.skip();
      const model = await ensureModel({ preset: 'tiny', type });
      const a = logitsWith('scalar', model);
      const b = logitsWith('avx2', model);
      let c: ReturnType<typeof logitsWith> | undefined;
      try {
        c = logitsWith('avx512', model);
      } catch (err) {
        if (!/SMALLTHINKER_ISA=avx512 is not available/.test(String(err))) throw err;
      }
      // Integer block dot products are exact; only the float sums over blocks differ. As with
      // F16 activations above, a last-bit difference can move an activation across a Q8_0
      // rounding step (1/127 of its block's largest value), and the random tiny model carries
      // that to the logits: measured up to 0.12 (scalar against either SIMD table).
      for (const other of [b, c]) {
        if (!other) continue;
        let maxDiff = 0;
        a.rows.forEach((row, i) => row.forEach((v, k) => { maxDiff = Math.max(maxDiff, Math.abs(v - other.rows[i][k])); }));
        assert.ok(maxDiff < 0.25, `${other.isa}: max |logit difference| ${maxDiff}`);
      }
      if (!c) this.skip();
    });
  }

  // Kernels that take Q4_0 packed 16 rows at a time (scalar, for the tests; AVX-512 VNNI)
  // make the model pack its Q4_0 matrices at load. The packed values are defined to the bit
  // (kernels.h); against the rows as in the file only the float sums over blocks differ.
  it('q4_0 weights: packed 16 rows at a time against the rows as in the file (scalar, and avx512 where the CPU has it)', async function () {
    const model = await ensureModel({ preset: 'tiny', type: 'q4_0' });
    for (const isa of process.arch === 'x64' ? ['scalar', 'avx512'] : ['scalar']) {
      let packed: ReturnType<typeof logitsWith>;
      try {
        packed = logitsWith(isa, model);
      } catch (err) {
        if (/SMALLTHINKER_ISA=avx512 is not available/.test(String(err))) continue;  // no AVX-512 VNNI here
        throw err;
      }
      const rows = logitsWith(isa, model, { SMALLTHINKER_PACK: '0' });
      assert.ok(packed.packed > 0, `${isa}: packs the Q4_0 matrices`);
      assert.equal(rows.packed, 0);
      let maxDiff = 0;
      packed.rows.forEach((row, i) => row.forEach((v, k) => { maxDiff = Math.max(maxDiff, Math.abs(v - rows.rows[i][k])); }));
      assert.ok(maxDiff < 0.25, `${isa}: max |logit difference| ${maxDiff}`);
    }
  });

  it('refuses an instruction set this CPU or build does not have, clearly', async () => {
    const model = await ensureModel({ preset: 'tiny', type: 'q4_0' });
    assert.throws(() => logitsWith('sse9', model), /SMALLTHINKER_ISA=sse9 is not available/);
  });
});
