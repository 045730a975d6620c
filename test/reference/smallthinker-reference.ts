// A float64 SmallThinker forward pass, written from docs/model.md and nothing else: slow, plain and
// meant to be read top to bottom. It is the judge of the C++ engine's exactness, so it shares
// no code with native/ (the file header is parsed by node-llama-cpp, the data dequantised in
// ./gguf-tensors.ts).
//
// Conventions. Every weight is dequantised to a Float64Array in the file's storage order. A ggml
// tensor with ne = [in, out] is `out` rows of `in` contiguous values, so y = W·x is
// y[o] = Σ_i W[o·in + i]·x[i]. A stacked expert tensor with ne = [in, out, N] holds expert e's
// [in, out] matrix at element offset e·in·out.
import { GgufTensorFile } from './gguf-tensors';

/** SWA layers see exactly this many keys (the query's own position included), whatever the file says. */
export const SLIDING_WINDOW = 4096;

// =============================================================================================
// 1. Hyper-parameters

export interface HParams {
  nLayer: number;
  nEmbd: number;      // E
  nHead: number;      // H query heads
  nHeadKv: number;    // KV heads (GQA: query head h reads KV head floor(h / (H / KV)))
  headDim: number;    // from attention.key_length; Q width H·headDim may differ from E
  nExpert: number;    // N
  nExpertUsed: number;
  nFf: number;        // F, the expert FFN width
  nVocab: number;
  ropeBase: number;
  eps: number;
  gating: 'softmax' | 'sigmoid';
  /** `attention.sliding_window` present (its value is ignored): l % 4 == 0 global NoPE, others RoPE + 4096 window. */
  slidingWindow: boolean;
}

function readHParams(file: GgufTensorFile): HParams {
  const arch = file.meta('general.architecture');
  if (arch !== 'smallthinker') throw new Error(`reference: general.architecture is ${String(arch)}, not smallthinker`);
  const num = (key: string, fallback?: number): number => {
    const v = file.meta(`smallthinker.${key}`);
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== 'number' && typeof v !== 'bigint') throw new Error(`reference: missing smallthinker.${key}`);
    return Number(v);
  };
  const nEmbd = num('embedding_length');
  const nHead = num('attention.head_count');
  const headDim = num('attention.key_length', nEmbd / nHead);
  if (num('attention.value_length', headDim) !== headDim) throw new Error('reference: value_length ≠ key_length is not supported');
  const nHeadKv = num('attention.head_count_kv');
  if (nHead % nHeadKv !== 0 || headDim % 2 !== 0) throw new Error(`reference: unsupported heads ${nHead}/${nHeadKv} × ${headDim}`);
  const gatingFunc = file.meta('smallthinker.expert_gating_func');
  let gating: HParams['gating'];
  if (gatingFunc === undefined) gating = 'sigmoid';              // docs/model.md: absent → sigmoid
  else if (Number(gatingFunc) === 1) gating = 'softmax';
  else if (Number(gatingFunc) === 2) gating = 'sigmoid';
  else throw new Error(`reference: expert_gating_func ${String(gatingFunc)} is neither 1 (softmax) nor 2 (sigmoid)`);
  return {
    nLayer: num('block_count'),
    nEmbd,
    nHead,
    nHeadKv,
    headDim,
    nExpert: num('expert_count'),
    nExpertUsed: num('expert_used_count'),
    nFf: file.meta('smallthinker.expert_feed_forward_length') !== undefined ? num('expert_feed_forward_length') : num('feed_forward_length'),
    nVocab: file.info('token_embd.weight').dims[1],
    ropeBase: num('rope.freq_base'),
    eps: num('attention.layer_norm_rms_epsilon'),
    gating,
    slidingWindow: file.meta('smallthinker.attention.sliding_window') !== undefined,
  };
}

/** Layers with l % 4 == 0 are NoPE when the file has a sliding window; otherwise every layer uses RoPE. */
export function layerUsesRope(hp: HParams, layer: number): boolean {
  return !hp.slidingWindow || layer % 4 !== 0;
}

