// The generator is deterministic, writes what its layout says, and quantises like ggml.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildGgufBuffer } from './gguf-writer';
import { buildModelSpec, tensorTypes, type ModelOptions } from './model';
import { BLOCK, GGML_TYPE_ID, WEIGHT_TYPES, bf16ToF32, bytesFor, decode, dequantizeQ4_0, dequantizeQ8_0, encode, f16ToF32,
  f32ToBf16, f32ToF16, quantizeQ4_0, quantizeQ8_0, type WeightType } from './quantize';
import { FILE_TYPES, LLAMA_FTYPE, fallbackType, tensorType, useMoreBits, type FileType } from './file-types';
import { ensureModel, makeRoomFor, modelFileName } from './index';
import { Rng } from './random';
import { PRESETS } from './presets';

const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

describe('synthetic model generator', () => {
  it('is deterministic in its seed', () => {
    const a = buildGgufBuffer(buildModelSpec({ preset: 'tiny', type: 'q4_0', vocab: 'small', flavour: 'upstream', seed: 3 })).bytes;
    const b = buildGgufBuffer(buildModelSpec({ preset: 'tiny', type: 'q4_0', vocab: 'small', flavour: 'upstream', seed: 3 })).bytes;
    const c = buildGgufBuffer(buildModelSpec({ preset: 'tiny', type: 'q4_0', vocab: 'small', flavour: 'upstream', seed: 4 })).bytes;
    assert.equal(sha(a), sha(b));
    assert.notEqual(sha(a), sha(c));
  });

  it('puts every section where the layout says', () => {
    const { bytes, layout } = buildGgufBuffer(buildModelSpec({ preset: 'tiny-swa', type: 'f16', vocab: 'small', flavour: 'upstream', seed: 1 }));
    assert.equal(bytes.readUInt32LE(0), 0x46554747);
    assert.equal(bytes.length, layout.fileBytes);
    for (const e of layout.kvEntries) {
      assert.equal(Number(bytes.readBigUInt64LE(e.offset)), Buffer.byteLength(e.key));
      assert.equal(bytes.toString('utf8', e.offset + 8, e.offset + 8 + Buffer.byteLength(e.key)), e.key);
    }
    for (const t of layout.tensorInfos) assert.equal(bytes.toString('utf8', t.offset + 8, t.offset + 8 + t.name.length), t.name);
    for (const t of layout.tensors) assert.equal(t.offset % 32, 0);
    assert.equal(layout.dataStart % 32, 0);
  });

  it('gives the 4b preset the published shape and size (2.41 GB at Q4_0)', () => {
    const spec = buildModelSpec({ preset: '4b', type: 'q4_0', vocab: 'small', flavour: 'upstream', seed: 1 });
    assert.equal(spec.tensors.length, 3 + 10 * 32);
    // With the real 151936-token vocabulary the two embedding matrices add their share.
    const perVocabRow = 2 * (1536 / 32) * 18;
    const bytes = spec.tensors.reduce((n, t) => n + t.nbytes, 0) + (151936 - spec.tensors[0].dims[1]) * perVocabRow;
    assert.ok(Math.abs(bytes - 2.41e9) < 0.01e9, `${bytes}`);
    assert.deepEqual(spec.tensors.find((t) => t.name === 'blk.0.ffn_down_exps.weight')!.dims, [768, 1536, 32]);
    assert.equal(PRESETS['21b'].nHead * PRESETS['21b'].headDim, 3584);
  });

  it('generates the 4b shape at F32 (for the F32 parity check), but not the 84 GB 21b one', () => {
    const spec = buildModelSpec({ preset: '4b', type: 'f32', vocab: 'small', flavour: 'upstream', seed: 1 });
    const q = spec.tensors.find((t) => t.name === 'blk.0.attn_q.weight')!;
    assert.equal(q.nbytes, 1536 * 1536 * 4);
    const chunks: Buffer[] = [];
    q.write((b) => chunks.push(Buffer.from(b)));
    const values = new Float32Array(new Uint8Array(Buffer.concat(chunks)).buffer);
    assert.equal(values.length, 1536 * 1536);
    const rms = Math.sqrt(values.reduce((s, v) => s + v * v, 0) / values.length);
    assert.ok(rms > 0.01 && rms < 0.1 && values.every(Number.isFinite), `rms ${rms}`);
    assert.throws(() => buildModelSpec({ preset: '21b', type: 'f32', vocab: 'small', flavour: 'upstream', seed: 1 }), /84 GB/);
  });

  it('transposes ffn_down_exps in the powerinfer flavour', () => {
    const spec = buildModelSpec({ preset: 'tiny', type: 'f32', vocab: 'small', flavour: 'powerinfer', seed: 1 });
    assert.deepEqual(spec.tensors.find((t) => t.name === 'blk.0.ffn_down_exps.weight')!.dims, [128, 64, 8]);
    assert.equal(spec.metadata.find(([k]) => k === 'smallthinker.expert_gating_func'), undefined);
  });

  it('converts halves and bfloats with round-to-nearest-even', () => {
    for (const v of [0, 1, -2.5, 65504, 1e-7, 0.1, 3.14159]) {
      assert.ok(Math.abs(f16ToF32(f32ToF16(v)) - v) <= Math.max(Math.abs(v) * 2 ** -11, 2 ** -24), `f16 ${v}`);
      assert.ok(Math.abs(bf16ToF32(f32ToBf16(v)) - v) <= Math.abs(v) * 2 ** -8, `bf16 ${v}`);
    }
    assert.equal(f32ToF16(1 + 2 ** -11), 0x3c00);  // a tie rounds to even
    assert.equal(f32ToF16(70000), 0x7c00);         // overflow is infinity
  });

  it('quantises to Q8_0 and Q4_0 within half a step of each block scale', () => {
    const x = new Rng(9).fillNormal(new Float32Array(256), 1);
    const q8 = dequantizeQ8_0(quantizeQ8_0(x), x.length);
    const q4 = dequantizeQ4_0(quantizeQ4_0(x), x.length);
    for (let b = 0; b < 8; b++) {
      const block = x.subarray(b * 32, b * 32 + 32);
      const amax = Math.max(...block.map(Math.abs));
      for (let j = 0; j < 32; j++) {
        assert.ok(Math.abs(q8[b * 32 + j] - block[j]) <= amax / 127 / 2 + 1e-3, 'q8');
        assert.ok(Math.abs(q4[b * 32 + j] - block[j]) <= amax / 8 / 2 + 1e-2 + amax / 8, 'q4');
      }
    }
    // The element with the largest magnitude is exact in Q4_0 (it defines d = max / -8).
    const i = x.subarray(0, 32).reduce((best, v, k, a) => (Math.abs(v) > Math.abs(a[best]) ? k : best), 0);
    assert.ok(Math.abs(q4[i] - x[i]) < Math.abs(x[i]) * 1e-3);
  });
});

