// Agreement with llama.cpp on 4b-shaped files (slow): teacher-forced top-1 on a 520-token
// real-vocabulary prompt.
//
// Q4_0 and Q8_0 must agree on ≥ 98 % of positions, and do (100 % measured, Q8_0 with its
// weights packed 16 rows at a time and as in the file alike): activations quantised to Q8_0
// absorb the last-bit differences between the two engines' summation orders. (Q8_0 needs the
// generator's version 2 file: the random bytes of version 1 made a model whose builds disagree
// with each other on a third of the positions, test/generator/model.ts.)
//
// F16 needs care. F16 activations keep ~11 bits, so a last-bit difference in a dot product
// (our summation order versus that of whichever llama.cpp CPU build runs on the machine) now
// and then flips one activation's rounding; on a model with random weights that perturbation
// tips near-tied router decisions (about 0.3 % of them are within 1e-3) and the flat random
// output layer turns them into different top-1 tokens. Our engine against itself with one
// accumulator reordered agrees only 91.5 %; llama.cpp against itself (batch 512 vs 128, 1 vs 2
// threads) 100 %, because its order does not change with those. So where it is cheap we round
// as llama.cpp does: the AVX-512 F16 dot product sums in the order of llama.cpp's AVX-512 build
// (four 16-lane accumulators: 94.4 → 98.3 %), and a prompt batch adds each token's expert
// outputs in the router's order like the token-by-token pass (98.3 → 99.0 %). Measured on an
// AVX-512 machine: 99.0 %, the bar, which the test asks for when our AVX-512 kernels run.
// Other ISAs meet llama.cpp builds with other orders (our AVX2 build measured 99.2 % against
// llama.cpp's AVX2 build, 94 % against its AVX-512 one), so elsewhere the test asks for ≥ 90 %.
// Every disagreement must be a near miss: llama.cpp's token is among our best few candidates,
// which a real bug (a wrong layer, a wrong rotation) would not give.
import assert from 'node:assert/strict';
import { loadNativeAddon } from '../engine/native-addon';
import { ensureModel } from './generator/index';
import { sourceFiles } from './tokenizer-corpus';

// Our top entries to look in for llama.cpp's token on a disagreement. The generated 4b output
// matrix repeats every 8192 rows, so each distinct logit appears ~19 times over the Qwen
// vocabulary: 256 entries are the best ~13 distinct candidates out of 151 936.
const NEAR_MISS_TOP_N = 256;

(process.env.SMALLTHINKER_SLOW ? describe : describe.skip)('teacher-forced agreement with llama.cpp (4b shape)', function () {
  this.timeout(1_800_000);
  const bar = { q4_0: '≥ 98 %', q8_0: '≥ 98 %', f16: '≥ 99 % with our AVX-512 kernels (else ≥ 90 %)', f32: '≥ 99 %' };
  // F32 only when asked (SMALLTHINKER_PARITY_F32=1): its file is 17 GB, more than the disk of a
  // machine already holding the other generated files may have free. Measured 2026-11-25: 100 %.
  const types = process.env.SMALLTHINKER_PARITY_F32 ? (['q4_0', 'q8_0', 'f16', 'f32'] as const) : (['q4_0', 'q8_0', 'f16'] as const);
  for (const type of types) {
    it(`${type}: top-1 agrees on ${bar[type]} of 520 positions, every disagreement a near miss`, async () => {
      const file = await ensureModel({ preset: '4b', type, vocab: 'qwen' });
      const addon = loadNativeAddon();
      const text = sourceFiles(40).map((f) => f.text).join('\n');
      const tokens = addon.tokenizerFromModel(file).encode(text).slice(0, 520);
      assert.equal(tokens.length, 520);

      const session = addon.createSession(file, { threads: 2, context: 1024 });
      const ours = session.evaluateTopN(tokens, NEAR_MISS_TOP_N);
      const needed = type === 'q4_0' || type === 'q8_0' ? 0.98 : type === 'f32' || session.info.isa === 'avx512' ? 0.99 : 0.9;

      const { getLlama } = await import('node-llama-cpp');
      const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
      const model = await llama.loadModel({ modelPath: file });
      const context = await model.createContext({ contextSize: 1024, threads: 2, batchSize: 512 });
      const results = await context.getSequence().controlledEvaluate(
        Array.from(tokens, (t) => [t, { generateNext: { token: true, options: { temperature: 0 } } }] as never));
      const theirs = results.map((r) => r?.next?.token);
      await context.dispose();
      await model.dispose();

      const disagreements = ours.flatMap((top, i) => (top[0][0] === theirs[i] ? [] : [i]));
      const agree = 1 - disagreements.length / ours.length;
      const farMisses = disagreements.filter((i) => !ours[i].some(([id]) => id === theirs[i]));
      console.log(`      ${type} (${session.info.isa}): top-1 agreement ${(agree * 100).toFixed(1)} % over ${ours.length} positions; ` +
        `${disagreements.length - farMisses.length} near misses, ${farMisses.length} far`);
      assert.ok(agree >= needed, `top-1 agreement ${agree}`);
      assert.deepEqual(farMisses, [], 'positions where llama.cpp picked a token outside our best candidates');
    });
  }
});
