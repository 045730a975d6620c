// What Download Model… offers: the default first, every published QAT size with its size named.
import assert from 'node:assert/strict';
import { MODEL_CATALOG } from './catalog';

describe('model catalog', () => {
  it('offers the 4B Q4_0 file first (the default), then the QAT files smallest first, then the 21B', () => {
    assert.equal(MODEL_CATALOG[0].fileName, 'SmallThinker-4B-A0.6B-Instruct.Q4_0.gguf');
    const qat = MODEL_CATALOG.filter((m) => m.path.startsWith('PowerInfer/SmallThinker-4BA0.6B-Instruct-INT4-QAT/'));
    assert.deepEqual(qat.map((m) => m.fileName), ['Q3_K_S', 'Q3_K_M', 'Q4_0', 'Q4_K_S', 'Q4_K_M', 'Q8_0']
      .map((t) => `SmallThinker-4B-A0.6B-Instruct-qat.${t}.gguf`));
    assert.match(qat[0].label, /QAT \(Q3_K_S, 1\.94 GB\)/);
    assert.match(qat[4].label, /QAT \(Q4_K_M, 2\.63 GB\)/);
    assert.equal(MODEL_CATALOG.at(-1)!.id, 'smallthinker-21b-q4_0');
  });

  it('names each file once, with an id, a size in its label and a path ending in the file name', () => {
    assert.equal(new Set(MODEL_CATALOG.map((m) => m.id)).size, MODEL_CATALOG.length);
    assert.equal(new Set(MODEL_CATALOG.map((m) => m.fileName)).size, MODEL_CATALOG.length);
    for (const m of MODEL_CATALOG) {
      assert.ok(m.path.endsWith(`/${m.fileName}`), m.id);
      assert.match(m.label, /\d(\.\d+)? GB\)$/, m.id);
    }
  });
});
