// Agreement with llama.cpp on 4b-shaped files (slow): teacher-forced top-1 on a 500+ token
// real-vocabulary prompt, ≥ 99 % of positions at F16 and ≥ 98 % at Q4_0.
import assert from 'node:assert/strict';
import { loadNativeAddon } from '../engine/native-addon';
import { ensureModel } from './generator/index';
import { sourceFiles } from './tokenizer-corpus';

(process.env.SMALLTHINKER_SLOW ? describe : describe.skip)('teacher-forced agreement with llama.cpp (4b shape)', function () {
  this.timeout(1_800_000);
  for (const [type, needed] of [['q4_0', 0.98], ['f16', 0.99]] as const) {
    it(`${type}: top-1 agrees on ≥ ${needed * 100} % of 520 positions`, async () => {
      const file = await ensureModel({ preset: '4b', type, vocab: 'qwen' });
      const addon = loadNativeAddon();
      const text = sourceFiles(40).map((f) => f.text).join('\n');
      const tokens = addon.tokenizerFromModel(file).encode(text).slice(0, 520);
      assert.equal(tokens.length, 520);

      const session = addon.createSession(file, { threads: 2, context: 1024 });
      const ours = session.evaluateTopN(tokens, 1).map((p) => p[0][0]);

      const { getLlama } = await import('node-llama-cpp');
      const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
      const model = await llama.loadModel({ modelPath: file });
      const context = await model.createContext({ contextSize: 1024, threads: 2, batchSize: 512 });
      const results = await context.getSequence().controlledEvaluate(
        Array.from(tokens, (t) => [t, { generateNext: { token: true, options: { temperature: 0 } } }] as never));
      const theirs = results.map((r) => r?.next?.token);
      await context.dispose();
      await model.dispose();

      const agree = ours.filter((t, i) => t === theirs[i]).length / ours.length;
      console.log(`      ${type}: top-1 agreement ${(agree * 100).toFixed(1)} % over ${ours.length} positions`);
      assert.ok(agree >= needed, `top-1 agreement ${agree}`);
    });
  }
});
