// A plain float64 SmallThinker forward pass written from SPEC §2, slow and obvious, sharing
// no code with native/: the judge of the engine's exactness. The file is read with
// node-llama-cpp's GGUF reader (an independent implementation) and dequantised here.
import fs from 'node:fs';
import { bf16ToF32, dequantizeQ4_0, dequantizeQ8_0, f16ToF32 } from '../generator/quantize';

interface TensorRef { dims: number[]; type: number; fileOffset: number }

function bytesOf(type: number, n: number): number {
  switch (type) {
    case 0: return n * 4;
    case 1: case 30: return n * 2;
    case 8: return (n / 32) * 34;
    case 2: return (n / 32) * 18;
    default: throw new Error(`reference: unsupported ggml type ${type}`);
  }
}

function dequantize(buf: Buffer, type: number, n: number): Float64Array {
  const out = new Float64Array(n);
  switch (type) {
    case 0: for (let i = 0; i < n; i++) out[i] = buf.readFloatLE(i * 4); break;
    case 1: for (let i = 0; i < n; i++) out[i] = f16ToF32(buf.readUInt16LE(i * 2)); break;
    case 30: for (let i = 0; i < n; i++) out[i] = bf16ToF32(buf.readUInt16LE(i * 2)); break;
    case 8: out.set(dequantizeQ8_0(buf, n)); break;
    case 2: out.set(dequantizeQ4_0(buf, n)); break;
    default: throw new Error(`reference: unsupported ggml type ${type}`);
  }
  return out;
}

export interface ReferenceHParams {
  nLayer: number; nEmbd: number; nHead: number; nHeadKv: number; headDim: number; nExpert: number;
  nExpertUsed: number; nFf: number; ropeBase: number; eps: number; softmaxGating: boolean; swa: boolean; nVocab: number;
}

interface Layer {
  attnNorm: Float64Array; wq: Float64Array; wk: Float64Array; wv: Float64Array; wo: Float64Array;
  ffnNorm: Float64Array; router: Float64Array; gate: Float64Array; up: Float64Array; down: Float64Array;
}

const WINDOW = 4096;

/** y = W·x for W stored as `rows` rows of `cols` (a ggml tensor with ne = [cols, rows]). */
function matvec(w: Float64Array, x: Float64Array, rows: number, cols: number, offset = 0): Float64Array {
  const y = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    const base = offset + r * cols;
    for (let c = 0; c < cols; c++) s += w[base + c] * x[c];
    y[r] = s;
  }
  return y;
}

function rmsNorm(x: Float64Array, w: Float64Array, eps: number): Float64Array {
  let ss = 0;
  for (const v of x) ss += v * v;
  const scale = 1 / Math.sqrt(ss / x.length + eps);
  return x.map((v, i) => v * scale * w[i]);
}

export class ReferenceModel {
  private keys: Float64Array[][] = [];    // [layer][pos] -> KV·hd (after RoPE where it applies)
  private values: Float64Array[][] = [];
  private constructor(readonly hp: ReferenceHParams, private readonly embd: Float64Array, private readonly outNorm: Float64Array,
    private readonly output: Float64Array, private readonly layers: Layer[], private readonly transposedDown: boolean) {
    this.reset();
  }