export function layerIsSliding(hp: HParams, layer: number): boolean {
  return hp.slidingWindow && layer % 4 !== 0;
}

/** The key positions a query at `pos` attends to in `layer`: first..pos inclusive. */
export function firstVisibleKey(hp: HParams, layer: number, pos: number): number {
  return layerIsSliding(hp, layer) ? Math.max(0, pos - (SLIDING_WINDOW - 1)) : 0;
}

// =============================================================================================
// 2. Weights

export interface LayerWeights {
  attnNorm: Float64Array;   // [E]
  wq: Float64Array;         // ne [E, H·hd]
  wk: Float64Array;         // ne [E, KV·hd]
  wv: Float64Array;         // ne [E, KV·hd]
  wo: Float64Array;         // ne [H·hd, E]
  ffnNorm: Float64Array;    // [E]
  router: Float64Array;     // ne [E, N]
  gateExps: Float64Array;   // ne [E, F, N]
  upExps: Float64Array;     // ne [E, F, N]
  downExps: Float64Array;   // ne [F, E, N] upstream, or [E, F, N] when downTransposed
}

export interface Weights {
  tokenEmbd: Float64Array;  // ne [E, V]
  outputNorm: Float64Array; // [E]
  output: Float64Array;     // ne [E, V]: output.weight, or token_embd.weight when the file has none
  layers: LayerWeights[];
  /** The powerinfer flavour: ffn_down_exps stored as F rows of E per expert (one row per neuron). */
  downTransposed: boolean;
}

const MAX_WEIGHT_BYTES = 4 * 2 ** 30;

function sameDims(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function loadWeights(file: GgufTensorFile, hp: HParams): Weights {
  const { nEmbd: E, nHead: H, nHeadKv: KV, headDim: hd, nExpert: N, nFf: F, nVocab: V } = hp;
  const read = (name: string, dims: number[]): Float64Array => {
    const got = file.info(name).dims;
    if (!sameDims(got, dims)) throw new Error(`reference: ${name} has ne [${got}], expected [${dims}]`);
    return file.read(name);
  };
  // Every weight is held as float64: fine for the tiny test models, not for the published ones.
  let elements = 0;
  for (const t of file.tensors.values()) elements += t.elements;
  if (elements * 8 > MAX_WEIGHT_BYTES) {
    throw new Error(`reference: ${(elements * 8 / 2 ** 30).toFixed(1)} GiB of float64 weights is too big for the reference`);
  }
  // Flavour, told by the shape of ffn_down_exps: [F, E, N] upstream, [E, F, N] powerinfer.
  // When E == F the two are the same shape; then the file is read as upstream.
  const downDims = file.info('blk.0.ffn_down_exps.weight').dims;
  const downTransposed = !sameDims(downDims, [F, E, N]) && sameDims(downDims, [E, F, N]);
  const layers: LayerWeights[] = [];
  for (let l = 0; l < hp.nLayer; l++) {
    const p = `blk.${l}.`;
    layers.push({
      attnNorm: read(`${p}attn_norm.weight`, [E]),
      wq: read(`${p}attn_q.weight`, [E, H * hd]),
      wk: read(`${p}attn_k.weight`, [E, KV * hd]),
      wv: read(`${p}attn_v.weight`, [E, KV * hd]),
      wo: read(`${p}attn_output.weight`, [H * hd, E]),
      ffnNorm: read(`${p}ffn_norm.weight`, [E]),
      router: read(`${p}ffn_gate_inp.weight`, [E, N]),
      gateExps: read(`${p}ffn_gate_exps.weight`, [E, F, N]),
      upExps: read(`${p}ffn_up_exps.weight`, [E, F, N]),
      downExps: read(`${p}ffn_down_exps.weight`, downTransposed ? [E, F, N] : [F, E, N]),
    });
  }
  const tokenEmbd = read('token_embd.weight', [E, V]);
  return {
    tokenEmbd,
    outputNorm: read('output_norm.weight', [E]),
    output: file.has('output.weight') ? read('output.weight', [E, V]) : tokenEmbd,
    layers,
    downTransposed,
  };
}

// =============================================================================================
// 3. The operations

/**
 * Σ_i a[aAt + i]·b[bAt + i] over i < n. Four interleaved partial sums, added at the end, only
 * for speed (one running sum waits on every add); the result is still a float64 sum.
 */
export function dot(a: Float64Array, aAt: number, b: Float64Array, bAt: number, n: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += a[aAt + i] * b[bAt + i];
    s1 += a[aAt + i + 1] * b[bAt + i + 1];
    s2 += a[aAt + i + 2] * b[bAt + i + 2];
    s3 += a[aAt + i + 3] * b[bAt + i + 3];
  }
  for (; i < n; i++) s0 += a[aAt + i] * b[bAt + i];
  return (s0 + s1) + (s2 + s3);
}

