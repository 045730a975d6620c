// Our generated files are real SmallThinker GGUFs: llama.cpp (node-llama-cpp 3.21.1, the
// reference engine, a devDependency only) loads them and generates from them.
import assert from 'node:assert/strict';
import { ensureModel } from './generator/index';

describe('generated models load in llama.cpp', function () {
  this.timeout(120_000);

  for (const preset of ['tiny', 'tiny-swa'] as const) {
    for (const type of ['f32', 'q4_0'] as const) {
      // One case runs by default; the rest with the slow checks (each load takes seconds).
      const slow = preset !== 'tiny' || type !== 'f32';
      (slow && !process.env.SMALLTHINKER_SLOW ? it.skip : it)(`${preset} ${type}: llama.cpp generates tokens`, async () => {
        const modelPath = await ensureModel({ preset, type });
        const { getLlama, LlamaCompletion } = await import('node-llama-cpp');
        const llama = await getLlama({ gpu: false, build: 'never' });
        const model = await llama.loadModel({ modelPath });
        try {
          assert.equal(model.fileInfo.metadata.general.architecture, 'smallthinker');
          const context = await model.createContext({ contextSize: 256 });
          const completion = new LlamaCompletion({ contextSequence: context.getSequence() });
          const text = await completion.generateCompletion('function add(a, b) {', { maxTokens: 8, temperature: 0 });
          assert.ok(model.tokenize(text).length > 0, 'llama.cpp produced tokens');
          await context.dispose();
        } finally {
          await model.dispose();
        }
      });
    }
  }
});
