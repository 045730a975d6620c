// Builds the GGUF spec of a synthetic SmallThinker model: docs/model.md's keys, tensor names and
// shapes, with seeded weights. Every tensor draws from its own stream (seed + name), so the
// upstream and powerinfer flavours of one seed hold the same weights, and so do the files of
// one seed at every type (each quantises the same floats). Which ggml type each tensor gets:
// file-types.ts.
import { bool, f32, str, strArray, u32, i32Array, type GgufSpec, type GgufValue, type TensorSpec } from './gguf-writer';
import { BLOCK, GGML_TYPE_ID, WEIGHT_TYPES, bytesFor, decode, encode, f32ToBf16, f32ToF16, type WeightType } from './quantize';
import { LLAMA_FTYPE, tensorType, type FileType } from './file-types';
import { PRESETS, isBig, type PresetName, type Shape } from './presets';
import { CHATML_TEMPLATE, qwenVocabulary, smallVocabulary, type Vocabulary } from './vocab';
import { Rng, hashString } from './random';

export interface ModelOptions {
  preset: PresetName;
  /** f32, f16, bf16, q8_0, q4_0: every matrix at that type; else a llama-quantize mix (file-types.ts). */
  type: FileType;
  vocab: 'small' | 'qwen';
  flavour: 'upstream' | 'powerinfer';
  seed: number;
  tiedEmbeddings?: boolean;
  gating?: 'sigmoid' | 'softmax' | 'absent';
  ggufVersion?: 2 | 3;
  /**
   * Routing and sparsity of the big presets' random weights (absent: the original random
   * blocks, whose weights all lean negative: every token ends up in the same k experts from
   * layer 2 on and nearly no neuron is ReLU-zero). 'uniform': zero-mean weights, so routing is
   * spread evenly (the expert cache's worst case) and about half the neurons are zero.
   * 'realistic': as 'uniform' plus a bias channel (below) that gives each layer a hot set of
   * 2k experts picked by ~45 % of tokens each while the rest share the remainder, and makes
   * relu(gate) zero for about three quarters of the neurons, like the released models.
   * 'smooth': the same bias channel, but each layer's experts get biases that fall off
   * smoothly with their rank (smoothRoutingBiases, the ranks a per-layer permutation):
   * Zipf-like popularity, a layer's busiest expert picked by ~75 % of tokens, the next ones by
   * ~50, 38, 30, 25 % and a long tail, with no hot set for a cache to pin (routing.test.ts).
   * Built into Q4_0 blocks; at another type the Q4_0 file's weights are quantised again to
   * that type's mix (which takes minutes: every block is quantised).
   */
  routing?: 'uniform' | 'realistic' | 'smooth';
  /**
   * A tiny Qwen-vocabulary model that always answers with a known text (SCRIPTS): every layer's
   * output is zero, so the last hidden state is the current token's embedding, and the head
   * maps each token of the script to the next (the first follows any other token, through a
   * constant embedding element). A fixture for end-to-end tests of what the extension does
   * with a known answer (a code block to Apply); the weights of a real model play no part.
   */
  script?: keyof typeof SCRIPTS;
  /**
   * A small Qwen-vocabulary preset whose token embedding has trained-looking and untrained
   * rows, for the check behind the `auto` completion format (engine/fim-check.ts): used
   * tokens' rows have RMS ~1, the padding rows ([PAD…], token type 5) stay at an
   * initialisation scale of 0.02, and the three FIM tokens get the padding rows' scale
   * ('untrained') or the used tokens' ('trained'). Absent: every row alike.
   */
  fimRows?: 'trained' | 'untrained';
}

/** The scripted answers, as Qwen token ids (each id once, so the current token decides the next). */
export const SCRIPTS = {
  // "```\nreturn x ** 3;\n```" then <|im_end|>: "``" "`\n" "return" " x" " **" " " "3" ";\n" "```"
  'code-answer': [13874, 3989, 689, 856, 3070, 220, 18, 280, 73594, 151645],
  // "let a = 1;\nreturn b;" then <|im_end|>: a two-line completion wherever the cursor is.
  'two-lines': [1149, 264, 284, 220, 16, 280, 689, 293, 26, 151645],
} as const;