/** y[yAt + i] += s·x[xAt + i] over i < n (unrolled by four, for speed only). */
export function addScaled(y: Float64Array, yAt: number, s: number, x: Float64Array, xAt: number, n: number): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    y[yAt + i] += s * x[xAt + i];
    y[yAt + i + 1] += s * x[xAt + i + 1];
    y[yAt + i + 2] += s * x[xAt + i + 2];
    y[yAt + i + 3] += s * x[xAt + i + 3];
  }
  for (; i < n; i++) y[yAt + i] += s * x[xAt + i];
}

/** y = W·x for the `rows` × `cols` matrix stored row-major at `w[offset ..]`. */
export function matVec(w: Float64Array, offset: number, rows: number, cols: number, x: Float64Array): Float64Array {
  const y = new Float64Array(rows);
  for (let r = 0; r < rows; r++) y[r] = dot(w, offset + r * cols, x, 0, cols);
  return y;
}

/** w ⊙ x / √(mean(x²) + eps). */
export function rmsNorm(x: Float64Array, w: Float64Array, eps: number): Float64Array {
  let sumSq = 0;
  for (let i = 0; i < x.length; i++) sumSq += x[i] * x[i];
  const scale = 1 / Math.sqrt(sumSq / x.length + eps);
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = w[i] * (x[i] * scale);
  return y;
}

/**
 * RoPE, NEOX style (rotate-half), in place on the head of `d` values at v[offset ..]: value i
 * pairs with value i + d/2 and the pair turns by the angle pos·θ_i, θ_i = base^(−2i/d).
 */
export function ropeNeox(v: Float64Array, offset: number, d: number, pos: number, base: number): void {
  const half = d / 2;
  for (let i = 0; i < half; i++) {
    const angle = pos * Math.pow(base, (-2 * i) / d);
    const cos = Math.cos(angle), sin = Math.sin(angle);
    const a = v[offset + i], b = v[offset + i + half];
    v[offset + i] = a * cos - b * sin;
    v[offset + i + half] = a * sin + b * cos;
  }
}

export function softmax(x: Float64Array): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < x.length; i++) max = Math.max(max, x[i]);
  const y = new Float64Array(x.length);
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += (y[i] = Math.exp(x[i] - max));
  for (let i = 0; i < x.length; i++) y[i] /= sum;
  return y;
}

const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));

/** Indices of the k largest values, largest first (ties: lower index first). */
export function topK(x: Float64Array, k: number): number[] {
  const order = Array.from(x.keys());
  order.sort((a, b) => x[b] - x[a] || a - b);
  return order.slice(0, k);
}

