// File types: which ggml type each tensor of a generated file gets.
//
// The five original types (f32, f16, bf16, q8_0, q4_0) are pure: every matrix at that type
// (like llama-quantize --pure), norms and the router F32. Their bytes must not change (cached
// files and hashes depend on them), so they stay that way.
//
// The others are llama-quantize's presets and give each tensor the type llama.cpp's
// llama_tensor_get_type would (src/llama-quant.cpp, checked against the llama.cpp that
// node-llama-cpp 3.21.1 bundles and against ggml-org/llama.cpp master): norms and
// ffn_gate_inp stay F32 (tensor_allows_quantization), the rest start at the preset's default
// type (llama_ftype_get_default_type) and move by tensor category, layer and model shape
// (llama_tensor_get_type_impl), then a row length that is not a whole number of blocks falls
// back to a 32-block type (tensor_type_fallback). Rules for other architectures (Falcon, 70B),
// imatrix-only branches and presets we do not write are left out.
import { BLOCK, type WeightType } from './quantize';

export const FILE_TYPES = ['f32', 'f16', 'bf16', 'q8_0', 'q4_0', 'q4_1', 'q5_0', 'q5_1', 'iq4_nl', 'iq4_xs',
  'q2_k', 'q3_k_s', 'q3_k_m', 'q4_k_s', 'q4_k_m', 'q5_k_s', 'q5_k_m', 'q6_k'] as const;
/** The `type` of a generated file: a ggml type for the pure ones, else a llama-quantize preset. */
export type FileType = typeof FILE_TYPES[number];

export const isFileType = (s: string): s is FileType => (FILE_TYPES as readonly string[]).includes(s);

/** The pure file types (every matrix at the one type). */
export const PURE_FILE_TYPES: ReadonlySet<FileType> = new Set<FileType>(['f32', 'f16', 'bf16', 'q8_0', 'q4_0']);

/** general.file_type: llama.cpp's enum llama_ftype (include/llama.h). */
export const LLAMA_FTYPE: Record<FileType, number> = {
  f32: 0, f16: 1, q4_0: 2, q4_1: 3, q8_0: 7, q5_0: 8, q5_1: 9, q2_k: 10, q3_k_s: 11, q3_k_m: 12,
  q4_k_s: 14, q4_k_m: 15, q5_k_s: 16, q5_k_m: 17, q6_k: 18, iq4_nl: 25, iq4_xs: 30, bf16: 32,
};

/** llama_ftype_get_default_type: the type of every quantised tensor no rule moves. */
const DEFAULT_TYPE: Record<FileType, WeightType> = {
  f32: 'f32', f16: 'f16', bf16: 'bf16', q8_0: 'q8_0', q4_0: 'q4_0', q4_1: 'q4_1', q5_0: 'q5_0', q5_1: 'q5_1',
  iq4_nl: 'iq4_nl', iq4_xs: 'iq4_xs', q2_k: 'q2_k', q3_k_s: 'q3_k', q3_k_m: 'q3_k', q4_k_s: 'q4_k', q4_k_m: 'q4_k',
  q5_k_s: 'q5_k', q5_k_m: 'q5_k', q6_k: 'q6_k',
};

/** tensor_type_fallback: what a 256-block type becomes when a row is not a whole number of super-blocks. */
const FALLBACK: Partial<Record<WeightType, WeightType>> = {
  q2_k: 'q4_0', q3_k: 'q4_0', q4_k: 'q5_0', q5_k: 'q5_1', q6_k: 'q8_0', iq4_xs: 'iq4_nl',
};

/** The hyperparameters the mixes depend on. */
export interface MixShape {
  nExpert: number;
  nHead: number;
  nHeadKv: number;
  /** No output.weight: token_embd.weight is the output matrix too and gets its type. */
  tiedEmbeddings?: boolean;
}

const idiv = (a: number, b: number) => Math.trunc(a / b);

/** llama-quant.cpp's use_more_bits: the first and last eighth of the layers and every third one between. */
export const useMoreBits = (layer: number, nLayer: number) =>
  layer < idiv(nLayer, 8) || layer >= idiv(7 * nLayer, 8) || (layer - idiv(nLayer, 8)) % 3 === 2;