/** Where each type keeps its fp16 scales (d, and m or dmin), as ggml_validate_row_data checks them. */
const HALF_FIELDS: Partial<Record<WeightType, number[]>> = {
  q8_0: [0], q4_0: [0], q4_1: [0, 2], q5_0: [0], q5_1: [0, 2], iq4_nl: [0],
  q2_k: [80, 82], q3_k: [108], q4_k: [0, 2], q5_k: [0, 2], q6_k: [208], iq4_xs: [0],
};

/** Every block's fp16 scales are finite (what llama.cpp's validation asks of a block). */
function assertValidBlocks(type: WeightType, buf: Uint8Array, what: string): void {
  const fields = HALF_FIELDS[type];
  if (!fields) return;
  const { bytes } = BLOCK[type];
  assert.equal(buf.length % bytes, 0, `${what}: whole blocks`);
  for (let o = 0; o < buf.length; o += bytes) {
    for (const f of fields) {
      const h = buf[o + f] | (buf[o + f + 1] << 8);
      assert.notEqual(h & 0x7c00, 0x7c00, `${what}: block ${o / bytes} has a non-finite scale`);
    }
  }
}

const relRms = (x: Float32Array, y: Float32Array) => {
  let se = 0, ss = 0;
  for (let i = 0; i < x.length; i++) { se += (y[i] - x[i]) ** 2; ss += x[i] ** 2; }
  return Math.sqrt(se / ss);
};

const tensorBytes = (options: ModelOptions, name: string): Buffer => {
  const t = buildModelSpec(options).tensors.find((x) => x.name === name)!;
  const parts: Buffer[] = [];
  t.write((b) => parts.push(Buffer.from(b)));
  return Buffer.concat(parts);
};