export const DEFAULTS: Omit<ModelOptions, 'preset'> = { type: 'f32', vocab: 'small', flavour: 'upstream', seed: 1 };

const CHUNK_ROWS_BYTES = 4 << 20;

/** Dense float weights, generated row block by row block and encoded as `type`. */
function floatTensor(name: string, dims: number[], type: WeightType, seed: number, std: number, mean = 0,
  generateAll?: (rng: Rng) => Float32Array): TensorSpec {
  const n = dims.reduce((a, b) => a * b, 1);
  return {
    name, dims, type: GGML_TYPE_ID[type], nbytes: bytesFor(type, n),
    write: (emit) => {
      const rng = new Rng(seed ^ hashString(name));
      if (generateAll) {
        emit(encode(type, generateAll(rng)));
        return;
      }
      const cols = dims[0];
      const rowsPerChunk = Math.max(1, Math.floor(CHUNK_ROWS_BYTES / (cols * 4)));
      const totalRows = n / cols;
      for (let r = 0; r < totalRows; r += rowsPerChunk) {
        const rows = Math.min(rowsPerChunk, totalRows - r);
        emit(encode(type, rng.fillNormal(new Float32Array(rows * cols), std, mean)));
      }
    },
  };
}

/** Rewrites parts of a tensor's bytes as they stream out; `offset` is the chunk's offset in the tensor. */
type Patch = (chunk: Buffer, offset: number) => void;

/**
 * Random quantised blocks with a sane scale, streamed from a per-type pool at a per-tensor
 * offset: fast enough for the 2.4 GB 4b file, and every expert matrix still differs.
 * `balanced`: Q4_0 nibbles uniform on 1..15 (values −7..7, mean 0) instead of 0..15 (mean −½).
 */
const pools = new Map<string, Buffer>();
const POOL_BYTES = 8 << 20;

/** The original pool of the five original types: random bytes with a random scale per block. */
function randomBytesPool(type: WeightType, seed: number, std: number, balanced: boolean): Buffer {
  const blockBytes = BLOCK[type].bytes;
  const rng = new Rng(seed ^ 0x5eed);
  const blocks = Math.floor(POOL_BYTES / blockBytes);
  const pool = Buffer.from(rng.bytes(new Uint8Array(blocks * blockBytes)));
  for (let b = 0; b < blocks; b++) {
    if (type === 'q4_0') pool.writeUInt16LE(f32ToF16((std / 4.6) * (0.75 + 0.5 * rng.next())), b * 18);
    else if (type === 'f32') pool.writeFloatLE(std * rng.normal(), b * 4);
    else {
      const v = std * rng.normal();
      pool.writeUInt16LE(type === 'f16' ? f32ToF16(v) : f32ToBf16(v), b * 2);
    }
    if (balanced && type === 'q4_0') {
      for (let j = 2; j < 18; j++) pool[b * 18 + j] = (1 + Math.floor(rng.next() * 15)) | ((1 + Math.floor(rng.next() * 15)) << 4);
    }
  }
  return pool;
}

/**
 * The pool of the other types: values distributed as the Q4_0 pool's (per 32 values a scale
 * of about std/4.6, codes uniform on 0..15 around 8), quantised to the type (valid blocks, the
 * right scale). Plain normal weights make a random 4b model so sensitive that our own scalar
 * and AVX-512 builds agree on only ~60 % of top-1 tokens; these statistics, those of the Q4_0
 * files, keep both engines' rounding differences from deciding the output. Q8_0 included:
 * random bytes (codes uniform on −128..127, so no offset) gave a 4b Q8_0 file on which our
 * AVX-512 and AVX2 builds agreed on 69.6 % of top-1 tokens and llama.cpp with us on 63 %, with
 * the top-2 gaps no smaller than the Q4_0 file's: differences grew through the layers. Built
 * from this pool, 100 % for both (generator version 2).
 */
