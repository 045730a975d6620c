// Our tokenizer gives the same ids as llama.cpp on real source code and on edge cases, for
// the real Qwen vocabulary and the small test one; decoding streams across split characters.
import assert from 'node:assert/strict';
import { loadNativeAddon, type NativeTokenizer } from '../engine/native-addon';
import { ensureModel } from './generator/index';
import { EDGE_CASES, sourceFiles } from './tokenizer-corpus';

type LlamaModel = { tokenize(text: string, special?: boolean): readonly number[]; dispose(): Promise<void> };

async function loadLlamaVocab(modelPath: string): Promise<LlamaModel> {
  const { getLlama } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
  return (await llama.loadModel({ modelPath, vocabOnly: true })) as unknown as LlamaModel;
}

describe('tokenizer', function () {
  this.timeout(180_000);
  const addon = loadNativeAddon();

  for (const vocab of ['qwen', 'small'] as const) {
    describe(`${vocab} vocabulary`, () => {
      let ours: NativeTokenizer;
      let theirs: LlamaModel;
      before(async () => {
        const file = await ensureModel({ preset: 'tiny', type: 'q4_0', vocab });
        ours = addon.tokenizerFromModel(file);
        theirs = await loadLlamaVocab(file);
      });
      after(async () => theirs?.dispose());

      const files = sourceFiles(vocab === 'qwen' ? 220 : 60);
      it(`matches llama.cpp on ${files.length} source files and ${EDGE_CASES.length} edge cases`, () => {
        assert.ok(files.length >= (vocab === 'qwen' ? 200 : 50), `corpus has ${files.length} files`);
        const exts = new Set(files.map((f) => f.name.split('.').pop()));
        assert.ok(exts.size >= 5, `several languages: ${[...exts]}`);
        for (const { name, text } of [...files, ...EDGE_CASES.map((t, i) => ({ name: `edge case #${i}`, text: t }))]) {
          for (const special of [true, false]) {
            const a = Array.from(ours.encode(text, { parseSpecial: special }));
            const b = Array.from(theirs.tokenize(text, special));
            if (a.length !== b.length || a.some((v, i) => v !== b[i])) {
              const i = a.findIndex((v, k) => v !== b[k]);
              assert.fail(`${name} (parseSpecial ${special}): first difference at token ${i}: ours ${a.slice(i, i + 5)} llama.cpp ${b.slice(i, i + 5)}`);
            }
          }
        }
      });

      it('round-trips text through encode and decode', () => {
        for (const text of [...EDGE_CASES, ...files.slice(0, 20).map((f) => f.text)]) {
          if (text.includes('\ufffd')) continue;  // invalid UTF-8 in the file is not restored
          assert.equal(ours.decode(ours.encode(text, { parseSpecial: true }), { renderSpecial: true }), text);
        }
      });
    });
  }

  describe('streaming decode', () => {
    let tok: NativeTokenizer;
    before(async () => { tok = addon.tokenizerFromModel(await ensureModel({ preset: 'tiny', type: 'q4_0', vocab: 'small' })); });

    it('holds a split multi-byte character back until it is complete', () => {
      // The small vocabulary has no merges for emoji: each of its 4 bytes is its own token.
      const text = 'ok 🤖 é!';
      const ids = tok.encode(text);
      const dec = tok.createStreamingDecoder();
      const pieces = Array.from(ids, (id) => dec.push(id));
      pieces.push(dec.flush());
      assert.equal(pieces.join(''), text);
      for (const p of pieces) assert.ok(!p.includes('\ufffd'), `piece ${JSON.stringify(p)} is whole characters`);
      assert.ok(pieces.filter((p) => p === '').length >= 3, 'the emoji bytes were held back');
    });

    it('hides control tokens unless asked to render them', () => {
      const ids = tok.encode('<|im_start|>hi<|im_end|>', { parseSpecial: true });
      assert.equal(tok.decode(ids), 'hi');
      assert.equal(tok.decode(ids, { renderSpecial: true }), '<|im_start|>hi<|im_end|>');
      assert.ok(tok.endOfGenerationIds.includes(ids[ids.length - 1]));
    });

    it('rejects ids outside the vocabulary', () => {
      assert.throws(() => tok.decode(Int32Array.of(tok.tokenCount)), /outside the vocabulary/);
    });
  });

  it('tokenises 1 MB of source code well under a second', async () => {
    const tok = addon.tokenizerFromModel(await ensureModel({ preset: 'tiny', type: 'q4_0', vocab: 'qwen' }));
    let text = '';
    for (const f of sourceFiles(400)) { text += f.text; if (text.length > 1_100_000) break; }
    text = text.slice(0, 1 << 20);
    const t0 = performance.now();
    const n = tok.encode(text).length;
    const ms = performance.now() - t0;
    console.log(`      tokenised ${(text.length / 1e6).toFixed(2)} MB into ${n} tokens in ${ms.toFixed(0)} ms`);
    assert.ok(ms < 1000, `${ms} ms`);
  });
});
