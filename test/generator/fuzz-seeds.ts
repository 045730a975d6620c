// Writes the small seed files of the GGUF fuzzer (native/fuzz/corpus/, committed): a complete
// micro SmallThinker model, a header without its data, and a non-SmallThinker GGUF.
//   npx tsx test/generator/fuzz-seeds.ts
import fs from 'node:fs';
import path from 'node:path';
import { buildGgufBuffer, GgufType, str, u32, f32, strArray, i32Array, type GgufSpec, type TensorSpec } from './gguf-writer';
import { encode } from './quantize';
import { Rng } from './random';

const out = path.resolve(__dirname, '..', '..', 'native', 'fuzz', 'corpus');

function tensor(name: string, dims: number[], type: 'f32' | 'q4_0', rng: Rng): TensorSpec {
  const data = encode(type, rng.fillNormal(new Float32Array(dims.reduce((a, b) => a * b, 1)), 0.2));
  return { name, dims, type: type === 'f32' ? 0 : 2, nbytes: data.length, write: (emit) => emit(data) };
}

function microModel(): GgufSpec {
  const rng = new Rng(42);
  const E = 32, F = 32, N = 2, V = 8;
  const tokens = ['a', 'b', 'c', 'Ġ', 'ab', '<|endoftext|>', '<|im_start|>', '<|im_end|>'];
  const tensors = [
    tensor('token_embd.weight', [E, V], 'q4_0', rng),
    tensor('output_norm.weight', [E], 'f32', rng),
    tensor('blk.0.attn_norm.weight', [E], 'f32', rng),
    tensor('blk.0.attn_q.weight', [E, 32], 'q4_0', rng),
    tensor('blk.0.attn_k.weight', [E, 32], 'q4_0', rng),
    tensor('blk.0.attn_v.weight', [E, 32], 'q4_0', rng),
    tensor('blk.0.attn_output.weight', [32, E], 'q4_0', rng),
    tensor('blk.0.ffn_norm.weight', [E], 'f32', rng),
    tensor('blk.0.ffn_gate_inp.weight', [E, N], 'f32', rng),
    tensor('blk.0.ffn_gate_exps.weight', [E, F, N], 'q4_0', rng),
    tensor('blk.0.ffn_up_exps.weight', [E, F, N], 'q4_0', rng),
    tensor('blk.0.ffn_down_exps.weight', [F, E, N], 'q4_0', rng),
  ];
  const p = 'smallthinker.';
  return {
    metadata: [
      ['general.architecture', str('smallthinker')], ['general.alignment', u32(32)],
      [`${p}block_count`, u32(1)], [`${p}context_length`, u32(64)], [`${p}embedding_length`, u32(E)],
      [`${p}expert_feed_forward_length`, u32(F)], [`${p}attention.head_count`, u32(1)], [`${p}attention.head_count_kv`, u32(1)],
      [`${p}attention.key_length`, u32(32)], [`${p}attention.value_length`, u32(32)], [`${p}rope.freq_base`, f32(1.5e6)],
      [`${p}attention.layer_norm_rms_epsilon`, f32(1e-6)], [`${p}expert_count`, u32(N)], [`${p}expert_used_count`, u32(1)],
      [`${p}expert_gating_func`, u32(2)], [`${p}attention.sliding_window`, u32(4096)],
      ['tokenizer.ggml.model', str('gpt2')], ['tokenizer.ggml.pre', str('qwen2')],
      ['tokenizer.ggml.tokens', strArray(tokens)], ['tokenizer.ggml.token_type', i32Array([1, 1, 1, 1, 1, 3, 3, 3])],
      ['tokenizer.ggml.merges', strArray(['a b'])], ['tokenizer.ggml.bos_token_id', u32(5)], ['tokenizer.ggml.eos_token_id', u32(7)],
      ['test.nested', { type: GgufType.ARRAY, elementType: GgufType.ARRAY, value: [{ type: GgufType.ARRAY, elementType: GgufType.INT64, value: [1n, 2n] }] }],
    ],
    tensors,
  };
}

fs.mkdirSync(out, { recursive: true });
const micro = buildGgufBuffer(microModel());
fs.writeFileSync(path.join(out, 'seed-micro-model.bin'), micro.bytes);
fs.writeFileSync(path.join(out, 'seed-header-only.bin'), micro.bytes.subarray(0, micro.layout.dataStart));
const other = buildGgufBuffer({ version: 2, metadata: [['general.architecture', str('llama')], ['x.f', f32(1)]], tensors: [tensor('w', [32, 2], 'f32', new Rng(1))] });
fs.writeFileSync(path.join(out, 'seed-other-arch-v2.bin'), other.bytes);
process.stdout.write(`seeds written to ${out}\n`);