function quantisedPool(type: WeightType, seed: number, std: number): Buffer {
  const { elements, bytes } = BLOCK[type];
  const rng = new Rng((seed ^ 0x5eed ^ hashString(type)) >>> 0);
  const blocks = Math.floor(POOL_BYTES / bytes);
  const pool = Buffer.alloc(blocks * bytes);
  const chunkBlocks = 4096;
  for (let b = 0; b < blocks; b += chunkBlocks) {
    const n = Math.min(chunkBlocks, blocks - b);
    const x = new Float32Array(n * elements);
    for (let i = 0; i < x.length; i += 32) {
      const d = (std / 4.6) * (0.75 + 0.5 * rng.next());
      for (let j = 0; j < 32; j++) x[i + j] = d * (Math.floor(rng.next() * 16) - 8);
    }
    encode(type, x).copy(pool, b * bytes);
  }
  return pool;
}

const ORIGINAL_POOL_TYPES: ReadonlySet<WeightType> = new Set<WeightType>(['f32', 'f16', 'bf16', 'q4_0']);

function randomBlocksTensor(name: string, dims: number[], type: WeightType, seed: number, std: number,
  balanced = false, patch?: Patch): TensorSpec {
  const n = dims.reduce((a, b) => a * b, 1);
  const nbytes = bytesFor(type, n);
  return {
    name, dims, type: GGML_TYPE_ID[type], nbytes,
    write: (emit) => {
      const key = `${type}:${std}:${seed}:${balanced}`;
      let pool = pools.get(key);
      const blockBytes = BLOCK[type].bytes;
      if (!pool) {
        pool = ORIGINAL_POOL_TYPES.has(type) ? randomBytesPool(type, seed, std, balanced) : quantisedPool(type, seed, std);
        pools.set(key, pool);
      }
      let offset = (hashString(name) % Math.floor(pool.length / blockBytes)) * blockBytes;
      let left = nbytes;
      let written = 0;
      while (left > 0) {
        const take = Math.min(left, pool.length - offset);
        if (patch) {
          const chunk = Buffer.from(pool.subarray(offset, offset + take));
          patch(chunk, written);
          emit(chunk);
        } else {
          emit(pool.subarray(offset, offset + take));
        }
        left -= take;
        written += take;
        offset = 0;
      }
    },
  };
}

// The bias channel of the 'realistic' option. Element 0 of the residual is a constant: every
// token embedding starts with ~1 there, and nothing writes it afterwards (row 0 of every
// attention output and expert down matrix is zero). Reading that element, each router row
// adds a per-expert bias (hot experts +2, relative to router noise of about 1), and each
// gate row a negative bias, so most relu(gate) are 0.
const Q4_0_BLOCK = 18;
const HOT_BIAS = 2.0;
/** ffn_norm[0]: how much of the constant the expert input carries (×1/RMS of the residual). */
const GATE_CHANNEL_GAIN = 6;
const ATTENTION_DAMPING = 0.25;

/**
 * The 'smooth' option's router biases for one layer (expert e's bias at index e): the expert of
 * rank i (a random permutation) gets −c·ln(i+1)^0.8 with c in [SMOOTH_FALL_OFF] for this layer.
 * The router logits' noise in the generated 4b is about 0.65 (against biases of this shape at
 * c = 1, the engine measured 95, 70, 50, 37, 27 % for the first ranks); with c ≈ 0.65 the
 * picks of 4 of 32 experts fall off like the description of issue 16's smooth file: about
 * 75 % for a layer's busiest expert, then 50, 38, 30, 25 % and a long tail.
 */
