// Every kernel implementation computes the same thing. native/test/kernels_test.cpp checks each
// kernel against the scalar reference on random data (here, and for NEON under qemu with the
// slow checks); the whole forward pass then runs with each ISA on float weights. (Quantised
// models are left to the kernel test: on random weights, float-rounding differences in the
// activations can flip a near-tie in expert routing.)
import assert from 'node:assert/strict';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { ensureModel } from './generator/index';
import { BLOCK, decode, encode, GGML_TYPE_ID } from './generator/quantize';
import { Rng } from './generator/random';
import type { ModelOptions } from './generator/model';
import { tempDir } from './support/temp-dir';

const root = path.resolve(__dirname, '..');

/** Byte offsets of each block type's fp16 scales (ggml's layouts). */
const FP16_FIELDS = { q4_1: [0, 2], q5_0: [0], q5_1: [0, 2], iq4_nl: [0], q2_k: [80, 82], q3_k: [108], q4_k: [0, 2], q5_k: [0, 2], q6_k: [208], iq4_xs: [0] };

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

  it('the native decoders give the generator\'s values for every block type, bit for bit', () => {
    // Two readings of each layout, written apart: the generator's (whose decoding llama.cpp
    // reproduces exactly on its files) and the kernels'. Blocks from quantising random floats,
    // plus blocks of random bytes (every code and scale bit pattern) with finite scales.
    const bin = execFileSync('bash', [path.join(root, 'native', 'test', 'build-kernels-test.sh')], { encoding: 'utf8' }).trim();
    const dir = tempDir('st-decode-');
    const rng = new Rng(3);
    for (const type of ['q4_1', 'q5_0', 'q5_1', 'iq4_nl', 'q2_k', 'q3_k', 'q4_k', 'q5_k', 'q6_k', 'iq4_xs'] as const) {
      const { elements, bytes } = BLOCK[type];
      const n = elements * 64;
      const blocks = Buffer.concat([encode(type, rng.fillNormal(new Float32Array(n), 0.02)), Buffer.from(rng.bytes(new Uint8Array(bytes * 64)))]);
      // Random bytes may make an fp16 scale Inf or NaN, which no decoder need agree on: keep them finite.
      for (let b = 64; b < 128; b++) for (const off of FP16_FIELDS[type]) blocks.writeUInt16LE(blocks.readUInt16LE(b * bytes + off) & 0x7bff, b * bytes + off);
      const inFile = path.join(dir, `${type}.bin`), outFile = path.join(dir, `${type}.f32`);
      fs.writeFileSync(inFile, blocks);
      const r = spawnSync(bin, ['decode', String(GGML_TYPE_ID[type]), inFile, outFile], { encoding: 'utf8' });
      assert.equal(r.status, 0, `${type}: ${r.stdout}${r.stderr}`);
      const native = new Float32Array(new Uint8Array(fs.readFileSync(outFile)).buffer);
      const ours = decode(type, blocks, 2 * n);
      const first = ours.findIndex((v, i) => !Object.is(v, native[i]));
      assert.equal(first, -1, `${type}: element ${first}: generator ${ours[first]}, native ${native[first]}`);
    }
  });

  (process.env.SMALLTHINKER_SLOW ? it : it.skip)('NEON kernels, both builds, match the scalar reference and each other (aarch64 cross-build under qemu-user)', function () {
    this.timeout(600_000);
    const r = spawnSync('bash', [path.join(root, 'native', 'test', 'neon-qemu.sh')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    // qemu's CPU has the dot-product instruction, so the second build's table runs too.
    assert.match(r.stdout, /kernels \(neon, neondot\): \d+ passed, 0 failed/);
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

  // The AVX-VNNI and AVX-512 tables replace the integer dot products: Q4_0 and Q8_0 models.
  for (const type of ['q4_0', 'q8_0'] as const) {
    it(`${type} weights: scalar vs avx2 vs avxvnni and avx512 (where the CPU has them)`, async function () {
      if (process.arch !== 'x64') this.skip();
      const model = await ensureModel({ preset: 'tiny', type });
      const a = logitsWith('scalar', model);
      const others = [logitsWith('avx2', model)];
      for (const isa of ['avxvnni', 'avx512']) {
        try {
          others.push(logitsWith(isa, model));
        } catch (err) {
          if (!new RegExp(`SMALLTHINKER_ISA=${isa} is not available`).test(String(err))) throw err;
        }
      }
      // Integer block dot products are exact; only the float sums over blocks differ. As with
      // F16 activations above, a last-bit difference can move an activation across a Q8_0
      // rounding step (1/127 of its block's largest value), and the random tiny model carries
      // that to the logits: measured up to 0.12 (scalar against either SIMD table).
      for (const other of others) {
        let maxDiff = 0;
        a.rows.forEach((row, i) => row.forEach((v, k) => { maxDiff = Math.max(maxDiff, Math.abs(v - other.rows[i][k])); }));
        assert.ok(maxDiff < 0.25, `${other.isa}: max |logit difference| ${maxDiff}`);
      }
      if (others.length < 3) this.skip();
    });
  }

  // The SSE4.2 table (x86-64 CPUs without AVX2) and its AVX build (Sandy and Ivy Bridge) promise
  // the scalar table's numbers: their Q4_0 products, Q8_0 and K-quant dot products and F16
  // attention compute exactly what the scalar ones do (the 256-value super-block types on
  // tiny-256: Q2_K, Q3_K_M and IQ4_XS files hold Q2_K/Q3_K/IQ4_XS matrices beside Q4_K/Q5_K/Q6_K;
  // the 32-value ones on tiny).
  const blocks32 = ['q4_0', 'q8_0', 'q4_1', 'q5_0', 'q5_1', 'iq4_nl'] as const;
  for (const isa of ['sse42', 'avx']) {
    for (const type of [...blocks32, 'q4_k_m', 'q5_k_m', 'q2_k', 'q3_k_m', 'iq4_xs'] as const) {
      it(`${type} weights: the ${isa} table gives the scalar logits bit for bit`, async function () {
        if (process.arch !== 'x64') this.skip();
        const model = await ensureModel({ preset: (blocks32 as readonly string[]).includes(type) ? 'tiny' : 'tiny-256', type });
        let held: ReturnType<typeof logitsWith>;
        try {
          held = logitsWith(isa, model);
        } catch (err) {
          if (new RegExp(`SMALLTHINKER_ISA=${isa} is not available`).test(String(err))) this.skip();
          throw err;
        }
        const scalar = logitsWith('scalar', model);
        assert.equal(held.isa, isa);
        assert.equal(held.packed, scalar.packed, 'packs what the scalar table packs');
        assert.deepEqual(held.rows, scalar.rows);
      });
    }
  }

  // Kernels that take Q4_0 packed 16 rows at a time (scalar, for the tests; every x86 table)
  // make the model pack its Q4_0 matrices at load, and those that take Q8_0, Q4_K, Q5_K or
  // Q6_K, IQ4_NL, Q5_0, Q4_1 or Q5_1 so (every x86 table from AVX2 on) those, and IQ4_XS (the
  // VNNI tables) theirs. The packed values are defined to the bit (kernels.h); against the rows as in the
  // file only the float sums over blocks differ. The super-block types need rows of multiples
  // of 256 (tiny-256); Q4_K_M holds Q4_K and Q6_K matrices, Q5_K_M Q5_K and Q6_K.
  const x86 = ['avx2', 'avxvnni', 'avx512'];
  const vnni = ['avxvnni', 'avx512'];
  const vnniOnly: readonly string[] = ['iq4_xs'];
  const packing = { q4_0: ['scalar', 'sse42', 'avx', ...x86], q8_0: x86, q4_k_m: x86, q5_k_m: x86, iq4_nl: x86, iq4_xs: vnni, q5_0: x86, q4_1: x86, q5_1: x86 };
  for (const type of ['q4_0', 'q8_0', 'q4_k_m', 'q5_k_m', 'iq4_nl', 'iq4_xs', 'q5_0', 'q4_1', 'q5_1'] as const) {
    it(`${type} weights: packed 16 rows at a time against the rows as in the file (each table that packs them, where the CPU has it)`, async function () {
      const model = await ensureModel({ preset: type.endsWith('_m') || type === 'iq4_xs' ? 'tiny-256' : 'tiny', type });
      const isas = process.arch === 'x64' ? packing[type] : packing[type].filter((isa) => isa === 'scalar');
      if (isas.length === 0) this.skip();
      for (const isa of isas) {
        let packed: ReturnType<typeof logitsWith>;
        try {
          packed = logitsWith(isa, model);
        } catch (err) {
          if (/SMALLTHINKER_ISA=\w+ is not available/.test(String(err))) continue;  // not on this CPU
          throw err;
        }
        const rows = logitsWith(isa, model, { SMALLTHINKER_PACK: '0' });
        assert.ok(packed.packed > 0, `${isa}: packs the ${type} matrices`);
        // The files of the types packed on the VNNI tables only hold other matrices (head, Q6_K,
        // Q4_K, Q8_0) that AVX2 packs too: more than those.
        if (vnniOnly.includes(type)) assert.ok(packed.packed > logitsWith('avx2', model).packed, `${isa}: packs the ${type} matrices themselves`);
        // The 32-value types' files are that type for the most part (the rest Q8_0, some Q5_1).
        if (['iq4_nl', 'q5_0', 'q4_1', 'q5_1'].includes(type)) assert.ok(packed.packed > fs.statSync(model).size / 2, `${isa}: packs the ${type} matrices themselves`);
        assert.equal(rows.packed, 0);
        let maxDiff = 0;
        packed.rows.forEach((row, i) => row.forEach((v, k) => { maxDiff = Math.max(maxDiff, Math.abs(v - rows.rows[i][k])); }));
        assert.ok(maxDiff < 0.25, `${isa}: max |logit difference| ${maxDiff}`);
      }
    });
  }

  it('refuses an instruction set this CPU or build does not have, clearly', async () => {
    const model = await ensureModel({ preset: 'tiny', type: 'q4_0' });
    assert.throws(() => logitsWith('sse9', model), /SMALLTHINKER_ISA=sse9 is not available/);
  });

  it('the instruction-set libraries lend no code to the rest of the addon (no weak symbols in them)', function () {
    // An inline function or template that a kernel file compiled for AVX-512 emits out of line
    // is a weak symbol, and the linker keeps one copy for every file that calls it: the AVX-512
    // copy, called from the AVX2 or the scalar path, would stop an older CPU with an illegal
    // instruction. Helpers shared by kernel files therefore have internal linkage (hsum_x86.h).
    if (process.arch !== 'x64') this.skip();
    const dir = path.join(root, 'native', 'build', 'Release');
    for (const isa of ['sse42', 'avx', 'avx2', 'avxvnni', 'avx512']) {
      const lib = path.join(dir, `smallthinker_${isa}.a`);
      assert.ok(fs.existsSync(lib), `${lib} is built`);
      const weak = execFileSync('nm', ['-C', lib], { encoding: 'utf8', maxBuffer: 64 << 20 })
        .split('\n').filter((line) => /^\s*[0-9a-f]*\s+[WwVv]\s/.test(line));
      assert.deepEqual(weak, [], `weak symbols in smallthinker_${isa}.a`);
    }
  });

  it('the x86 kernels use no gather instruction (much slower on Intel cores that mitigate Gather Data Sampling)', function () {
    // The softmax's exponentials looked their table up with one; the compiler could bring one
    // back by vectorising a table lookup on its own.
    if (process.arch !== 'x64') this.skip();
    const addon = path.join(root, 'native', 'build', 'Release', 'smallthinker.node');
    const code = execFileSync('objdump', ['-d', '-C', '--no-show-raw-insn', addon], { encoding: 'utf8', maxBuffer: 256 << 20 });
    let fn = '';
    const gathering = new Set<string>();
    for (const line of code.split('\n')) {
      const start = /^[0-9a-f]+ <(.+)>:$/.exec(line);
      if (start) fn = start[1];
      else if (/\tv(p)?gather/.test(line)) gathering.add(fn);
    }
    assert.deepEqual([...gathering], []);
  });
});