  static async load(path: string): Promise<ReferenceModel> {
    const { readGgufFileInfo } = await import('node-llama-cpp');
    const info = await readGgufFileInfo(path, { readTensorInfo: true });
    const st = (info.metadata as unknown as { smallthinker: Record<string, unknown> }).smallthinker as {
      block_count: number; embedding_length: number; expert_count: number; expert_used_count: number; expert_feed_forward_length: number;
      expert_gating_func?: number; rope: { freq_base: number };
      attention: { head_count: number; head_count_kv: number; key_length: number; layer_norm_rms_epsilon: number; sliding_window?: number };
    };
    const tensors = new Map<string, TensorRef>();
    for (const t of info.fullTensorInfo ?? info.tensorInfo ?? []) {
      tensors.set(t.name, { dims: t.dimensions.map(Number), type: t.ggmlType, fileOffset: Number(t.fileOffset) });
    }
    const fd = fs.openSync(path, 'r');
    const read = (name: string): Float64Array => {
      const t = tensors.get(name);
      if (!t) throw new Error(`reference: missing tensor ${name}`);
      const n = t.dims.reduce((a, b) => a * b, 1);
      const buf = Buffer.alloc(bytesOf(t.type, n));
      fs.readSync(fd, buf, 0, buf.length, t.fileOffset);
      return dequantize(buf, t.type, n);
    };
    const E = st.embedding_length;
    const embdDims = tensors.get('token_embd.weight')!.dims;
    const hp: ReferenceHParams = {
      nLayer: st.block_count, nEmbd: E, nHead: st.attention.head_count, nHeadKv: st.attention.head_count_kv,
      headDim: st.attention.key_length, nExpert: st.expert_count, nExpertUsed: st.expert_used_count,
      nFf: st.expert_feed_forward_length, ropeBase: st.rope.freq_base, eps: st.attention.layer_norm_rms_epsilon,
      softmaxGating: st.expert_gating_func === 1, swa: st.attention.sliding_window !== undefined, nVocab: embdDims[1],
    };
    const layers: Layer[] = [];
    for (let l = 0; l < hp.nLayer; l++) {
      const b = `blk.${l}.`;
      layers.push({
        attnNorm: read(`${b}attn_norm.weight`), wq: read(`${b}attn_q.weight`), wk: read(`${b}attn_k.weight`), wv: read(`${b}attn_v.weight`),
        wo: read(`${b}attn_output.weight`), ffnNorm: read(`${b}ffn_norm.weight`), router: read(`${b}ffn_gate_inp.weight`),
        gate: read(`${b}ffn_gate_exps.weight`), up: read(`${b}ffn_up_exps.weight`), down: read(`${b}ffn_down_exps.weight`),
      });
    }
    const embd = read('token_embd.weight');
    const output = tensors.has('output.weight') ? read('output.weight') : embd;
    const transposed = tensors.get('blk.0.ffn_down_exps.weight')!.dims[0] === E && E !== hp.nFf;
    const model = new ReferenceModel(hp, embd, read('output_norm.weight'), output, layers, transposed);
    fs.closeSync(fd);
    return model;
  }

  reset(): void {
    this.keys = this.layers.map(() => []);
    this.values = this.layers.map(() => []);
  }

  get nPast(): number { return this.keys[0]?.length ?? 0; }