describe('synthetic model generator: a scripted model', function () {
  this.timeout(120_000);

  it('answers every question with its script, through the engine (a fixture for what the extension does with a known answer)', async () => {
    const model = await ensureModel({ preset: 'tiny', type: 'q4_0', vocab: 'qwen', script: 'code-answer' });
    const cli = path.resolve(__dirname, '..', '..', 'dist', 'cli.js');
    for (const [prompt, temperature] of [['Make it a cube.', '0'], ['How do I sort a slice in Go? ``` return x', '0.6']]) {
      const out = execFileSync(process.execPath, [cli, 'generate', '--model', model, '--chat', '--prompt', prompt, '--temperature', temperature,
        '--seed', '7', '--max-tokens', '40', '--threads', '1'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      assert.equal(out.trimEnd(), '```\nreturn x ** 3;\n```', `${prompt} at temperature ${temperature}`);
    }
    const twoLines = await ensureModel({ preset: 'tiny', type: 'q4_0', vocab: 'qwen', script: 'two-lines' });
    const completion = execFileSync(process.execPath, [cli, 'generate', '--model', twoLines, '--prompt', 'function f() {\n', '--max-tokens', '20',
      '--threads', '1'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    assert.equal(completion.trimEnd(), 'let a = 1;\nreturn b;', 'a plain continuation too');
    assert.throws(() => buildModelSpec({ preset: 'tiny', type: 'q4_0', vocab: 'small', flavour: 'upstream', seed: 1, script: 'code-answer' }),
      /tiny upstream one with the Qwen vocabulary/);
  });
});

describe('synthetic model generator: the other ggml weight types', () => {
  // Relative RMS error of decode(encode(x)) on normal weights (measured over seeds 9..12, then
  // pinned a little above the worst): our simple quantisers, not ggml's optimising ones.
  const BOUND: Record<Exclude<WeightType, 'f32' | 'f16' | 'bf16'>, number> = {
    q8_0: 0.006, q4_0: 0.095, q4_1: 0.085, q5_0: 0.047, q5_1: 0.042, iq4_nl: 0.085,
    q2_k: 0.36, q3_k: 0.17, q4_k: 0.085, q5_k: 0.042, q6_k: 0.021, iq4_xs: 0.085,
  };
  const QUANTISED = Object.keys(BOUND) as Array<keyof typeof BOUND>;

  it('quantises every type to valid blocks that decode close to the input', () => {
    const x = new Rng(9).fillNormal(new Float32Array(256 * 64), 0.02);
    const measured: string[] = [];
    for (const type of QUANTISED) {
      const q = encode(type, x);
      assert.equal(q.length, bytesFor(type, x.length), type);
      assertValidBlocks(type, q, type);
      const err = relRms(x, decode(type, q, x.length));
      measured.push(`${type} ${err.toFixed(4)}`);
      assert.ok(err <= BOUND[type], `${type}: relative RMS error ${err} > ${BOUND[type]}`);
    }
    // More bits, less error: a misordered field would break the ranking long before the bounds.
    const e = (t: WeightType) => relRms(x, decode(t, encode(t, x), x.length));
    assert.ok(e('q6_k') < e('q5_k') && e('q5_k') < e('q4_k') && e('q4_k') < e('q3_k') && e('q3_k') < e('q2_k'), measured.join(', '));
  });

  it('writes valid blocks for awkward inputs (zeros, constants, one spike, one sign, large and tiny values)', () => {
    const cases: Record<string, (i: number) => number> = {
      zeros: () => 0, positive: () => 3, negative: () => -3, spike: (i) => (i === 77 ? 5 : 0),
      allPositive: (i) => 1 + (i % 7), allNegative: (i) => -1 - (i % 5), large: (i) => 60000 * Math.sin(i),
      tiny: (i) => 1e-9 * Math.cos(i), mixedScales: (i) => (i < 128 ? 1000 : 0.001) * Math.sin(i * 0.7),
    };
    for (const [name, f] of Object.entries(cases)) {
      const x = Float32Array.from({ length: 512 }, (_, i) => f(i));
      const amax = Math.max(...x.map(Math.abs));
      for (const type of QUANTISED) {
        const q = encode(type, x);
        assertValidBlocks(type, q, `${type} ${name}`);
        const y = decode(type, q, x.length);
        assert.ok(y.every(Number.isFinite), `${type} ${name}: finite`);
        if (name === 'zeros') assert.ok(y.every((v) => v === 0), `${type} zeros`);
        // No decoded value strays far outside the input's range (the relative error of a whole
        // vector is checked above; Q2_K's levels are coarse).
        for (let i = 0; i < y.length; i++) assert.ok(Math.abs(y[i]) <= amax * 1.6 + 1e-6, `${type} ${name}: ${y[i]} vs max ${amax}`);
      }
    }
    assert.throws(() => encode('q4_1', Float32Array.from({ length: 32 }, (_, i) => i * 1e6)), /fp16/);
    assert.throws(() => encode('q4_k', new Float32Array(32)), /multiple of 256/);
  });

  // Hand-built blocks decode to the values quant-layouts.md gives (each worked out by hand from
  // the layout, so a misread field or bit order fails here).
  const block = (size: number, set: Array<[number, number]>, halves: Array<[number, number]> = [], u32s: Array<[number, number]> = []) => {
    const b = Buffer.alloc(size);
    for (const [o, v] of halves) b.writeUInt16LE(f32ToF16(v), o);
    for (const [o, v] of u32s) b.writeUInt32LE(v, o);
    for (const [o, v] of set) b[o] = v;
    return b;
  };
  const expectValues = (type: WeightType, b: Buffer, expected: Record<number, number>) => {
    const y = decode(type, b, BLOCK[type].elements);
    for (const [i, v] of Object.entries(expected)) assert.equal(y[Number(i)] + 0, v, `${type} element ${i}`);  // + 0: −0 is 0
  };

  it('decodes hand-built Q4_1, Q5_0, Q5_1 and IQ4_NL blocks as the layout says', () => {
    // Q4_1: d 0.5, m −1; qs[0] = 0x3A (element 0 → 10, element 16 → 3), qs[15] = 0xF0.
    expectValues('q4_1', block(20, [[4, 0x3a], [19, 0xf0]], [[0, 0.5], [2, -1]]),
      { 0: 4, 16: 0.5, 1: -1, 15: -1, 31: 6.5 });
    // Q5_0: d 1; qh bits 0 and 17; qs[0] = 0x21, qs[1] = 0x5F.
    expectValues('q5_0', block(22, [[6, 0x21], [7, 0x5f]], [[0, 1]], [[2, (1 << 0) | (1 << 17)]]),
      { 0: 1, 16: -14, 1: -1, 17: 5, 2: -16 });
    // Q5_1: d 0.5, m 1; qh bit 31; qs[15] = 0x73.
    expectValues('q5_1', block(24, [[8 + 15, 0x73]], [[0, 0.5], [2, 1]], [[4, 0x80000000]]),
      { 15: 2.5, 31: 12.5, 0: 1, 16: 1 });
    // IQ4_NL: d 2; qs[0] = 0xF0 (levels 0 and 15), qs[3] = 0x98 (levels 8 and 9).
    expectValues('iq4_nl', block(18, [[2, 0xf0], [5, 0x98]], [[0, 2]]), { 0: -254, 16: 226, 3: 2, 19: 26, 1: -254 });
  });

  it('decodes hand-built Q2_K and Q3_K blocks as the layout says', () => {
    // Q2_K: d 0.5, dmin 0.25. qs[0] = 0xE4 holds levels 0, 1, 2, 3 at shifts 0, 2, 4, 6, i.e.
    // elements 0, 32, 64, 96 (sub-blocks 0, 2, 4, 6); qs[53] = 0x0C: level 3 at shift 2 for
    // element 128 + 32 + 16 + 5 = 181 (sub-block 11).
    expectValues('q2_k', block(84, [[0, 0x32], [2, 0x14], [4, 0x01], [6, 0xf0], [11, 0x27], [16, 0xe4], [16 + 53, 0x0c]],
      [[80, 0.5], [82, 0.25]]), { 0: -0.75, 1: -0.75, 32: 1.75, 64: 1, 96: -3.75, 181: 10, 180: -0.5 });
    // Q3_K: d 0.5. Scale codes: s0 = 33 (low 4 bits in scales[0], high 2 in scales[8] bits 0-1),
    // s9 = 21 (low 4 in scales[1] >> 4, high 2 in scales[9] bits 4-5), s15 = 63 (scales[7] >> 4,
    // scales[11] bits 6-7); the rest 0 (value −32).
    const scales = 96;
    expectValues('q3_k', block(110, [
      [scales + 0, 0x01], [scales + 8, 0x02], [scales + 1, 0x50], [scales + 9, 0x10], [scales + 7, 0xf0], [scales + 11, 0xc0],
      [32 + 0, 0x03], [0, 0x01],          // element 0: level 3, hmask bit set → 3
      [32 + 32 + 16 + 2, 0x02], [18, 0x10], // element 146 (half 1, j 0, sub-block B = 9): level 2, hmask bit 4 → 2
      [32 + 32 + 31, 0x40],                 // element 255 (half 1, j 3, sub-block 15): level 1 at shift 6, no hmask bit → −3
    ], [[108, 0.5]]), { 0: 1.5, 1: -2, 146: -11, 255: -46.5, 16: 64 });
  });

  it('decodes hand-built Q4_K and Q5_K blocks as the layout says', () => {
    // Scales and mins: sc1 10, mn1 3 (scales[1], scales[5]); sc6 53 = 0b110101 and mn6 39 =
    // 0b100111 (low 4 bits in scales[10], high 2 in scales[2] and scales[6] bits 6-7); sc7 1, mn7 2
    // (scales[11]). scales[2] and scales[6] then read 0 as sc2 and mn2 (their low 6 bits).
    const sm: Array<[number, number]> = [[4 + 1, 10], [4 + 5, 3], [4 + 10, 0x75], [4 + 2, 0xc0], [4 + 6, 0x80], [4 + 11, 0x21]];
    // Q4_K: d 0.5, dmin 0.25. qs[3] = 0x70: element 35 (pair 0, high nibble, sub-block 1) level 7;
    // qs[100] = 0x09: element 196 (pair 3, low nibble, sub-block 6) level 9, element 228 level 0.
    expectValues('q4_k', block(144, [...sm, [16 + 3, 0x70], [16 + 100, 0x09], [16 + 32, 0x0f]], [[0, 0.5], [2, 0.25]]),
      { 35: 34.25, 3: 0, 196: 228.75, 228: -0.5, 64: 0 });
    // Q5_K: d 1, dmin 0.5; qh[3] bit 1 adds 16 to element 35; qh[4] bit 6 to element 196; qh[5]
    // bit 7 to element 229.
    expectValues('q5_k', block(176, [...sm, [48 + 3, 0x70], [16 + 3, 0x02], [48 + 100, 0x09], [16 + 4, 0x40], [16 + 5, 0x80]],
      [[0, 1], [2, 0.5]]), { 35: 228.5, 3: 0, 196: 1305.5, 228: -1, 229: 15 });
  });

  it('decodes hand-built Q6_K and IQ4_XS blocks as the layout says', () => {
    // Q6_K: d 0.5; int8 scales sc0 2, sc3 −3, sc12 5, sc15 −1.
    expectValues('q6_k', block(210, [
      [192 + 0, 2], [192 + 3, 0xfd], [192 + 12, 5], [192 + 15, 0xff],
      [0, 0x05], [128 + 0, 0x02],       // element 0: ql[0] low 5, qh[0] bits 0-1 = 2 → 37 − 32 = 5
      [49, 0x0a], [128 + 17, 0x0c],     // element 49 (l 17 of quarter 1, scale 3): 10 | 3 << 4 = 58 → 26
      [67, 0x70],                       // element 195 (half 1, quarter 2, l 3, scale 12): 7 → −25
      [127, 0xf0], [128 + 63, 0xc0],    // element 255 (half 1, quarter 3, l 31, scale 15): 15 | 3 << 4 → 31
    ], [[208, 0.5]]), { 0: 5, 49: -39, 195: -62.5, 255: -15.5, 64: 0, 1: -32 });  // element 1: level 0 → −32 × d × sc0
    // IQ4_XS: d 0.5; ls0 33 (dl 0.5), ls1 0 (dl −16), ls5 20 (dl −6), ls7 63 (dl 15.5): low 4 bits
    // in scales_l nibbles, high 2 bits in scales_h = 2 | 1 << 10 | 3 << 14 = 0xC402.
    expectValues('iq4_xs', block(136, [
      [2, 0x02], [3, 0xc4], [4, 0x01], [6, 0x40], [7, 0xf0],
      [8 + 0, 0xf0], [8 + 80 + 2, 0x09], [8 + 112 + 15, 0x80],
    ], [[0, 0.5]]), { 0: -63.5, 16: 56.5, 162: -78, 178: 762, 255: 15.5, 239: -1968.5, 32: 2032, 33: 2032 });
  });
});

describe('synthetic model generator: llama-quantize file types', () => {
  const opts = (preset: ModelOptions['preset'], type: FileType, extra: Partial<ModelOptions> = {}): ModelOptions =>
    ({ preset, type, vocab: 'small', flavour: 'upstream', seed: 1, ...extra });
  const byLayer = (mix: Map<string, WeightType>, role: string, nLayer: number) =>
    Array.from({ length: nLayer }, (_, l) => mix.get(`blk.${l}.${role}.weight`));

  it('keeps the bytes of the five original types (bump GENERATOR_VERSION when they change)', () => {
    const pinned: Array<[ModelOptions['preset'], FileType, string]> = [
      ['tiny', 'q4_0', 'a73c60f88c845bb506bb3a0a229a0fde24f4d34f80aec18a23bb9efd98b2266f'],
      ['tiny', 'q8_0', 'ef7a3feef5b8cd8d176a278a556e0195cc1caddd0aa865b60fe8a7b913cfafdf'],
      ['tiny', 'bf16', '95954949db834de82233095859e2e681a9227683754eb730884b7ed7d4030054'],
      ['tiny-swa', 'f16', 'bbcdceedb131d0eb4bdb6f8ce817726c536d4ac2ed069e54ccdac3ef530c66a1'],
    ];
    for (const [preset, type, hash] of pinned) assert.equal(sha(buildGgufBuffer(buildModelSpec(opts(preset, type, { seed: 2 }))).bytes), hash, `${preset} ${type}`);
    // And one mix, so its bytes do not drift silently either.
    assert.equal(sha(buildGgufBuffer(buildModelSpec(opts('tiny-256', 'q4_k_m'))).bytes),
      '4d3212ace949947fff8d4e7b39333bdf075fc4792ea2d62768610d9da87bf031');
  });

  it("gives tiny-256 at Q4_K_M llama-quantize's mix for an 8-expert model", () => {
    const mix = tensorTypes(opts('tiny-256', 'q4_k_m'));
    assert.equal(mix.get('token_embd.weight'), 'q4_k');
    assert.equal(mix.get('output.weight'), 'q6_k');
    assert.equal(mix.get('output_norm.weight'), 'f32');
    for (let l = 0; l < 4; l++) {
      const t = (r: string) => mix.get(`blk.${l}.${r}.weight`);
      assert.deepEqual([t('attn_norm'), t('ffn_norm'), t('ffn_gate_inp')], ['f32', 'f32', 'f32']);
      assert.deepEqual([t('attn_q'), t('attn_k'), t('attn_v'), t('attn_output')], ['q4_k', 'q8_0', 'q8_0', 'q5_k']);
      assert.deepEqual([t('ffn_gate_exps'), t('ffn_up_exps')], ['q4_k', 'q4_k']);
    }
    // ffn_down: Q6_K where use_more_bits (layers 2 and 3 of 4).
    assert.deepEqual(byLayer(mix, 'ffn_down_exps', 4), ['q4_k', 'q4_k', 'q6_k', 'q6_k']);
    const spec = buildModelSpec(opts('tiny-256', 'q4_k_m'));
    assert.equal(spec.metadata.find(([k]) => k === 'general.file_type')![1].value, 15);
    for (const t of spec.tensors) assert.equal(t.nbytes, bytesFor(mix.get(t.name)!, t.dims.reduce((a, b) => a * b, 1)), t.name);
  });

  it('gives the other presets their mixes on tiny-256', () => {
    const q2 = tensorTypes(opts('tiny-256', 'q2_k'));
    assert.deepEqual(byLayer(q2, 'ffn_down_exps', 4), ['q3_k', 'q3_k', 'q3_k', 'q3_k']);
    assert.deepEqual([q2.get('blk.0.attn_q.weight'), q2.get('blk.0.attn_output.weight'), q2.get('blk.0.ffn_up_exps.weight'),
      q2.get('token_embd.weight'), q2.get('output.weight')], ['q2_k', 'q5_k', 'q2_k', 'q2_k', 'q6_k']);
    const m = (type: FileType, name: string) => tensorTypes(opts('tiny-256', type)).get(name);
    assert.equal(m('q3_k_m', 'blk.0.ffn_down_exps.weight'), 'q4_k');   // n_layer/16 = 0 layers at Q5_K
    assert.equal(m('q3_k_s', 'blk.0.ffn_down_exps.weight'), 'q3_k');
    assert.equal(m('q5_k_s', 'blk.1.attn_output.weight'), 'q5_k');
    assert.equal(m('q6_k', 'blk.1.attn_v.weight'), 'q8_0');
    assert.equal(m('iq4_xs', 'blk.1.ffn_up_exps.weight'), 'iq4_xs');
    assert.equal(m('iq4_nl', 'blk.1.attn_output.weight'), 'q5_k');
    assert.equal(m('q4_1', 'blk.1.attn_output.weight'), 'q4_1');
    assert.equal(m('q5_0', 'output.weight'), 'q6_k');
    // Tied embeddings: token_embd is the output matrix too and gets its type.
    assert.equal(tensorTypes(opts('tiny-256', 'q4_k_m', { tiedEmbeddings: true })).get('token_embd.weight'), 'q6_k');
    // The powerinfer flavour's ffn_down rows are E long.
    assert.equal(tensorTypes(opts('tiny', 'q4_k_m', { flavour: 'powerinfer' })).get('blk.3.ffn_down_exps.weight'), 'q8_0');
    for (const type of FILE_TYPES) {
      const spec = buildModelSpec(opts('tiny-256', type));
      assert.equal(spec.metadata.find(([k]) => k === 'general.file_type')![1].value, LLAMA_FTYPE[type], type);
    }
    assert.deepEqual([LLAMA_FTYPE.q4_1, LLAMA_FTYPE.q5_0, LLAMA_FTYPE.q5_1, LLAMA_FTYPE.q2_k, LLAMA_FTYPE.q3_k_s, LLAMA_FTYPE.q3_k_m,
      LLAMA_FTYPE.q4_k_s, LLAMA_FTYPE.q4_k_m, LLAMA_FTYPE.q5_k_s, LLAMA_FTYPE.q5_k_m, LLAMA_FTYPE.q6_k, LLAMA_FTYPE.iq4_nl,
      LLAMA_FTYPE.iq4_xs], [3, 8, 9, 10, 11, 12, 14, 15, 16, 17, 18, 25, 30]);
    assert.deepEqual([GGML_TYPE_ID.q4_1, GGML_TYPE_ID.q5_0, GGML_TYPE_ID.q5_1, GGML_TYPE_ID.q2_k, GGML_TYPE_ID.q3_k, GGML_TYPE_ID.q4_k,
      GGML_TYPE_ID.q5_k, GGML_TYPE_ID.q6_k, GGML_TYPE_ID.iq4_nl, GGML_TYPE_ID.iq4_xs], [3, 6, 7, 10, 11, 12, 13, 14, 20, 23]);
  });

  it('falls back to 32-block types where a row is not whole super-blocks (tiny: E 128, expert width 64)', () => {
    const km = tensorTypes(opts('tiny', 'q4_k_m'));
    assert.deepEqual([km.get('token_embd.weight'), km.get('output.weight'), km.get('blk.0.attn_q.weight'),
      km.get('blk.0.attn_output.weight'), km.get('blk.0.attn_v.weight')], ['q5_0', 'q8_0', 'q5_0', 'q5_1', 'q8_0']);
    assert.deepEqual(byLayer(km, 'ffn_down_exps', 4), ['q5_0', 'q5_0', 'q8_0', 'q8_0']);
    assert.equal(tensorTypes(opts('tiny', 'q2_k')).get('blk.0.ffn_up_exps.weight'), 'q4_0');
    assert.equal(tensorTypes(opts('tiny', 'q2_k')).get('blk.0.ffn_down_exps.weight'), 'q4_0');
    assert.equal(tensorTypes(opts('tiny', 'iq4_xs')).get('blk.0.ffn_up_exps.weight'), 'iq4_nl');
    assert.deepEqual(['q2_k', 'q3_k', 'q4_k', 'q5_k', 'q6_k', 'iq4_xs', 'q4_1'].map((t) => fallbackType(t as WeightType, 96)),
      ['q4_0', 'q4_0', 'q5_0', 'q5_1', 'q8_0', 'iq4_nl', 'q4_1']);
    assert.equal(fallbackType('q4_k', 48), 'f16');
  });

  it('follows the rules for models with other than 8 experts (the 4b and 21b shapes)', () => {
    // 4b: 32 experts, 32 layers, GQA 6.
    const shape4b = { nExpert: 32, nHead: 12, nHeadKv: 2 };
    const t = (ft: FileType, name: string, l: number, cols = 1536) => tensorType(ft, `blk.${l}.${name}.weight`, cols, l, 32, shape4b);
    assert.deepEqual(Array.from({ length: 32 }, (_, l) => useMoreBits(l, 32) ? 1 : 0).join(''), '11110010010010010010010010011111');
    assert.equal(t('q4_k_m', 'attn_v', 0), 'q6_k');
    assert.equal(t('q4_k_m', 'attn_v', 4), 'q4_k');
    assert.equal(t('q4_k_m', 'attn_k', 0), 'q4_k');
    assert.equal(t('q4_k_m', 'attn_output', 0), 'q4_k');
    assert.equal(t('q4_k_m', 'ffn_down_exps', 6, 768), 'q6_k');
    assert.equal(t('q2_k', 'attn_v', 5), 'q4_k');        // GQA ≥ 4
    assert.equal(t('q2_k', 'attn_output', 5), 'q3_k');
    assert.equal(t('q3_k_m', 'attn_v', 1), 'q5_k');
    assert.equal(t('q3_k_m', 'attn_v', 2), 'q4_k');
    assert.equal(t('q3_k_m', 'attn_output', 2), 'q4_k');
    assert.equal(t('q3_k_m', 'ffn_down_exps', 1, 768), 'q5_k');
    assert.equal(t('q3_k_m', 'ffn_down_exps', 2, 768), 'q4_k');
    assert.equal(t('q4_k_s', 'attn_v', 3), 'q5_k');
    assert.equal(t('q4_k_s', 'attn_v', 4), 'q4_k');
    assert.equal(t('q4_k_s', 'ffn_down_exps', 3, 768), 'q5_k');
    assert.equal(t('iq4_nl', 'attn_v', 9), 'q5_k');
    assert.equal(t('iq4_xs', 'ffn_down_exps', 3, 768), 'q5_k');
    assert.equal(t('iq4_xs', 'ffn_down_exps', 4, 768), 'iq4_xs');
    assert.equal(t('q5_k_m', 'attn_v', 31), 'q6_k');
    assert.equal(t('q5_k_s', 'attn_v', 31), 'q5_k');
    // GQA < 4 (tiny-swa: 6 heads over 2).
    assert.equal(tensorType('q2_k', 'blk.0.attn_v.weight', 256, 0, 8, { nExpert: 16, nHead: 6, nHeadKv: 2 }), 'q3_k');
    const mix = tensorTypes(opts('4b', 'q4_k_m'));
    assert.equal(mix.get('output.weight'), 'q6_k');
    assert.deepEqual(byLayer(mix, 'attn_v', 32).map((x) => (x === 'q6_k' ? 1 : 0)).join(''), '11110010010010010010010010011111');
  });

  it('writes big-preset tensors of the new types from pools of quantised normal weights', function () {
    this.timeout(120_000);
    const o = opts('4b', 'q4_k_m');
    for (const [name, type, std] of [['blk.0.attn_v.weight', 'q6_k', 1 / Math.sqrt(1536)], ['blk.1.attn_k.weight', 'q4_k', 1 / Math.sqrt(1536)]] as const) {
      const bytes = tensorBytes(o, name);
      assert.equal(bytes.length, bytesFor(type, 1536 * 256), name);
      assertValidBlocks(type, bytes, name);
      const v = decode(type, bytes, 1536 * 256);
      const rms = Math.sqrt(v.reduce((s, x) => s + x * x, 0) / v.length);
      assert.ok(Math.abs(rms / std - 1) < 0.05, `${name}: rms ${rms}, std ${std}`);
    }
  });

  it('writes the routing options at a K-quant mix as the Q4_0 file\'s weights quantised again', function () {
    this.timeout(120_000);
    const o = { ...opts('4b', 'q4_k_m'), routing: 'realistic' as const };
    const base = { ...o, type: 'q4_0' as const };
    const spec = buildModelSpec(o);
    assert.equal(spec.metadata.find(([k]) => k === 'general.file_type')![1].value, LLAMA_FTYPE.q4_k_m);
    const types = new Map(spec.tensors.map((t) => [t.name, t.type]));
    assert.equal(types.get('output.weight'), GGML_TYPE_ID.q6_k);
    assert.equal(types.get('blk.0.ffn_norm.weight'), GGML_TYPE_ID.f32);
    for (const [name, type] of [['blk.3.attn_q.weight', 'q4_k'], ['blk.0.attn_v.weight', 'q6_k']] as const) {
      assert.equal(types.get(name), GGML_TYPE_ID[type], name);
      const n = spec.tensors.find((t) => t.name === name)!.dims.reduce((a, b) => a * b, 1);
      const mine = decode(type, tensorBytes(o, name), n);
      const theirs = decode('q4_0', tensorBytes(base, name), n);
      let err = 0, ref = 0;
      for (let i = 0; i < n; i++) {
        err += (mine[i] - theirs[i]) ** 2;
        ref += theirs[i] ** 2;
      }
      assert.ok(Math.sqrt(err / ref) < (type === 'q6_k' ? 0.03 : 0.12), `${name}: relative error ${Math.sqrt(err / ref)}`);
    }
  });

  it('writes valid blocks in every tensor of every tiny-256 file type, and names the files by type', () => {
    const byId = new Map(WEIGHT_TYPES.map((t) => [GGML_TYPE_ID[t], t]));
    for (const type of FILE_TYPES) {
      for (const t of buildModelSpec(opts('tiny-256', type)).tensors) {
        const parts: Buffer[] = [];
        t.write((b) => parts.push(Buffer.from(b)));
        const bytes = Buffer.concat(parts);
        assert.equal(bytes.length, t.nbytes, `${type} ${t.name}`);
        assertValidBlocks(byId.get(t.type)!, bytes, `${type} ${t.name}`);
      }
    }
    assert.equal(modelFileName({ preset: 'tiny-256', type: 'q4_k_m' }), 'st-g2-tiny-256-q4_k_m-small-upstream-s1.gguf');
  });
});

describe('synthetic model generator: the cache makes room on a full disk', () => {
  // Sparse files stand in for generated models; `free` is a disk whose free space grows by what
  // is removed, so the test does not depend on this machine's disk.
  const GB = 1e9;
  let dir: string;
  const model = (name: string, bytes: number, usedSecondsAgo: number) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, '');
    fs.truncateSync(f, bytes);
    const t = new Date(Date.now() - usedSecondsAgo * 1000);
    fs.utimesSync(f, t, t);
    return f;
  };
  const sizeOf = (d: string) => fs.readdirSync(d).reduce((sum, n) => sum + fs.statSync(path.join(d, n)).size, 0);
  /** A disk with `freeNow` bytes free that gains whatever is removed from `dir` from now on. */
  const diskWith = (freeNow: number) => {
    const before = sizeOf(dir);
    return (d: string) => freeNow + before - sizeOf(d);
  };
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'st-cache-')); });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('removes the least recently used big files first, and only as many as it needs', () => {
    model('old.gguf', 3 * GB, 300);
    model('recent.gguf', 3 * GB, 10);
    model('tiny.gguf', 4e6, 900);
    makeRoomFor(dir, 2.4 * GB, path.join(dir, 'new.gguf'), diskWith(2 * GB));
    assert.deepEqual(fs.readdirSync(dir).sort(), ['recent.gguf', 'tiny.gguf']);
  });

  it('never removes the file asked for, and says how much is needed and free when it cannot fit', () => {
    const asked = model('asked.gguf', 3 * GB, 900);
    assert.throws(() => makeRoomFor(dir, 8.5 * GB, asked, diskWith(1 * GB)),
      /not enough disk to generate asked\.gguf: it takes 8\.5 GB plus a 2\.1 GB margin, and 1\.0 GB is free/);
    assert.ok(fs.existsSync(asked));
  });

  it('counts a cache hit as a use without touching the model file (the engine watches its times)', async () => {
    const file = await ensureModel({ preset: 'tiny', type: 'q4_0' });
    const before = fs.statSync(file, { bigint: true });
    await ensureModel({ preset: 'tiny', type: 'q4_0' });
    const after = fs.statSync(file, { bigint: true });
    assert.equal(after.mtimeNs, before.mtimeNs);
    assert.ok(fs.existsSync(`${file}.used`));
  });

  it('goes by the last use recorded beside a file, not only by when it was written', () => {
    model('written-long-ago-used-now.gguf', 3 * GB, 900);
    fs.writeFileSync(path.join(dir, 'written-long-ago-used-now.gguf.used'), '');
    model('written-recently.gguf', 3 * GB, 60);
    makeRoomFor(dir, 2.4 * GB, path.join(dir, 'new.gguf'), diskWith(2 * GB));
    assert.deepEqual(fs.readdirSync(dir).sort(), ['written-long-ago-used-now.gguf', 'written-long-ago-used-now.gguf.used']);
  });

  it('leaves everything alone when there is room', () => {
    model('old.gguf', 3 * GB, 300);
    makeRoomFor(dir, 2.4 * GB, path.join(dir, 'new.gguf'), diskWith(50 * GB));
    assert.deepEqual(fs.readdirSync(dir), ['old.gguf']);
  });
});
