// Our tokenizer gives the same ids as llama.cpp on real source code and on edge cases, for
// the real Qwen vocabulary and the small test one; decoding streams across split characters.
import assert from 'node:assert/strict';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { loadNativeAddon, type NativeTokenizer } from '../engine/native-addon';
import { ensureModel } from './generator/index';
import { EDGE_CASES, sourceFiles } from './tokenizer-corpus';

// The control and user-defined tokens of the Qwen vocabulary (test/generator/vocab.ts).
const QWEN_SPECIAL_TOKENS = [
  '<|endoftext|>', '<|im_start|>', '<|im_end|>', '<|object_ref_start|>', '<|object_ref_end|>', '<|box_start|>', '<|box_end|>',
  '<|quad_start|>', '<|quad_end|>', '<|vision_start|>', '<|vision_end|>', '<|vision_pad|>', '<|image_pad|>', '<|video_pad|>',
  '<tool_call>', '</tool_call>', '<|fim_prefix|>', '<|fim_middle|>', '<|fim_suffix|>', '<|fim_pad|>', '<|repo_name|>',
  '<|file_sep|>', '<tool_response>', '</tool_response>', '<think>', '</think>',
];

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

      // llama.cpp splits the special tokens out first, longest first, each at its leftmost
      // occurrences within what is left: done naively that rescans the text for every
      // fragment, and a prompt of many short pieces between special tokens took seconds.
      if (vocab === 'qwen') {
        it('splits special tokens out of 130k characters in linear time, as llama.cpp does', () => {
          const specials = QWEN_SPECIAL_TOKENS;
          let text = '';
          for (let i = 0; text.length < 128_000; i++) text += `<|object_ref_start|><p><b>${i}</b></p>`;
          text += specials.join(' ');  // every other special token occurs only at the very end
          for (const special of [true, false]) {
            const t0 = performance.now();
            const a = Array.from(ours.encode(text, { parseSpecial: special }));
            const ms = performance.now() - t0;
            assert.ok(ms < 1000, `parseSpecial ${special}: ${text.length} characters took ${ms.toFixed(0)} ms`);
            assert.deepEqual(a, Array.from(theirs.tokenize(text, special)), `parseSpecial ${special}`);
          }
        });
      }

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

  it('keeps its cache of merged words small, however long the words', async () => {
    // 100 different runs of 130k punctuation characters: each is one pre-tokenizer word (and,
    // in the small vocabulary, 130k tokens). Measured in a fresh process, whose peak resident
    // set is this work's alone.
    const model = await ensureModel({ preset: 'tiny', type: 'q4_0', vocab: 'small' });
    const script = `
      const addon = require(${JSON.stringify(path.resolve(__dirname, '..', 'engine', 'native-addon.ts'))}).loadNativeAddon();
      const tok = addon.tokenizerFromModel(${JSON.stringify(model)});
      const marks = '~^*&%$#@!?;:|/<>-_=+.,';
      const before = addon.peakRssBytes();
      for (let i = 0; i < 100; i++) tok.encode((marks[i % 20] + marks[Math.floor(i / 20)]).repeat(65_250));
      process.stdout.write(String((addon.peakRssBytes() - before) / 2 ** 20));`;
    const growthMiB = Number(execFileSync(process.execPath, ['--import=tsx', '-e', script], { encoding: 'utf8' }));
    // Measured: 12 MiB (merging one such word needs that while it runs); 82 MiB when every
    // word was kept.
    assert.ok(growthMiB < 40, `grew by ${growthMiB.toFixed(0)} MiB`);
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