  /** Evaluates one token at the next position; returns its logits. */
  step(token: number): Float64Array {
    const { hp } = this;
    const E = hp.nEmbd, hd = hp.headDim, pos = this.nPast;
    let x = this.embd.slice(token * E, (token + 1) * E);
    for (let l = 0; l < hp.nLayer; l++) {
      const L = this.layers[l];
      const useRope = !hp.swa || l % 4 !== 0;
      const sliding = hp.swa && l % 4 !== 0;
      // 1. router logits from the raw residual
      const routerLogits = matvec(L.router, x, hp.nExpert, E);
      // 2. attention
      const a = rmsNorm(x, L.attnNorm, hp.eps);
      const q = matvec(L.wq, a, hp.nHead * hd, E);
      const k = matvec(L.wk, a, hp.nHeadKv * hd, E);
      const v = matvec(L.wv, a, hp.nHeadKv * hd, E);
      if (useRope) {
        for (let h = 0; h < hp.nHead; h++) rope(q, h * hd, hd, pos, hp.ropeBase);
        for (let h = 0; h < hp.nHeadKv; h++) rope(k, h * hd, hd, pos, hp.ropeBase);
      }
      this.keys[l].push(k);
      this.values[l].push(v);
      const first = sliding ? Math.max(0, pos - WINDOW + 1) : 0;
      const o = new Float64Array(hp.nHead * hd);
      const group = hp.nHead / hp.nHeadKv;
      for (let h = 0; h < hp.nHead; h++) {
        const kvh = Math.floor(h / group);
        const scores = new Float64Array(pos - first + 1);
        let m = -Infinity;
        for (let t = first; t <= pos; t++) {
          const kt = this.keys[l][t];
          let s = 0;
          for (let i = 0; i < hd; i++) s += q[h * hd + i] * kt[kvh * hd + i];
          scores[t - first] = s / Math.sqrt(hd);
          m = Math.max(m, scores[t - first]);
        }
        let sum = 0;
        for (let i = 0; i < scores.length; i++) sum += scores[i] = Math.exp(scores[i] - m);
        for (let t = first; t <= pos; t++) {
          const w = scores[t - first] / sum;
          const vt = this.values[l][t];
          for (let i = 0; i < hd; i++) o[h * hd + i] += w * vt[kvh * hd + i];
        }
      }
      const attnOut = matvec(L.wo, o, E, hp.nHead * hd);
      const x1 = x.map((val, i) => val + attnOut[i]);
      // 3. mixture of experts
      const f = rmsNorm(x1, L.ffnNorm, hp.eps);
      const order = [...routerLogits.keys()].sort((i, j) => routerLogits[j] - routerLogits[i] || i - j).slice(0, hp.nExpertUsed);
      let weights = hp.softmaxGating
        ? order.map((e) => Math.exp(routerLogits[e] - routerLogits[order[0]]))
        : order.map((e) => 1 / (1 + Math.exp(-routerLogits[e])));
      const wsum = weights.reduce((p, c) => p + c, 0);
      weights = weights.map((w) => w / wsum);
      const y = new Float64Array(E);
      const F = hp.nFf;
      order.forEach((e, j) => {
        const g = matvec(L.gate, f, F, E, e * F * E);
        const u = matvec(L.up, f, F, E, e * F * E);
        const act = g.map((gv, i) => Math.max(gv, 0) * u[i]);
        const out = this.transposedDown ? downTransposed(L.down, act, E, F, e) : matvec(L.down, act, E, F, e * E * F);
        for (let i = 0; i < E; i++) y[i] += weights[j] * out[i];
      });
      x = x1.map((val, i) => val + y[i]);
    }
    const xn = rmsNorm(x, this.outNorm, this.hp.eps);
    return matvec(this.output, xn, this.hp.nVocab, E);
  }

  /** Teacher-forced logits at every position of `tokens` (continuing from the current state). */
  forward(tokens: number[]): Float64Array[] {
    return tokens.map((t) => this.step(t));
  }

  generateGreedy(prompt: number[], n: number): number[] {
    return this.greedyFrom(this.forward(prompt).pop()!, n);
  }

  /** Greedy tokens continuing from the current state, whose last logits are `logits`. */
  greedyFrom(logits: Float64Array, n: number): number[] {
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let k = 1; k < logits.length; k++) if (logits[k] > logits[best]) best = k;
      out.push(best);
      if (i + 1 < n) logits = this.step(best);
    }
    return out;
  }
}

/** NEOX rotary embedding on one head: dimension i pairs with i + d/2. */
export function rope(v: Float64Array, offset: number, d: number, pos: number, base: number): void {
  for (let i = 0; i < d / 2; i++) {
    const theta = pos * Math.pow(base, (-2 * i) / d);
    const c = Math.cos(theta), s = Math.sin(theta);
    const a = v[offset + i], b = v[offset + i + d / 2];
    v[offset + i] = a * c - b * s;
    v[offset + i + d / 2] = a * s + b * c;
  }
}

/** Transposed down (F rows of E per expert): y = Σ_i act_i · row_i. */
function downTransposed(down: Float64Array, act: Float64Array, E: number, F: number, e: number): Float64Array {
  const y = new Float64Array(E);
  for (let i = 0; i < F; i++) {
    if (act[i] === 0) continue;
    const base = e * F * E + i * E;
    for (let c = 0; c < E; c++) y[c] += act[i] * down[base + c];
  }
  return y;
}