export function argmax(x: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

// =============================================================================================
// 4. The KV cache: per layer, every position's K (after RoPE where the layer has it) and V,
// back to back in one growing array. SWA layers keep everything too; the window is applied
// when attending, so the cache needs no ring logic.

class LayerKv {
  keys = new Float64Array(0);
  values = new Float64Array(0);
  length = 0;
  constructor(readonly width: number) {}

  push(k: Float64Array, v: Float64Array): void {
    if ((this.length + 1) * this.width > this.keys.length) {
      const capacity = Math.max(64, 2 * this.length) * this.width;
      const keys = new Float64Array(capacity), values = new Float64Array(capacity);
      keys.set(this.keys);
      values.set(this.values);
      this.keys = keys;
      this.values = values;
    }
    this.keys.set(k, this.length * this.width);
    this.values.set(v, this.length * this.width);
    this.length++;
  }
}

// =============================================================================================
// 5. The model

export class ReferenceModel {
  private cache: LayerKv[] = [];

  constructor(readonly hp: HParams, readonly weights: Weights) {
    this.reset();
  }

  static async load(path: string): Promise<ReferenceModel> {
    const file = await GgufTensorFile.open(path);
    try {
      const hp = readHParams(file);
      return new ReferenceModel(hp, loadWeights(file, hp));
    } finally {
      file.close();
    }
  }

  /** Forgets every evaluated token. */
  reset(): void {
    const width = this.hp.nHeadKv * this.hp.headDim;
    this.cache = this.weights.layers.map(() => new LayerKv(width));
  }

  /** How many tokens have been evaluated since the last reset. */
  get nPast(): number {
    return this.cache[0]?.length ?? 0;
  }

  /** Teacher-forced logits for every position of `tokens`, from an empty context. */
  forward(tokens: number[]): Float64Array[] {
    this.reset();
    return this.evaluate(tokens);
  }

  /** Greedy continuation of `promptTokens` (from an empty context): `n` new tokens. */
  generateGreedy(promptTokens: number[], n: number): number[] {
    if (promptTokens.length === 0) throw new Error('reference: empty prompt');
    const logits = this.forward(promptTokens);
    return this.greedyFrom(logits[logits.length - 1], n);
  }

  /** Greedy tokens continuing the current context, whose last logits are `logits`. */
  greedyFrom(logits: Float64Array, n: number): number[] {
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      out.push(argmax(logits));
      if (i + 1 < n) logits = this.step(out[i]);
    }
    return out;
  }

  /** Evaluates `token` at the next position and returns the logits there. */
  step(token: number): Float64Array {
    return this.evaluate([token])[0];
  }

  /**
   * Evaluates `tokens` at the next positions (nPast, nPast + 1, …) and returns the logits at
   * each. The tokens go through the model together, layer by layer, as a batch does in
   * llama.cpp. Every position's sums are exactly those of feeding the tokens one at a time (a
   * query at p reads only keys ≤ p); the batch only keeps one layer's cache in the CPU caches
   * while its queries read it, which is a little faster for long prompts.
   */
  evaluate(tokens: number[]): Float64Array[] {
    const { hp, weights } = this;
    const E = hp.nEmbd;
    for (const t of tokens) {
      if (!Number.isInteger(t) || t < 0 || t >= hp.nVocab) throw new Error(`reference: token ${t} out of range`);
    }
    const start = this.nPast;
    let xs: Float64Array[] = tokens.map((t) => weights.tokenEmbd.slice(t * E, (t + 1) * E));   // no embedding scale
    for (let l = 0; l < hp.nLayer; l++) xs = this.layer(l, xs, start);
    return xs.map((x) => matVec(weights.output, 0, hp.nVocab, E, rmsNorm(x, weights.outputNorm, hp.eps)));
  }

  /**
   * One transformer block for the tokens at positions start, start + 1, …: xs are the
   * residuals entering layer l; returns the ones leaving it.
   */
  private layer(l: number, xs: Float64Array[], start: number): Float64Array[] {
    const { hp } = this;
    const w = this.weights.layers[l];
    const E = hp.nEmbd, H = hp.nHead, KV = hp.nHeadKv, hd = hp.headDim;
    const kv = this.cache[l];

    // (1) Router logits, from the raw residual before any norm.
    const routerLogits = xs.map((x) => matVec(w.router, 0, hp.nExpert, E, x));

    // (2) Attention: q, k, v of every position (RoPE at its position unless the layer is NoPE),
    // the keys and values into the cache, then each query over the keys it may see.
    const qs = xs.map((x, j) => {
      const pos = start + j;
      const a = rmsNorm(x, w.attnNorm, hp.eps);
      const q = matVec(w.wq, 0, H * hd, E, a);
      const k = matVec(w.wk, 0, KV * hd, E, a);
      const v = matVec(w.wv, 0, KV * hd, E, a);
      if (layerUsesRope(hp, l)) {
        for (let h = 0; h < H; h++) ropeNeox(q, h * hd, hd, pos, hp.ropeBase);
        for (let h = 0; h < KV; h++) ropeNeox(k, h * hd, hd, pos, hp.ropeBase);
      }
      kv.push(k, v);
      return q;
    });
    return xs.map((x, j) => {
      const pos = start + j;
      const o = attention(qs[j], kv, firstVisibleKey(hp, l, pos), pos, H, KV, hd);
      const attnOut = matVec(w.wo, 0, E, H * hd, o);
      const x1 = new Float64Array(E);
      for (let i = 0; i < E; i++) x1[i] = x[i] + attnOut[i];

      // (3) Mixture of experts on the normalised post-attention stream, routed by (1).
      const f = rmsNorm(x1, w.ffnNorm, hp.eps);
      const y = moe(hp, w, routerLogits[j], f, this.weights.downTransposed);
      const out = new Float64Array(E);
      for (let i = 0; i < E; i++) out[i] = x1[i] + y[i];
      return out;
    });
  }
}

