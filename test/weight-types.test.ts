// Every weight type of the published files is computed as llama.cpp computes it. For each of
// llama-quantize's presets, a tiny-256 file (every matrix a whole number of 256-element
// super-blocks, so the K-quants apply without falling back) is evaluated teacher-forced by our
// engine and by llama.cpp (node-llama-cpp), and top-1 tokens are compared.
//
// On a small model with random weights a last-bit difference in an activation can tip a
// near-tied expert choice, so even our own engine built for two instruction sets (scalar and
// SIMD: the same block kernels, different float rounding elsewhere) does not agree with itself
// everywhere: 96.5 % of positions on tiny-256 Q4_K_M, 99.5 % on Q4_0. So the bar is relative:
// llama.cpp must agree with us at least as well as we agree with ourselves, less 2 points, and
// every disagreement must be a near miss (llama.cpp's token among our best 8). A misread
// layout or a wrong scale gives far misses on most positions. The decoders themselves are
// pinned bit for bit in test/kernels-isa.test.ts, the dot products in kernels_test.cpp.
// The budgeted mode (experts read into the cache) gives the mapped mode's logits exactly.
// One preset runs by default; all of them, and the 4B shape, with the slow checks.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { loadNativeAddon } from '../engine/native-addon';
import { CACHE_DIR, ensureModel, modelFileName, type ModelOptions } from './generator/index';
import { sourceFiles } from './tokenizer-corpus';

type FileType = ModelOptions['type'];
const PRESETS: FileType[] = ['q4_k_m', 'q2_k', 'q3_k_s', 'q3_k_m', 'q4_k_s', 'q5_k_s', 'q5_k_m', 'q6_k', 'iq4_nl', 'iq4_xs',
  'q4_1', 'q5_0', 'q5_1'];
const slow = !!process.env.SMALLTHINKER_SLOW;
const NEAR_MISS_TOP_N = 8;
// The tiny-256 files have random weights, so many positions are near-ties that any change of
// summation order flips. llama.cpp's kernels for a type sum in another order than ours, and
// which of its kernels run depends on the CPU: on an AVX2-only EPYC (2026-12-01) q6_k agreed
// 96.0 % against 99.0 % between our own builds, iq4_xs 96.5 % against 99.5 %, and one q2_k
// position put llama.cpp's token just outside our top 8, where AVX-512 machines had passed
// the bounds of 2 points and none. Hence 4 points and one such position in 200 here; the
// 4B-shape presets below keep their ≥ 99 %.
const TINY_AGREEMENT_SLACK = 0.04;
const TINY_FAR_ALLOWED = 1;
const root = path.resolve(__dirname, '..');

// One llama.cpp instance for every file (each getLlama adds process listeners).
let llamaInstance: ReturnType<typeof import('node-llama-cpp').getLlama> | undefined;
function loadLlama() {
  llamaInstance ??= import('node-llama-cpp').then(({ getLlama }) => getLlama({ gpu: false, build: 'never', logLevel: 'error' as never }));
  return llamaInstance;
}

async function llamaTop1(file: string, tokens: ArrayLike<number>, context: number): Promise<Array<number | undefined>> {
  const llama = await loadLlama();
  const model = await llama.loadModel({ modelPath: file });
  try {
    const ctx = await model.createContext({ contextSize: context, threads: 2, batchSize: 512 });
    const results = await ctx.getSequence().controlledEvaluate(
      Array.from(tokens, (t) => [t, { generateNext: { token: true, options: { temperature: 0 } } }] as never));
    await ctx.dispose();
    return results.map((r) => r?.next?.token ?? undefined);
  } finally {
    await model.dispose();
  }
}

function promptTokens(file: string, count: number): Int32Array {
  const text = sourceFiles(20).map((f) => f.text).join('\n');
  const tokens = loadNativeAddon().tokenizerFromModel(file).encode(text).slice(0, count);
  assert.equal(tokens.length, count);
  return tokens;
}

/** Our top-1 tokens with the scalar kernels, in a process of its own (the ISA is chosen once per process). */
function scalarTop1(file: string, tokens: Int32Array, context: number): number[] {
  const script = `
    const { loadNativeAddon } = require(${JSON.stringify(path.join(root, 'engine', 'native-addon.ts'))});
    const s = loadNativeAddon().createSession(${JSON.stringify(file)}, { threads: 2, context: ${context} });
    process.stdout.write(JSON.stringify(s.evaluateTopN(Int32Array.from(${JSON.stringify(Array.from(tokens))}), 1).map((t) => t[0][0])));`;
  return JSON.parse(execFileSync(process.execPath, ['--import=tsx', '-e', script], {
    cwd: root, encoding: 'utf8', env: { ...process.env, SMALLTHINKER_ISA: 'scalar' }, maxBuffer: 64 << 20,
  }));
}

