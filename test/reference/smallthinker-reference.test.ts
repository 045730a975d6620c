// Checks of the float64 reference itself: its GGUF reading and dequantisation, RoPE, the
// sliding-window edge and the MoE on hand-built inputs, its handling of the file flavours, and
// its agreement with llama.cpp (node-llama-cpp) on generated tiny F32 models.
import assert from 'node:assert/strict';
import { ensureModel, type ModelOptions } from '../generator/index';
import {
  GGML_TYPE_BF16, GGML_TYPE_F16, GGML_TYPE_F32, GGML_TYPE_Q4_0, GGML_TYPE_Q8_0, GgufTensorFile, bf16ToNumber, dequantize,
  halfToNumber,
} from './gguf-tensors';
import {
  ReferenceModel, argmax, firstVisibleKey, layerIsSliding, layerUsesRope, ropeNeox, type HParams, type LayerWeights,
} from './smallthinker-reference';

type GenOptions = Partial<ModelOptions> & Pick<ModelOptions, 'preset'>;

/** A fixed pseudo-random token sequence over the whole vocabulary. */
function promptTokens(n: number, vocab: number, seed: number): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % vocab;
  });
}

function logSoftmax(logits: Float64Array): Float64Array {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  return logits.map((v) => v - lse);
}

// ---------------------------------------------------------------------------------------------
describe('reference: GGUF tensor reading and dequantisation', () => {
  it('converts F16 and BF16 bit patterns exactly', () => {
    assert.equal(halfToNumber(0x3c00), 1);
    assert.equal(halfToNumber(0xc000), -2);
    assert.equal(halfToNumber(0x7bff), 65504);
    assert.equal(halfToNumber(0x0400), 2 ** -14);          // smallest normal
    assert.equal(halfToNumber(0x0001), 2 ** -24);          // smallest subnormal
    assert.equal(halfToNumber(0x03ff), 1023 * 2 ** -24);   // largest subnormal
    assert.equal(halfToNumber(0x3555), 0.333251953125);
    assert.ok(Object.is(halfToNumber(0x8000), -0));
    assert.equal(halfToNumber(0x7c00), Infinity);
    assert.ok(Number.isNaN(halfToNumber(0x7e00)));
    assert.equal(bf16ToNumber(0x3f80), 1);
    assert.equal(bf16ToNumber(0xc040), -3);
    assert.equal(bf16ToNumber(0x3e20), 0.15625);
    assert.equal(bf16ToNumber(0x0001), 2 ** -133);
  });

  it('dequantises hand-built F32, F16, BF16, Q8_0 and Q4_0 data', () => {
    const f32 = Buffer.alloc(8);
    f32.writeFloatLE(1.5, 0);
    f32.writeFloatLE(-0.25, 4);
    assert.deepEqual([...dequantize(GGML_TYPE_F32, f32, 2)], [1.5, -0.25]);
    assert.deepEqual([...dequantize(GGML_TYPE_F16, Buffer.from([0x00, 0x3c, 0x00, 0xc0]), 2)], [1, -2]);
    assert.deepEqual([...dequantize(GGML_TYPE_BF16, Buffer.from([0x80, 0x3f, 0x40, 0xc0]), 2)], [1, -3]);

    // Q8_0: d = 0.5 (fp16 0x3800), q_j = j − 16 (two blocks, the second with d = −2).
    const q8 = Buffer.alloc(68);
    q8.writeUInt16LE(0x3800, 0);
    q8.writeUInt16LE(0xc000, 34);
    for (let j = 0; j < 32; j++) {
      q8.writeInt8(j - 16, 2 + j);
      q8.writeInt8(j === 0 ? -128 : 127, 36 + j);
    }
    const v8 = dequantize(GGML_TYPE_Q8_0, q8, 64);
    for (let j = 0; j < 32; j++) assert.equal(v8[j], 0.5 * (j - 16));
    assert.equal(v8[32], 256);
    assert.equal(v8[33], -254);

    // Q4_0: d = 2 (0x4000); byte j = low nibble j, high nibble 15 − j.
    // Elements 0..15 come from the low nibbles, 16..31 from the high ones; value d·(q − 8).
    const q4 = Buffer.alloc(18);
    q4.writeUInt16LE(0x4000, 0);
    for (let j = 0; j < 16; j++) q4[2 + j] = j | ((15 - j) << 4);
    const v4 = dequantize(GGML_TYPE_Q4_0, q4, 32);
    for (let j = 0; j < 16; j++) {
      assert.equal(v4[j], 2 * (j - 8));
      assert.equal(v4[j + 16], 2 * (15 - j - 8));
    }
  });

  it('reads a generated file: quantised tensors match the F32 file of the same seed within one quantisation step', async function () {
    this.timeout(120_000);
    const f32 = await GgufTensorFile.open(await ensureModel({ preset: 'tiny', type: 'f32' }));
    try {
      const name = 'blk.1.ffn_up_exps.weight';
      const exact = f32.read(name);
      assert.deepEqual(f32.info(name).dims, [128, 64, 8]);
      // A slice (expert 3) is the same as the same part of the whole tensor.
      assert.deepEqual([...f32.readRange(name, 3 * 128 * 64, 128 * 64)], [...exact.subarray(3 * 128 * 64, 4 * 128 * 64)]);
      for (const [type, ggml, stepsPerAmax] of [['q8_0', GGML_TYPE_Q8_0, 127], ['q4_0', GGML_TYPE_Q4_0, 8]] as const) {
        const file = await GgufTensorFile.open(await ensureModel({ preset: 'tiny', type }));
        try {
          assert.equal(file.info(name).type, ggml);
          assert.equal(file.info('blk.1.ffn_gate_inp.weight').type, GGML_TYPE_F32);
          const got = file.read(name);
          for (let b = 0; b < exact.length / 32; b++) {
            let amax = 0;
            for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(exact[32 * b + j]));
            for (let j = 0; j < 32; j++) {
              const err = Math.abs(got[32 * b + j] - exact[32 * b + j]);
              assert.ok(err <= 1.01 * amax / stepsPerAmax, `${type} block ${b} value ${j}: error ${err}, block max ${amax}`);
            }
          }
        } finally {
          file.close();
        }
      }
      for (const [type, ggml, rel] of [['f16', GGML_TYPE_F16, 2 ** -11], ['bf16', GGML_TYPE_BF16, 2 ** -8]] as const) {
        const file = await GgufTensorFile.open(await ensureModel({ preset: 'tiny', type }));
        try {
          assert.equal(file.info(name).type, ggml);
          const got = file.read(name);
          for (let i = 0; i < exact.length; i++) {
            assert.ok(Math.abs(got[i] - exact[i]) <= rel * Math.abs(exact[i]) + 1e-7, `${type} value ${i}: ${got[i]} vs ${exact[i]}`);
          }
        } finally {
          file.close();
        }
      }
    } finally {
      f32.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Hand-built models: every weight chosen so that the expected output can be worked out by hand.

function zeroLayer(hp: HParams): LayerWeights {
  const { nEmbd: E, nHead: H, nHeadKv: KV, headDim: hd, nExpert: N, nFf: F } = hp;
  return {
    attnNorm: new Float64Array(E).fill(1), ffnNorm: new Float64Array(E).fill(1),
    wq: new Float64Array(H * hd * E), wk: new Float64Array(KV * hd * E), wv: new Float64Array(KV * hd * E), wo: new Float64Array(E * H * hd),
    router: new Float64Array(N * E), gateExps: new Float64Array(N * F * E), upExps: new Float64Array(N * F * E), downExps: new Float64Array(N * E * F),
  };
}

describe('reference: RoPE, the sliding window and the MoE on hand-built inputs', () => {
  it('RoPE is NEOX (rotate-half): value i pairs with i + d/2, angle pos·base^(−2i/d)', () => {
    const d = 4, base = 100;
    for (const pos of [0, 1, 7, 4096]) {
      const a = Float64Array.of(1, 0, 0, 0);
      ropeNeox(a, 0, d, pos, base);                   // pair (0, 2), θ_0 = 1
      assert.ok(Math.abs(a[0] - Math.cos(pos)) < 1e-15 && Math.abs(a[2] - Math.sin(pos)) < 1e-15 && a[1] === 0 && a[3] === 0);
      const b = Float64Array.of(0, 1, 0, 0);
      ropeNeox(b, 0, d, pos, base);                   // pair (1, 3), θ_1 = 100^(−1/2) = 0.1
      assert.ok(Math.abs(b[1] - Math.cos(0.1 * pos)) < 1e-15 && Math.abs(b[3] - Math.sin(0.1 * pos)) < 1e-15 && b[0] === 0 && b[2] === 0);
      const c = Float64Array.of(0, 0, 1, 0);
      ropeNeox(c, 0, d, pos, base);                   // the second half turns the other way round
      assert.ok(Math.abs(c[0] + Math.sin(pos)) < 1e-15 && Math.abs(c[2] - Math.cos(pos)) < 1e-15);
    }
    // Position 0 is the identity; only the head at `offset` is touched.
    const v = Float64Array.of(9, 1, 2, 3, 4, 9);
    ropeNeox(v, 1, 4, 0, 1e4);
    assert.deepEqual([...v], [9, 1, 2, 3, 4, 9]);
    // q·k after RoPE depends only on the distance between the positions.
    const q = Float64Array.of(0.3, -1.2, 0.7, 2.0, 0.1, -0.4, 1.5, 0.9), k = Float64Array.of(1.1, 0.2, -0.5, 0.8, -1.3, 0.6, 0.4, -0.7);
    const rotatedDot = (m: number, n: number) => {
      const qr = q.slice(), kr = k.slice();
      ropeNeox(qr, 0, 8, m, 1.5e6);
      ropeNeox(kr, 0, 8, n, 1.5e6);
      return qr.reduce((s, x, i) => s + x * kr[i], 0);
    };
    assert.ok(Math.abs(rotatedDot(10, 3) - rotatedDot(4100, 4093)) < 1e-9);
    assert.ok(Math.abs(rotatedDot(10, 3) - rotatedDot(10, 4)) > 1e-6);
  });

  const baseHp: HParams = {
    nLayer: 2, nEmbd: 4, nHead: 1, nHeadKv: 1, headDim: 4, nExpert: 1, nExpertUsed: 1, nFf: 1, nVocab: 2,
    ropeBase: 1e4, eps: 0, gating: 'sigmoid', slidingWindow: true,
  };

  it('the layer schedule: with a window, l % 4 == 0 is global NoPE, the rest RoPE with 4096 keys p−4095..p', () => {
    const swa = { ...baseHp, nLayer: 8 };
    assert.deepEqual([...Array(8).keys()].map((l) => layerUsesRope(swa, l)), [false, true, true, true, false, true, true, true]);
    assert.deepEqual([...Array(8).keys()].map((l) => layerIsSliding(swa, l)), [false, true, true, true, false, true, true, true]);
    assert.equal(firstVisibleKey(swa, 1, 0), 0);
    assert.equal(firstVisibleKey(swa, 1, 4095), 0);
    assert.equal(firstVisibleKey(swa, 1, 4096), 1);
    assert.equal(firstVisibleKey(swa, 3, 5000), 905);
    assert.equal(firstVisibleKey(swa, 4, 5000), 0);
    const full = { ...baseHp, nLayer: 8, slidingWindow: false };
    assert.ok([...Array(8).keys()].every((l) => layerUsesRope(full, l) && !layerIsSliding(full, l)));
    assert.equal(firstVisibleKey(full, 1, 5000), 0);
  });

  /**
   * One "reader" layer averages, with uniform attention (q = 0), feature 0 of every visible
   * position's normalised input: √2 for a marker token (id 0, embedding [1, 0, 0, 1]) and 0 for
   * a filler (id 1, [0, 0, 0, 1]). W_o writes that average × 4096/√2 into feature 1, so a
   * filler's residual leaves as [0, m, 0, 1], m = markers seen; the other layer is all zeros
   * (an identity). Output row 0 reads feature 1 after the final norm: logit 2m/√(m² + 1).
   */
  function markerModel(hp: HParams, readerLayer: number): ReferenceModel {
    const layers = [zeroLayer(hp), zeroLayer(hp)];
    const r = layers[readerLayer];
    for (let i = 0; i < 4; i++) r.wv[i * 4 + i] = 1;           // v = a
    r.wo[1 * 4 + 0] = 4096 / Math.SQRT2;                       // feature 1 ← o[0]·4096/√2
    const output = new Float64Array(2 * 4);
    output[0 * 4 + 1] = 1;
    return new ReferenceModel(hp, {
      tokenEmbd: Float64Array.of(1, 0, 0, 1, 0, 0, 0, 1), outputNorm: new Float64Array(4).fill(1), output, layers, downTransposed: false,
    });
  }
  const logitFor = (m: number) => (2 * m) / Math.sqrt(m * m + 1);

  it('SWA edge: a query at 4095 still sees position 0, one at 4096 sees exactly 1..4096', function () {
    this.timeout(60_000);
    const tokens = [0, 0, ...Array(4097).fill(1)];            // markers at 0 and 1; positions up to 4098
    const swaLogits = markerModel(baseHp, 1).forward(tokens).map((l) => l[0]);
    const near = (p: number, m: number) => assert.ok(Math.abs(swaLogits[p] - logitFor(m)) < 1e-9, `position ${p}: ${swaLogits[p]} vs ${logitFor(m)}`);
    near(4094, (2 * 4096) / 4095);   // keys 0..4094: both markers among 4095 keys
    near(4095, 2);   // keys 0..4095
    near(4096, 1);   // keys 1..4096: a window of 4097 would still see 2
    near(4097, 0);   // keys 2..4097
    near(4098, 0);
    // The same reader in layer 0 (global, NoPE) and in a file without a window sees everything.
    const global = markerModel(baseHp, 0).forward(tokens).map((l) => l[0]);
    const full = markerModel({ ...baseHp, slidingWindow: false }, 1).forward(tokens).map((l) => l[0]);
    for (const p of [4095, 4096, 4098]) {
      assert.ok(Math.abs(global[p] - logitFor(2 * 4096 / (p + 1))) < 1e-9, `global layer, position ${p}`);
      assert.ok(Math.abs(full[p] - logitFor(2 * 4096 / (p + 1))) < 1e-9, `no window, position ${p}`);
    }
  });

  it('MoE: router on the raw residual, top-k by logits, renormalised sigmoid/softmax weights, ReGLU experts', () => {
    // E = 2, N = 3 experts of width F = 1, top 2; attention is all zeros, so x' = x = [3, 4].
    for (const gating of ['sigmoid', 'softmax'] as const) {
      const hp: HParams = { ...baseHp, nLayer: 1, nEmbd: 2, nHead: 1, nHeadKv: 1, headDim: 2, nExpert: 3, nExpertUsed: 2, nFf: 1, gating };
      const w = zeroLayer(hp);
      w.ffnNorm = Float64Array.of(2, 1);                      // f = [2·3, 4]/rms(x): a router on f would weigh differently
      w.router.set([1, 0, 0, 1, -1, 0]);                      // logits on x: [3, 4, −3] → experts 1 and 0
      w.gateExps.set([1, 0, /* e1 */ -1, 0, /* e2 */ 1, 1]);   // expert 1's gate is negative: relu → 0
      w.upExps.set([0, 1, /* e1 */ 1, 1, /* e2 */ 1, 1]);
      w.downExps.set([1, 0, /* e1 */ 5, 5, /* e2 */ 100, 100]); // upstream [F, E, N]: E rows of F = 1
      const model = new ReferenceModel(hp, {
        tokenEmbd: Float64Array.of(3, 4), outputNorm: Float64Array.of(1, 1), output: Float64Array.of(1, 0, 0, 1), layers: [w], downTransposed: false,
      });
      const logits = model.forward([0])[0];

      const rms = Math.sqrt((9 + 16) / 2);
      const f = [(2 * 3) / rms, 4 / rms];
      const act0 = Math.max(0, f[0]) * f[1];
      const [p0, p1] = gating === 'sigmoid'
        ? [1 / (1 + Math.exp(-3)), 1 / (1 + Math.exp(-4))]
        : [Math.exp(3), Math.exp(4)];                        // softmax over all, renormalised over the two
      const out = [3 + (p0 / (p0 + p1)) * act0, 4];
      const outRms = Math.sqrt((out[0] ** 2 + out[1] ** 2) / 2);
      assert.ok(Math.abs(logits[0] - out[0] / outRms) < 1e-12, `${gating}: ${logits[0]} vs ${out[0] / outRms}`);
      assert.ok(Math.abs(logits[1] - out[1] / outRms) < 1e-12, `${gating}: ${logits[1]} vs ${out[1] / outRms}`);
    }
  });
});

// ---------------------------------------------------------------------------------------------
describe('reference: generated files', function () {
  this.timeout(300_000);

  it('reads the hyper-parameters of tiny and tiny-swa', async () => {
    const tiny = await ReferenceModel.load(await ensureModel({ preset: 'tiny' }));
    assert.deepEqual({ ...tiny.hp, eps: Math.fround(tiny.hp.eps) }, {
      nLayer: 4, nEmbd: 128, nHead: 4, nHeadKv: 2, headDim: 32, nExpert: 8, nExpertUsed: 2, nFf: 64, nVocab: tiny.hp.nVocab,
      ropeBase: 1.5e6, eps: Math.fround(1e-6), gating: 'sigmoid', slidingWindow: false,
    });
    const swa = await ReferenceModel.load(await ensureModel({ preset: 'tiny-swa' }));
    assert.equal(swa.hp.nHead * swa.hp.headDim, 192);
    assert.equal(swa.hp.gating, 'softmax');
    assert.equal(swa.hp.slidingWindow, true);
    assert.equal(swa.weights.downTransposed, false);
  });

  it('the powerinfer flavour (transposed ffn_down_exps) gives the same logits as the upstream file', async () => {
    const upstream = await ReferenceModel.load(await ensureModel({ preset: 'tiny-swa' }));
    const powerinfer = await ReferenceModel.load(await ensureModel({ preset: 'tiny-swa', flavour: 'powerinfer' }));
    assert.equal(powerinfer.weights.downTransposed, true);
    assert.equal(powerinfer.hp.gating, 'softmax');
    const tokens = promptTokens(48, upstream.hp.nVocab, 5);
    const a = upstream.forward(tokens), b = powerinfer.forward(tokens);
    for (let p = 0; p < tokens.length; p++) assert.deepEqual([...b[p]], [...a[p]], `position ${p}`);
  });

  it('a file without expert_gating_func uses sigmoid; a tied file uses token_embd as the output', async () => {
    const sigmoid = await ReferenceModel.load(await ensureModel({ preset: 'tiny' }));
    const absent = await ReferenceModel.load(await ensureModel({ preset: 'tiny', gating: 'absent' }));
    assert.equal(absent.hp.gating, 'sigmoid');
    const tokens = promptTokens(24, sigmoid.hp.nVocab, 6);
    assert.deepEqual(absent.forward(tokens).map((l) => [...l]), sigmoid.forward(tokens).map((l) => [...l]));
    const tied = await ReferenceModel.load(await ensureModel({ preset: 'tiny', tiedEmbeddings: true }));
    assert.equal(tied.weights.output, tied.weights.tokenEmbd);
  });

  it('forward() restarts from an empty context; generateGreedy matches argmax of teacher-forced logits', async () => {
    const model = await ReferenceModel.load(await ensureModel({ preset: 'tiny' }));
    const prompt = promptTokens(16, model.hp.nVocab, 7);
    const generated = model.generateGreedy(prompt, 8);
    const logits = model.forward([...prompt, ...generated]);
    for (let i = 0; i < generated.length; i++) assert.equal(generated[i], argmax(logits[prompt.length - 1 + i]));
    assert.deepEqual([...model.forward(prompt)[15]], [...logits[15]]);
  });

  it('a batch gives bit-identical logits to the same tokens fed one at a time or in pieces', async () => {
    const model = await ReferenceModel.load(await ensureModel({ preset: 'tiny-swa' }));
    const tokens = promptTokens(40, model.hp.nVocab, 8);
    const batch = model.forward(tokens).map((l) => [...l]);
    model.reset();
    assert.deepEqual(tokens.map((t) => [...model.step(t)]), batch);
    model.reset();
    assert.deepEqual([...model.evaluate(tokens.slice(0, 13)), ...model.evaluate(tokens.slice(13))].map((l) => [...l]), batch);
    assert.equal(model.nPast, 40);
  });
});

// ---------------------------------------------------------------------------------------------
// llama.cpp through node-llama-cpp: the log-probabilities of every next token at every position.
// With temperature 1 and no top-k/top-p/min-p, the sampler's probabilities are softmax(logits),
// so ln p is the log-softmax of llama.cpp's logits (the shift-free part of them).
//
// Two llama.cpp set-ups:
//  - 'exact': F32 KV cache and no flash attention, so llama.cpp computes everything in f32.
//    (With flash attention llama.cpp casts an F32 cache to F16, so that is not exact.)
//  - 'default': llama.cpp's defaults (F16 KV cache, flash attention where available).
// The tiny models route by hard top-k: a perturbation of the size of F16 rounding can swap an
// expert at a near-tie, which moves that position's logits a lot. So the default set-up is held
// to top-1 agreement and to the tolerance at most positions, the exact one to every position.

type LlamaSetup = 'exact' | 'default';

async function llamaLogProbs(file: string, tokens: number[], nVocab: number, setup: LlamaSetup): Promise<Float64Array[]> {
  const { getLlama } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
  const model = await llama.loadModel({ modelPath: file });
  try {
    const context = await model.createContext({
      contextSize: tokens.length + 64, batchSize: 512, threads: 2, sequences: 1,
      ...(setup === 'exact' ? { experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32', flashAttention: false } : {}),
    });
    try {
      const input = tokens.map((t) => [t, {
        generateNext: { probabilities: true, options: { temperature: 1, topK: 0, topP: 1, minP: 0, seed: 1 } },
      }] as const);
      const results = await context.getSequence().controlledEvaluate(input as never);
      return results.map((r, p) => {
        const probs = r?.next.probabilities;
        if (!probs) throw new Error(`llama.cpp returned no probabilities at position ${p}`);
        const out = new Float64Array(nVocab).fill(-Infinity);
        for (const [token, prob] of probs) out[token] = Math.log(prob);
        return out;
      });
    } finally {
      await context.dispose();
    }
  } finally {
    await model.dispose();
  }
}

/** llama.cpp's greedy continuation of `prompt`, one controlled evaluation per token. */
async function llamaGreedy(file: string, prompt: number[], n: number): Promise<number[]> {
  const { getLlama } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
  const model = await llama.loadModel({ modelPath: file });
  try {
    const context = await model.createContext({
      contextSize: prompt.length + n + 64, batchSize: 512, threads: 2, sequences: 1,
      experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32', flashAttention: false,
    });
    try {
      const sequence = context.getSequence();
      const next = { generateNext: { token: true, options: { temperature: 0 } } };
      const out: number[] = [];
      let input: unknown[] = [...prompt.slice(0, -1), [prompt[prompt.length - 1], next]];
      while (out.length < n) {
        const results = await sequence.controlledEvaluate(input as never);
        const token = results[input.length - 1]?.next.token;
        if (token == null) throw new Error('llama.cpp returned no token');
        out.push(token);
        input = [[token, next]];
      }
      return out;
    } finally {
      await context.dispose();
    }
  } finally {
    await model.dispose();
  }
}

interface Agreement {
  positions: number;
  /** Share of positions where both pick the same most likely next token. */
  top1: number;
  /** The largest |Δ log-prob| at each position, over tokens llama.cpp gives p > e^−60 (f32 underflows below). */
  maxDiffs: number[];
}

const worst = (a: Agreement) => Math.max(...a.maxDiffs);
const shareWithin = (a: Agreement, tol: number) => a.maxDiffs.filter((d) => d <= tol).length / a.positions;

async function compareWithLlama(opts: GenOptions, length: number, setup: LlamaSetup): Promise<Agreement> {
  const file = await ensureModel({ type: 'f32', ...opts });
  const ref = await ReferenceModel.load(file);
  const tokens = promptTokens(length, ref.hp.nVocab, 11);
  const theirs = await llamaLogProbs(file, tokens, ref.hp.nVocab, setup);
  const started = Date.now();
  const ours = ref.forward(tokens).map(logSoftmax);
  const seconds = (Date.now() - started) / 1000;
  let agree = 0;
  const maxDiffs: number[] = [];
  for (let p = 0; p < length; p++) {
    if (argmax(ours[p]) === argmax(theirs[p])) agree++;
    let maxDiff = 0;
    for (let t = 0; t < ref.hp.nVocab; t++) if (theirs[p][t] > -60) maxDiff = Math.max(maxDiff, Math.abs(ours[p][t] - theirs[p][t]));
    maxDiffs.push(maxDiff);
  }
  const a = { positions: length, top1: agree / length, maxDiffs };
  console.log(`      ${JSON.stringify(opts)} llama.cpp ${setup}: top-1 ${(100 * a.top1).toFixed(1)} % of ${length} positions, `
    + `max |Δ log-prob| ${worst(a).toExponential(2)}, within 2e-2 at ${(100 * shareWithin(a, 2e-2)).toFixed(1)} % `
    + `(reference pass ${seconds.toFixed(1)} s)`);
  return a;
}

describe('reference agrees with llama.cpp on generated F32 models', function () {
  this.timeout(600_000);

  for (const opts of [{ preset: 'tiny' }, { preset: 'tiny-swa' }, { preset: 'tiny', tiedEmbeddings: true }] as GenOptions[]) {
    it(`${JSON.stringify(opts)}: 256 positions against f32 llama.cpp: every log-prob within 1e-4, same top-1`, async () => {
      const a = await compareWithLlama(opts, 256, 'exact');
      assert.ok(worst(a) <= 1e-4, `max |Δ log-prob| ${worst(a)}`);
      assert.ok(a.top1 >= 0.99, `top-1 agreement ${a.top1}`);
    });
  }

  for (const preset of ['tiny', 'tiny-swa'] as const) {
    it(`{"preset":"${preset}"}: the same 64 greedy tokens as f32 llama.cpp after a 200-token prompt`, async () => {
      const file = await ensureModel({ preset, type: 'f32' });
      const ref = await ReferenceModel.load(file);
      const prompt = promptTokens(200, ref.hp.nVocab, 12);
      assert.deepEqual(ref.generateGreedy(prompt, 64), await llamaGreedy(file, prompt, 64));
    });
  }

  // tiny-swa (8 layers, softmax gating) amplifies F16-sized noise: perturbing its K and V
  // weights by a relative 2e-4 moves the reference's own logits by 2e-2 at the median position
  // (max 2.3, top-1 98.8 %), while tiny moves by 1e-3. So against F16 llama.cpp only tiny is
  // held to the 2e-2 tolerance; tiny-swa to top-1 agreement (and to 1e-4 in the f32 tests above).
  it('{"preset":"tiny"}: 256 positions against llama.cpp\'s defaults (F16 KV): top-1 ≥ 95 %, every log-prob within 2e-2', async () => {
    const a = await compareWithLlama({ preset: 'tiny' }, 256, 'default');
    assert.ok(a.top1 >= 0.95, `top-1 agreement ${a.top1}`);
    assert.ok(worst(a) <= 2e-2, `max |Δ log-prob| ${worst(a)}`);
  });

  it('{"preset":"tiny-swa"}: 256 positions against llama.cpp\'s defaults (F16 KV): top-1 ≥ 95 %', async () => {
    const a = await compareWithLlama({ preset: 'tiny-swa' }, 256, 'default');
    assert.ok(a.top1 >= 0.95, `top-1 agreement ${a.top1}`);
  });

  (process.env.SMALLTHINKER_SLOW ? it : it.skip)('{"preset":"tiny-swa"}: 5000 positions, past the 4096 window, against f32 llama.cpp', async () => {
    const a = await compareWithLlama({ preset: 'tiny-swa' }, 5000, 'exact');
    assert.ok(worst(a) <= 1e-4, `max |Δ log-prob| ${worst(a)}`);
    assert.ok(a.top1 >= 0.99, `top-1 agreement ${a.top1}`);
  });
});