/**
 * Causal GQA attention of one query position over keys first..last, scale 1/√hd: query head h
 * reads KV head floor(h / (H / KV)).
 */
function attention(q: Float64Array, kv: LayerKv, first: number, last: number, H: number, KV: number, hd: number): Float64Array {
  const { keys, values, width } = kv;
  const o = new Float64Array(H * hd);
  const scale = 1 / Math.sqrt(hd);
  const scores = new Float64Array(last - first + 1);
  for (let h = 0; h < H; h++) {
    const kvHead = Math.floor(h / (H / KV));
    // softmax over t of q_h · k_t / √hd
    for (let t = first; t <= last; t++) scores[t - first] = dot(q, h * hd, keys, t * width + kvHead * hd, hd) * scale;
    const p = softmax(scores);
    // o_h = Σ_t p_t · v_t
    for (let t = first; t <= last; t++) addScaled(o, h * hd, p[t - first], values, t * width + kvHead * hd, hd);
  }
  return o;
}

/** y = Σ_j w_j · Down_j(relu(Gate_j·f) ⊙ Up_j·f) over the top-k experts j. */
function moe(hp: HParams, w: LayerWeights, routerLogits: Float64Array, f: Float64Array, downTransposed: boolean): Float64Array {
  const E = hp.nEmbd, F = hp.nFf;
  // Gating over all experts, then the top k by the logits, then renormalise to sum 1.
  const probs = hp.gating === 'softmax' ? softmax(routerLogits) : routerLogits.map(sigmoid);
  const selected = topK(routerLogits, hp.nExpertUsed);
  let total = 0;
  for (const e of selected) total += probs[e];

  const y = new Float64Array(E);
  for (const e of selected) {
    const weight = probs[e] / total;
    const gate = matVec(w.gateExps, e * E * F, F, E, f);
    const up = matVec(w.upExps, e * E * F, F, E, f);
    const act = new Float64Array(F);
    for (let i = 0; i < F; i++) act[i] = Math.max(0, gate[i]) * up[i];
    const down = downTransposed ? downFromNeuronRows(w.downExps, e * F * E, E, F, act) : matVec(w.downExps, e * F * E, E, F, act);
    for (let i = 0; i < E; i++) y[i] += weight * down[i];
  }
  return y;
}

/**
 * Down projection from the transposed layout (F rows of E: row i holds neuron i's output
 * weights): y[o] = Σ_i D[i·E + o]·act[i]. Output o's weights are gathered into one row first,
 * so the sums are the very ones matVec does on the upstream layout (bit-identical results).
 */
function downFromNeuronRows(d: Float64Array, offset: number, E: number, F: number, act: Float64Array): Float64Array {
  const y = new Float64Array(E);
  const row = new Float64Array(F);
  for (let o = 0; o < E; o++) {
    for (let i = 0; i < F; i++) row[i] = d[offset + i * E + o];
    y[o] = dot(row, 0, act, 0, F);
  }
  return y;
}
