// `smallthinker inspect --json` agrees with node-llama-cpp's independent GGUF reader, on
// generated files of several types, both flavours and both GGUF versions.
import assert from 'node:assert/strict';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { buildModelSpec, ensureModel, type ModelOptions } from './generator/index';
import { writeGgufFile } from './generator/gguf-writer';
import { DEFAULTS, tensorTypes } from './generator/model';
import { tempDir } from './support/temp-dir';

const cli = path.resolve(__dirname, '..', 'dist', 'cli.js');
const TYPE_NAMES: Record<number, string> = {
  0: 'F32', 1: 'F16', 2: 'Q4_0', 3: 'Q4_1', 6: 'Q5_0', 7: 'Q5_1', 8: 'Q8_0', 10: 'Q2_K', 11: 'Q3_K', 12: 'Q4_K', 13: 'Q5_K', 14: 'Q6_K',
  20: 'IQ4_NL', 23: 'IQ4_XS', 30: 'BF16',
};

function inspectJson(file: string) {
  return JSON.parse(execFileSync(process.execPath, [cli, 'inspect', file, '--json'], { encoding: 'utf8' }));
}

describe('inspect --json against node-llama-cpp\'s GGUF reader', function () {
  this.timeout(60_000);
  const cases: Array<Partial<ModelOptions> & Pick<ModelOptions, 'preset'>> = [
    { preset: 'tiny', type: 'f32' },
    { preset: 'tiny', type: 'f16', tiedEmbeddings: true },
    { preset: 'tiny', type: 'bf16', ggufVersion: 2 },
    { preset: 'tiny-swa', type: 'q8_0' },
    { preset: 'tiny-swa', type: 'q4_0', flavour: 'powerinfer' },
    { preset: 'tiny-256', type: 'q4_k_m' },
  ];
  for (const c of cases) {
    it(`${c.preset} ${c.type} ${c.flavour ?? 'upstream'}${c.tiedEmbeddings ? ' tied' : ''}${c.ggufVersion === 2 ? ' v2' : ''}`, async () => {
      const file = await ensureModel(c);
      const ours = inspectJson(file);
      const { readGgufFileInfo } = await import('node-llama-cpp');
      const theirs = await readGgufFileInfo(file, { readTensorInfo: true });
      interface StKeys {
        block_count: number; embedding_length: number; expert_count: number; expert_used_count: number;
        expert_feed_forward_length: number; context_length: number; expert_gating_func?: number; rope: { freq_base: number };
        attention: { head_count: number; head_count_kv: number; key_length: number; layer_norm_rms_epsilon: number; sliding_window?: number };
      }
      const st = (theirs.metadata as unknown as { smallthinker: StKeys }).smallthinker;

      assert.equal(ours.arch, theirs.metadata.general.architecture);
      assert.equal(ours.gguf_version, theirs.version);
      assert.equal(ours.flavour, c.flavour ?? 'upstream');
      assert.equal(ours.hparams.n_layer, st.block_count);
      assert.equal(ours.hparams.n_embd, st.embedding_length);
      assert.equal(ours.hparams.n_head, st.attention.head_count);
      assert.equal(ours.hparams.n_head_kv, st.attention.head_count_kv);
      assert.equal(ours.hparams.head_dim, st.attention.key_length);
      assert.equal(ours.hparams.n_expert, st.expert_count);
      assert.equal(ours.hparams.n_expert_used, st.expert_used_count);
      assert.equal(ours.hparams.n_ff_exp, st.expert_feed_forward_length);
      assert.equal(ours.hparams.n_ctx_train, st.context_length);
      assert.equal(ours.hparams.rope_freq_base, st.rope.freq_base);
      assert.equal(ours.hparams.rms_eps, st.attention.layer_norm_rms_epsilon);
      assert.equal(ours.hparams.sliding_window, st.attention.sliding_window ? 4096 : 0);
      assert.equal(ours.hparams.gating, st.expert_gating_func === 1 ? 'softmax' : 'sigmoid');
      assert.equal(ours.hparams.n_vocab, theirs.metadata.tokenizer.ggml.tokens.length);
      assert.equal(ours.hparams.tied_embeddings, !!c.tiedEmbeddings);

      const tensors = theirs.fullTensorInfo ?? theirs.tensorInfo ?? [];
      assert.equal(ours.tensors.length, tensors.length);
      ours.tensors.forEach((t: { name: string; shape: number[]; type: string; offset: number }, i: number) => {
        const ref = tensors[i];
        assert.equal(t.name, ref.name);
        assert.deepEqual(t.shape, ref.dimensions.map(Number));
        assert.equal(t.type, TYPE_NAMES[ref.ggmlType]);
        assert.equal(t.offset, Number(ref.fileOffset));
      });
      assert.ok(ours.estimated_bytes > ours.file_bytes, 'the estimate includes the KV cache');
    });
  }

  it('names the mix of a llama-quantize preset: each type with its tensors by role', async () => {
    const file = await ensureModel({ preset: 'tiny-256', type: 'q4_k_m' });
    const report = inspectJson(file);
    const want: Record<string, Record<string, number>> = {};
    for (const [name, type] of tensorTypes({ preset: 'tiny-256', type: 'q4_k_m' })) {
      const role = name.replace(/^blk\.\d+\./, '').replace(/\.weight$/, '');
      const t = type.toUpperCase();
      want[t] ??= {};
      want[t][role] = (want[t][role] ?? 0) + 1;
    }
    assert.deepEqual(report.weight_types, want);
    assert.equal(Object.keys(report.weight_types)[0], 'Q4_K', 'the largest share first');
    const text = execFileSync(process.execPath, [cli, 'inspect', file], { encoding: 'utf8' });
    assert.match(text, /weight types\s+Q4_K: token_embd, attn_q ×4, /);
    assert.match(text, /\n\s+Q6_K: output, ffn_down_exps ×2/);
  });

  it('accepts a powerinfer file\'s lm_head_profiler.weight and says what it is and that it is not used', () => {
    const spec = buildModelSpec({ ...DEFAULTS, preset: 'tiny', type: 'q4_0', flavour: 'powerinfer' });
    const E = 128;
    spec.tensors.push({ name: 'lm_head_profiler.weight', dims: [E, 1024], type: 0, nbytes: E * 1024 * 4, write: (emit) => emit(Buffer.alloc(E * 1024 * 4)) });
    const file = path.join(tempDir('st-profiler-'), 'profiler.powerinfer.gguf');
    writeGgufFile(file, spec);
    const report = inspectJson(file);
    assert.deepEqual(report.unused_tensors.map((t: { name: string }) => t.name), ['lm_head_profiler.weight']);
    assert.match(execFileSync(process.execPath, [cli, 'inspect', file], { encoding: 'utf8' }), /not used\s+lm_head_profiler\.weight: PowerInfer's predictor/);
    const out = JSON.parse(execFileSync(process.execPath, [cli, 'eval', '--model', file, '--prompt', 'function f', '--top', '1'], { encoding: 'utf8' }));
    assert.equal(out.positions.length, out.prompt_tokens.length, 'the file runs');
  });

  (process.env.SMALLTHINKER_SLOW ? it : it.skip)('answers on the 2.41 GB 4b Q4_0 file in well under a second (no full read)', async function () {
    this.timeout(300_000);
    const file = await ensureModel({ preset: '4b', type: 'q4_0', vocab: 'qwen' });
    const t0 = performance.now();
    const report = inspectJson(file);
    const ms = performance.now() - t0;
    assert.equal(report.tensors.length, 323);
    assert.ok(Math.abs(report.file_bytes - 2.41e9) < 0.01e9, `file is ${report.file_bytes} bytes`);
    assert.ok(ms < 1000, `inspect took ${ms.toFixed(0)} ms (including node start-up)`);
  });
});