export const SMOOTH_FALL_OFF = [0.6, 0.72] as const;
export function smoothRoutingBiases(nExpert: number, rng: Rng): Float32Array {
  const c = SMOOTH_FALL_OFF[0] + (SMOOTH_FALL_OFF[1] - SMOOTH_FALL_OFF[0]) * rng.next();
  const order = [...Array(nExpert).keys()];
  for (let i = nExpert - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const bias = new Float32Array(nExpert);
  order.forEach((e, rank) => { bias[e] = -c * Math.pow(Math.log(rank + 1), 0.8); });
  return bias;
}

/** For every Q4_0 row of `rowBytes` in the chunk, calls fn(chunk, rowStart) on rows that start in it. */
function forEachRow(chunk: Buffer, offset: number, rowBytes: number, fn: (rowStart: number) => void): void {
  for (let r = Math.ceil(offset / rowBytes) * rowBytes; r < offset + chunk.length; r += rowBytes) fn(r - offset);
}
/** Sets element 0 of the Q4_0 block at `at` to the nibble q (value q − 8 times the block scale). */
function setFirstNibble(chunk: Buffer, at: number, q: number): void {
  if (at + 2 < chunk.length && at >= 0) chunk[at + 2] = (chunk[at + 2] & 0xf0) | q;
}

/** The residual's typical RMS before layer l of the zero-mean model (it grows as each layer adds to it). */
const residualScale = (l: number) => Math.sqrt(1 + l / 4);

export function buildModelSpec(opts: ModelOptions): GgufSpec {
  const shape = PRESETS[opts.preset];
  const big = isBig(opts.preset);
  if (!(opts.type in LLAMA_FTYPE)) throw new Error(`unknown type ${opts.type}`);
  if (opts.preset === '21b' && opts.type === 'f32') throw new Error('the 21b preset is not generated at f32 (it would take 84 GB; use f16, bf16, q8_0 or q4_0)');
  const vocab: Vocabulary = opts.vocab === 'qwen' ? qwenVocabulary() : smallVocabulary();
  const V = vocab.tokens.length;
  const { nEmbd: E, nHead: H, nHeadKv: KVH, headDim: HD, nExpert: N, nFfExp: F } = shape;
  const seed = opts.seed >>> 0;
  if (opts.routing && !big) throw new Error('the routing options are for the 4b and 21b presets');
  if (opts.routing && opts.type !== 'q4_0') return requantised(buildModelSpec({ ...opts, type: 'q4_0' }), opts);
  // The bias channel (above) serves both routings that shape the popularity of experts.
  const biasChannel = opts.routing === 'realistic' || opts.routing === 'smooth';
  /** The tensor's ggml type in this file (its layer from the name). */
  const typeOf = (name: string, cols: number): WeightType =>
    tensorType(opts.type, name, cols, Number(/^blk\.(\d+)\./.exec(name)?.[1] ?? -1), shape.nLayer,
      { nExpert: N, nHead: H, nHeadKv: KVH, tiedEmbeddings: opts.tiedEmbeddings });
  const matrix = (name: string, dims: number[], std: number, patch?: Patch): TensorSpec =>
    big ? randomBlocksTensor(name, dims, typeOf(name, dims[0]), seed, std, opts.routing !== undefined, biasChannel ? patch : undefined)
      : floatTensor(name, dims, typeOf(name, dims[0]), seed, std);
  const f32Tensor = (name: string, dims: number[], std: number, mean = 0, generateAll?: (rng: Rng) => Float32Array) =>
    floatTensor(name, dims, 'f32', seed, std, mean, generateAll);
  const rowBytes = (cols: number) => (cols / 32) * Q4_0_BLOCK;
  // Row 0 of a matrix with `cols` columns per row and `rows` rows per expert: all zero blocks.
  const zeroRow0 = (cols: number, rows: number): Patch => (chunk, offset) => {
    const matrixBytes = rows * rowBytes(cols);
    for (let m = Math.floor(offset / matrixBytes) * matrixBytes; m < offset + chunk.length; m += matrixBytes) {
      for (let at = Math.max(m, offset); at < Math.min(m + rowBytes(cols), offset + chunk.length); at++) chunk[at - offset] = 0;
    }
  };
  const biasedNorm = (l: number) => (rng: Rng) => {
    const w = rng.fillNormal(new Float32Array(E), 0.1, 1);
    w[0] = GATE_CHANNEL_GAIN * residualScale(l);  // the expert input carries ~GAIN of the constant
    return w;
  };
  const biasedRouter = (l: number) => (rng: Rng) => {
    // Router noise of ~1 whatever the residual's scale (the engine sees about 0.65); the
    // experts' biases via element 0: a hot set at +HOT_BIAS, or the smooth fall-off.
    const w = rng.fillNormal(new Float32Array(E * N), 1 / (Math.sqrt(E) * residualScale(l)));
    if (opts.routing === 'smooth') {
      const bias = smoothRoutingBiases(N, rng);
      for (let e = 0; e < N; e++) w[e * E] = bias[e];
      return w;
    }
    const hot = new Set<number>();
    while (hot.size < Math.min(N, 2 * shape.nExpertUsed)) hot.add(Math.floor(rng.next() * N));
    for (let e = 0; e < N; e++) w[e * E] = hot.has(e) ? HOT_BIAS : 0;
    return w;
  };

  if (opts.script) return scripted(opts, shape, vocab, typeOf, f32Tensor, metadataOf);

  const tensors: TensorSpec[] = [];
  if (opts.fimRows) {
    if (big || opts.vocab !== 'qwen') throw new Error('fimRows is for the small presets with the Qwen vocabulary');
    tensors.push(floatTensor('token_embd.weight', [E, V], typeOf('token_embd.weight', E), seed, 1, 0,
      (rng) => embeddingWithUntrainedRows(rng, E, vocab, opts.fimRows!)));
  } else {
    // The constant element 0: q = 15 (value 7) with scale 1/7 in every row's first block.
    tensors.push(matrix('token_embd.weight', [E, V], 1, (chunk, offset) => forEachRow(chunk, offset, rowBytes(E), (at) => {
      if (at >= 0 && at + 2 < chunk.length) {
        chunk.writeUInt16LE(f32ToF16(1 / 7), at);
        setFirstNibble(chunk, at, 15);
      }
    })));
  }
  tensors.push(f32Tensor('output_norm.weight', [E], 0.1, 1));
  if (!opts.tiedEmbeddings) tensors.push(matrix('output.weight', [E, V], 3 / Math.sqrt(E)));
  for (let l = 0; l < shape.nLayer; l++) {
    const b = `blk.${l}.`;
    tensors.push(f32Tensor(`${b}attn_norm.weight`, [E], 0.1, 1));
    tensors.push(matrix(`${b}attn_q.weight`, [E, H * HD], 1 / Math.sqrt(E)));
    tensors.push(matrix(`${b}attn_k.weight`, [E, KVH * HD], 1 / Math.sqrt(E)));
    tensors.push(matrix(`${b}attn_v.weight`, [E, KVH * HD], 1 / Math.sqrt(E)));
    // With the routing options the attention output is scaled down: a random model's attention
    // averages its values over the context, which adds nearly the same vector to every token's
    // residual in every layer; left at full strength that shared part steers all tokens of the
    // deep layers to the same experts.
    tensors.push(matrix(`${b}attn_output.weight`, [H * HD, E], (opts.routing ? ATTENTION_DAMPING : 1) / Math.sqrt(H * HD),
      zeroRow0(H * HD, E)));
    tensors.push(f32Tensor(`${b}ffn_norm.weight`, [E], 0.1, 1, biasChannel ? biasedNorm(l) : undefined));
    tensors.push(f32Tensor(`${b}ffn_gate_inp.weight`, [E, N], 1 / Math.sqrt(E), 0, biasChannel ? biasedRouter(l) : undefined));
    // Gate element 0 = −8 × scale: with the constant input, a negative bias on every neuron.
    tensors.push(matrix(`${b}ffn_gate_exps.weight`, [E, F, N], 1 / Math.sqrt(E),
      (chunk, offset) => forEachRow(chunk, offset, rowBytes(E), (at) => setFirstNibble(chunk, at, 0))));
    tensors.push(matrix(`${b}ffn_up_exps.weight`, [E, F, N], 1 / Math.sqrt(E)));
    const downStd = 1 / Math.sqrt(F);
    if (opts.flavour === 'upstream' || big) {
      const t = opts.flavour === 'upstream'
        ? matrix(`${b}ffn_down_exps.weight`, [F, E, N], downStd, zeroRow0(F, E))
        : matrix(`${b}ffn_down_exps.weight`, [E, F, N], downStd,
          (chunk, offset) => forEachRow(chunk, offset, rowBytes(E), (at) => setFirstNibble(chunk, at, 8)));
      tensors.push(t);
    } else {
      // Transposed: the same weights as the upstream file of this seed, one row per neuron.
      const upstreamName = `${b}ffn_down_exps.weight`;
      tensors.push(floatTensor(upstreamName, [E, F, N], typeOf(upstreamName, E), seed, downStd, 0, (rng) => {
        const up = rng.fillNormal(new Float32Array(F * E * N), downStd);  // N experts × E rows × F
        const t = new Float32Array(F * E * N);                              // N experts × F rows × E
        for (let e = 0; e < N; e++) {
          for (let r = 0; r < E; r++) for (let c = 0; c < F; c++) t[e * E * F + c * E + r] = up[e * E * F + r * F + c];
        }
        return t;
      }));
    }
  }

  return { version: opts.ggufVersion ?? 3, alignment: 32, metadata: metadataOf(), tensors };

  function metadataOf(): Array<[string, GgufValue]> {
  const p = 'smallthinker.';
  const gating = opts.gating ?? shape.gating;
  const metadata: Array<[string, GgufValue]> = [
    ['general.architecture', str('smallthinker')],
    ['general.name', str(`synthetic-${opts.preset}-${opts.type}-${opts.vocab}-${opts.flavour}-seed${seed}`)],
    ['general.alignment', u32(32)],
    ['general.file_type', u32(LLAMA_FTYPE[opts.type])],
    ['general.quantization_version', u32(2)],
    [`${p}block_count`, u32(shape.nLayer)],
    [`${p}context_length`, u32(shape.contextLength)],
    [`${p}embedding_length`, u32(E)],
    [`${p}feed_forward_length`, u32(F)],
    [`${p}expert_feed_forward_length`, u32(F)],
    [`${p}attention.head_count`, u32(H)],
    [`${p}attention.head_count_kv`, u32(KVH)],
    [`${p}attention.key_length`, u32(HD)],
    [`${p}attention.value_length`, u32(HD)],
    [`${p}rope.freq_base`, f32(shape.ropeFreqBase)],
    [`${p}attention.layer_norm_rms_epsilon`, f32(shape.rmsEps)],
    [`${p}expert_count`, u32(N)],
    [`${p}expert_used_count`, u32(shape.nExpertUsed)],
  ];
  if (gating !== 'absent' && opts.flavour === 'upstream') metadata.push([`${p}expert_gating_func`, u32(gating === 'softmax' ? 1 : 2)]);
  if (gating !== 'absent' && opts.flavour === 'powerinfer' && gating === 'softmax') metadata.push([`${p}expert_gating_func`, u32(1)]);
  if (shape.slidingWindow) metadata.push([`${p}attention.sliding_window`, u32(4096)]);
  metadata.push(
    ['tokenizer.ggml.model', str('gpt2')],
    ['tokenizer.ggml.pre', str('qwen2')],
    ['tokenizer.ggml.tokens', strArray(vocab.tokens)],
    ['tokenizer.ggml.token_type', i32Array(vocab.tokenTypes)],
    ['tokenizer.ggml.merges', strArray(vocab.merges)],
    ['tokenizer.ggml.bos_token_id', u32(vocab.bos)],
    ['tokenizer.ggml.eos_token_id', u32(vocab.eos)],
    ['tokenizer.ggml.padding_token_id', u32(vocab.pad)],
    ['tokenizer.ggml.add_bos_token', bool(false)],
    ['tokenizer.chat_template', str(CHATML_TEMPLATE)],
  );
  return metadata;
  }
}

/** Initialisation scale of the rows no text trains (ModelOptions.fimRows). */
const UNTRAINED_ROW_STD = 0.02;

/** token_embd for ModelOptions.fimRows: used rows at std 1, padding (and untrained FIM) rows at UNTRAINED_ROW_STD. */
function embeddingWithUntrainedRows(rng: Rng, E: number, vocab: Vocabulary, fimRows: 'trained' | 'untrained'): Float32Array {
  const w = rng.fillNormal(new Float32Array(E * vocab.tokens.length), 1);
  const fim = new Set(['<|fim_prefix|>', '<|fim_suffix|>', '<|fim_middle|>']);
  vocab.tokens.forEach((token, id) => {
    if (vocab.tokenTypes[id] === 5 || (fimRows === 'untrained' && fim.has(token))) {
      for (let j = 0; j < E; j++) w[id * E + j] *= UNTRAINED_ROW_STD;
    }
  });
  return w;
}

/** The model of `opts.script` (see ModelOptions.script): the same tensors, most of them zero. */
function scripted(opts: ModelOptions, shape: Shape, vocab: Vocabulary, typeOf: (name: string, cols: number) => WeightType,
  f32Tensor: (name: string, dims: number[], std: number, mean?: number, generateAll?: (rng: Rng) => Float32Array) => TensorSpec,
  metadataOf: () => Array<[string, GgufValue]>): GgufSpec {
  if (opts.preset !== 'tiny' || opts.vocab !== 'qwen' || opts.flavour !== 'upstream' || opts.tiedEmbeddings) {
    throw new Error('a scripted model is a tiny upstream one with the Qwen vocabulary and its own head');
  }
  const script = SCRIPTS[opts.script!];
  const V = vocab.tokens.length;
  const { nEmbd: E, nHead: H, nHeadKv: KVH, headDim: HD, nExpert: N, nFfExp: F } = shape;
  const seed = opts.seed >>> 0;
  const tensor = (name: string, dims: number[], fill: (rng: Rng) => Float32Array) =>
    floatTensor(name, dims, typeOf(name, dims[0]), seed, 1, 0, fill);
  const zeros = (name: string, dims: number[]) => tensor(name, dims, () => new Float32Array(dims.reduce((a, b) => a * b, 1)));
  const ones = (n: number) => () => new Float32Array(n).fill(1);
  // Embeddings: normal rows with element 0 a constant, the same sign in every token's hidden state.
  const CONSTANT = 3;
  const embedding = (rng: Rng) => {
    const w = rng.fillNormal(new Float32Array(E * V), 1);
    for (let t = 0; t < V; t++) w[t * E] = CONSTANT;
    return w;
  };
  // With every layer's output zero and the output norm's weight one, the head sees the current
  // token's embedding divided by its RMS; a script token's row is a multiple of its
  // predecessor's, and the first one's leans on the constant element.
  const head = (rng: Rng) => {
    const emb = embedding(new Rng(seed ^ hashString('token_embd.weight')));
    const w = rng.fillNormal(new Float32Array(E * V), 1 / Math.sqrt(E));
    // The direction of a token's hidden state without the constant element (shared by all).
    const direction = (t: number) => {
      const x = Array.from(emb.subarray(t * E, (t + 1) * E));
      x[0] = 0;
      const norm = Math.hypot(...x);
      return x.map((v) => v / norm);
    };
    // A transition's logit is about 12·√E (≈ 136) for its own predecessor and ~N(0, 12) for
    // any other token; the first token's 24 × the constant (≈ 70 after the norm) sits between.
    w[script[0] * E] += 24;
    for (let i = 1; i < script.length; i++) {
      const from = direction(script[i - 1]);
      for (let j = 1; j < E; j++) w[script[i] * E + j] += 12 * from[j];
    }
    return w;
  };
  const tensors: TensorSpec[] = [tensor('token_embd.weight', [E, V], embedding), f32Tensor('output_norm.weight', [E], 0, 1, ones(E)),
    tensor('output.weight', [E, V], head)];
  for (let l = 0; l < shape.nLayer; l++) {
    const b = `blk.${l}.`;
    tensors.push(f32Tensor(`${b}attn_norm.weight`, [E], 0.1, 1));
    tensors.push(tensor(`${b}attn_q.weight`, [E, H * HD], (rng) => rng.fillNormal(new Float32Array(E * H * HD), 1 / Math.sqrt(E))));
    tensors.push(tensor(`${b}attn_k.weight`, [E, KVH * HD], (rng) => rng.fillNormal(new Float32Array(E * KVH * HD), 1 / Math.sqrt(E))));
    tensors.push(tensor(`${b}attn_v.weight`, [E, KVH * HD], (rng) => rng.fillNormal(new Float32Array(E * KVH * HD), 1 / Math.sqrt(E))));
    tensors.push(zeros(`${b}attn_output.weight`, [H * HD, E]));
    tensors.push(f32Tensor(`${b}ffn_norm.weight`, [E], 0.1, 1));
    tensors.push(f32Tensor(`${b}ffn_gate_inp.weight`, [E, N], 1 / Math.sqrt(E)));
    tensors.push(tensor(`${b}ffn_gate_exps.weight`, [E, F, N], (rng) => rng.fillNormal(new Float32Array(E * F * N), 1 / Math.sqrt(E))));
    tensors.push(tensor(`${b}ffn_up_exps.weight`, [E, F, N], (rng) => rng.fillNormal(new Float32Array(E * F * N), 1 / Math.sqrt(E))));
    tensors.push(zeros(`${b}ffn_down_exps.weight`, [F, E, N]));
  }
  return { version: opts.ggufVersion ?? 3, alignment: 32, metadata: metadataOf(), tensors };
}

const TYPE_BY_ID = new Map(WEIGHT_TYPES.map((t) => [GGML_TYPE_ID[t], t]));

/**
 * The routing options at another type: the Q4_0 file's weights (whose routing is built into
 * its Q4_0 blocks) decoded and quantised again to the tensor types `opts.type` gives, as
 * llama-quantize would from those weights. Every block is quantised (no pool), so these
 * files take minutes to write.
 */
function requantised(base: GgufSpec, opts: ModelOptions): GgufSpec {
  const shape = PRESETS[opts.preset];
  const metadata = base.metadata.map(([k, v]): [string, GgufValue] =>
    k === 'general.file_type' ? [k, u32(LLAMA_FTYPE[opts.type])]
      : k === 'general.name' ? [k, str(`${(v as { value: string }).value}-as-${opts.type}`)] : [k, v]);
  const tensors = base.tensors.map((t): TensorSpec => {
    const from = TYPE_BY_ID.get(t.type)!;
    if (from === 'f32') return t;
    const to = tensorType(opts.type, t.name, t.dims[0], Number(/^blk\.(\d+)\./.exec(t.name)?.[1] ?? -1), shape.nLayer,
      { nExpert: shape.nExpert, nHead: shape.nHead, nHeadKv: shape.nHeadKv, tiedEmbeddings: opts.tiedEmbeddings });
    if (to === from) return t;
    const cols = t.dims[0];
    const rowsIn = bytesFor(from, cols);
    const n = t.dims.reduce((a, b) => a * b, 1);
    return {
      name: t.name, dims: t.dims, type: GGML_TYPE_ID[to], nbytes: bytesFor(to, n),
      write: (emit) => {
        // Whole rows at a time (a few MB), whatever the chunks the source emits.
        const batchRows = Math.max(1, Math.floor((4 << 20) / rowsIn));
        let pending = Buffer.alloc(0);
        const flush = (final: boolean) => {
          while (pending.length >= (final ? rowsIn : rowsIn * batchRows)) {
            const rows = Math.min(batchRows, Math.floor(pending.length / rowsIn));
            emit(encode(to, decode(from, pending.subarray(0, rows * rowsIn), rows * cols)));
            pending = pending.subarray(rows * rowsIn);
          }
        };
        t.write((chunk) => {
          pending = pending.length ? Buffer.concat([pending, chunk]) : Buffer.from(chunk);
          flush(false);
        });
        flush(true);
      },
    };
  });
  return { ...base, metadata, tensors };
}

/**
 * The type of every tensor (name → ggml type, in file order) of a file with these options
 * (the defaults of ensureModel for the rest): the mix its `type` gives for its preset's shape.
 */
export function tensorTypes(options: Partial<ModelOptions> & Pick<ModelOptions, 'preset'>): Map<string, WeightType> {
  const spec = buildModelSpec({ ...DEFAULTS, ...options });
  return new Map(spec.tensors.map((t) => [t.name, TYPE_BY_ID.get(t.type)!]));
}