/** Teacher-forced agreement of our top-1 with llama.cpp's, and with our own scalar build's. */
async function agreement(file: string, count: number, context: number, withSelf: boolean) {
  const tokens = promptTokens(file, count);
  const session = loadNativeAddon().createSession(file, { threads: 2, context });
  const ours = session.evaluateTopN(tokens, NEAR_MISS_TOP_N);
  const isa = session.info.isa;
  session.release();
  const theirs = await llamaTop1(file, tokens, context);
  const disagreements = ours.flatMap((top, i) => (top[0][0] === theirs[i] ? [] : [i]));
  const far = disagreements.filter((i) => !ours[i].some(([id]) => id === theirs[i]));
  const scalar = withSelf && isa !== 'scalar' ? scalarTop1(file, tokens, context) : undefined;
  const self = scalar ? scalar.filter((t, i) => t === ours[i][0][0]).length / count : 1;
  return { isa, agree: 1 - disagreements.length / count, self, near: disagreements.length - far.length, far: far.length };
}

describe('weight types: the same results as llama.cpp', function () {
  this.timeout(600_000);

  for (const type of PRESETS) {
    (type === 'q4_k_m' || slow ? it : it.skip)(`tiny-256 ${type}: llama.cpp agrees with us as well as we agree with ourselves`, async () => {
      const file = await ensureModel({ preset: 'tiny-256', type });
      const r = await agreement(file, 200, 512, true);
      console.log(`      ${type}: top-1 ${(r.agree * 100).toFixed(1)} % with llama.cpp (${r.near} near misses, ${r.far} far); ` +
        `${(r.self * 100).toFixed(1)} % between our ${r.isa} and scalar builds`);
      assert.ok(r.agree >= Math.min(0.99, r.self - TINY_AGREEMENT_SLACK), `top-1 agreement ${r.agree} (ours with ourselves: ${r.self})`);
      assert.ok(r.far <= TINY_FAR_ALLOWED, `llama.cpp picked a token outside our best ${NEAR_MISS_TOP_N} candidates at ${r.far} positions`);
    });
  }

  // Q4_K_M, Q5_K_M, Q6_K and Q8_0: each has matrices packed 16 rows at a time where the kernels take them,
  // which the expert cache lays out as each expert arrives.
  for (const type of ['q4_k_m', 'q5_k_m', 'q6_k', 'q8_0'] as const) {
    it(`tiny-256 ${type}: the budgeted mode gives the mapped mode's logits`, async () => {
      const file = await ensureModel({ preset: 'tiny-256', type });
      const addon = loadNativeAddon();
      const tokens = addon.tokenizerFromModel(file).encode('function add(a, b) { return a + b; }\nconst x = add(1, 2);');
      const mapped = addon.createSession(file, { threads: 2, context: 128 });
      // The budget counts this process's memory so far (llama.cpp's models may have raised it):
      // a generous one, with the expert cache held to 8 slots so that experts are evicted and read again.
      const budgeted = addon.createSession(file, { threads: 2, context: 128, memoryBudgetMiB: 65536, maxExpertSlots: 8 });
      try {
        assert.ok(budgeted.info.memory_plan, 'the second session computes under a budget');
        assert.deepEqual(budgeted.evaluateTopN(tokens, 8), mapped.evaluateTopN(tokens, 8));
      } finally {
        mapped.release();
        budgeted.release();
      }
    });
  }

  it('tiny-256 q4_k_m, transposed down (powerinfer layout): threads split its rows on whole super-blocks', async () => {
    // Each thread adds a column slice of the active neurons' rows; a slice starting inside a
    // 256-value super-block would decode the wrong values, so 2 threads must give 1 thread's logits.
    const file = await ensureModel({ preset: 'tiny-256', type: 'q4_k_m', flavour: 'powerinfer' });
    const addon = loadNativeAddon();
    const tokens = addon.tokenizerFromModel(file).encode('function add(a, b) { return a + b; }');
    const one = addon.createSession(file, { threads: 1, context: 64 });
    const two = addon.createSession(file, { threads: 2, context: 64 });
    try {
      assert.deepEqual(two.evaluateTopN(tokens, 4), one.evaluateTopN(tokens, 4));
    } finally {
      one.release();
      two.release();
    }
  });

  // The 4B shape for every preset. The files take 2-3 GB each: one generated for this test is
  // deleted after it (Q4_K_M, used by the benchmarks too, stays).
  for (const type of PRESETS) {
    (slow ? it : it.skip)(`4b ${type}: top-1 agrees with llama.cpp on ≥ 99 % of 520 positions`, async () => {
      const options = { preset: '4b', type, vocab: 'qwen' } as const;
      const existed = fs.existsSync(path.join(CACHE_DIR, modelFileName(options)));
      const file = await ensureModel(options);
      try {
        const r = await agreement(file, 520, 1024, false);
        console.log(`      4b ${type}: ${(r.agree * 100).toFixed(1)} % (${r.near} near misses, ${r.far} far)`);
        assert.ok(r.agree >= 0.99, `top-1 agreement ${r.agree}`);
      } finally {
        if (!existed && type !== 'q4_k_m') for (const f of [file, `${file}.used`]) fs.rmSync(f, { force: true });
      }
    });
  }
});