/** tensor_type_fallback for a row of `cols` values. */
export function fallbackType(type: WeightType, cols: number): WeightType {
  if (cols % BLOCK[type].elements === 0) return type;
  const fallback = FALLBACK[type];
  // A type without a fallback here is a 32-block one (or the row is not whole 32-blocks): F16.
  return fallback && cols % BLOCK[fallback].elements === 0 ? fallback : 'f16';
}

/**
 * The ggml type of tensor `name` (row length `cols` = dims[0]; `layer` its block, −1 for
 * token_embd/output; `nLayer` the block count) in a file of `fileType`.
 */
export function tensorType(fileType: FileType, name: string, cols: number, layer: number, nLayer: number,
  shape: MixShape): WeightType {
  // Norms (1-D) and the router are never quantised.
  if (name.includes('_norm.weight') || name.includes('ffn_gate_inp.weight')) return 'f32';
  if (PURE_FILE_TYPES.has(fileType)) return DEFAULT_TYPE[fileType];
  const ft = fileType;
  const base = DEFAULT_TYPE[ft];
  const nGqa = idiv(shape.nHead, shape.nHeadKv);
  // Mixtral's rule, which every 8-expert model gets (SmallThinker included).
  const eightExperts = shape.nExpert === 8;
  let t = base;
  if (name === 'output.weight' || (shape.tiedEmbeddings && name === 'token_embd.weight')) {
    // Q8_0 when the row is not whole blocks of the default type, else Q6_K.
    t = cols % BLOCK[base].elements !== 0 ? 'q8_0' : 'q6_k';
  } else if (name === 'token_embd.weight') {
    // The default type for the presets written here.
  } else if (name.includes('attn_v.weight')) {
    // qs.i_attention_wv counts attn_v tensors in layer order: it is the layer.
    if (ft === 'q2_k') t = nGqa >= 4 ? 'q4_k' : 'q3_k';
    else if (ft === 'q3_k_m') t = layer < 2 ? 'q5_k' : 'q4_k';
    else if ((ft === 'iq4_nl' || ft === 'iq4_xs') && nGqa >= 4) t = 'q5_k';
    else if ((ft === 'q4_k_m' || ft === 'q5_k_m') && useMoreBits(layer, nLayer)) t = 'q6_k';
    else if (ft === 'q4_k_s' && layer < 4) t = 'q5_k';
    if (eightExperts) t = 'q8_0';
  } else if (name.includes('attn_k.weight')) {
    if (eightExperts) t = 'q8_0';
  } else if (name.includes('attn_q.weight')) {
    // Only IQ3 presets move attn_q.
  } else if (name.includes('attn_output.weight')) {
    if (eightExperts) {
      if (['q2_k', 'q3_k_s', 'q3_k_m', 'iq4_nl', 'q4_k_s', 'q4_k_m', 'iq4_xs'].includes(ft)) t = 'q5_k';
    } else if (ft === 'q2_k') t = 'q3_k';
    else if (ft === 'q3_k_m') t = 'q4_k';
  } else if (name.includes('ffn_up') || name.includes('ffn_gate')) {
    // Only IQ3_XS moves these.
  } else if (name.includes('ffn_down')) {
    // An MoE model's layer comes from the name; n_ffn_down is the layer count.
    if (ft === 'q2_k') t = 'q3_k';
    else if (ft === 'q3_k_m') t = layer < idiv(nLayer, 16) ? 'q5_k' : 'q4_k';
    else if (ft === 'q4_k_m') { if (useMoreBits(layer, nLayer)) t = 'q6_k'; }
    else if (layer < idiv(nLayer, 8) && (ft === 'iq4_nl' || ft === 'iq4_xs')) t = 'q5_k';
    else if (ft === 'q5_k_m' && useMoreBits(layer, nLayer)) t = 'q6_k';
    else if (ft === 'q4_k_s' && layer < idiv(nLayer, 8)) t = 'q5_k';
  }
  return fallbackType(t, cols);
}
