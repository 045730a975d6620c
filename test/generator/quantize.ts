// Float conversions and quantisers for generated weights, each with the matching dequantiser.
// Q8_0 and Q4_0 are ggml's reference quantisers (their bytes must not change: cached files
// and hashes depend on them). The other types (Q4_1, Q5_0, Q5_1, IQ4_NL; the 256-element
// K-quants Q2_K..Q6_K and IQ4_XS) use simple choices of our own: every block they write is
// valid (scales within their bit widths, fp16 scales finite) and decodes close to its input,
// but they are not ggml's optimising quantisers, so their bytes differ from llama-quantize's.
// Layouts: /work/shared-notes/quant-layouts.md, ggml-common.h; Q8_0 = fp16 d + 32 int8;
// Q4_0 = fp16 d + 16 bytes, low nibbles elements 0..15, high nibbles 16..31, value d·(q − 8).

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

/** IEEE half from a float, round to nearest even. */
export function f32ToF16(x: number): number {
  f32buf[0] = x;
  const b = u32buf[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) half++;
  return sign | half;
}

export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** bfloat16 from a float, round to nearest even (NaN stays NaN). */
export function f32ToBf16(x: number): number {
  f32buf[0] = x;
  const b = u32buf[0];
  if ((b & 0x7fffffff) > 0x7f800000) return ((b >>> 16) | 0x40) & 0xffff;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

export function bf16ToF32(h: number): number {
  u32buf[0] = h << 16;
  return f32buf[0];
}

const roundHalfAway = (v: number) => Math.sign(v) * Math.round(Math.abs(v));

export function quantizeQ8_0(x: Float32Array): Buffer {
  if (x.length % 32) throw new Error('Q8_0 needs a multiple of 32 values');
  const out = Buffer.alloc((x.length / 32) * 34);
  for (let b = 0; b < x.length / 32; b++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]));
    const d = Math.fround(amax / 127);
    const id = d ? Math.fround(1 / d) : 0;
    out.writeUInt16LE(f32ToF16(d), b * 34);
    for (let j = 0; j < 32; j++) out.writeInt8(roundHalfAway(Math.fround(x[b * 32 + j] * id)), b * 34 + 2 + j);
  }
  return out;
}

export function quantizeQ4_0(x: Float32Array): Buffer {
  if (x.length % 32) throw new Error('Q4_0 needs a multiple of 32 values');
  const out = Buffer.alloc((x.length / 32) * 18);
  for (let b = 0; b < x.length / 32; b++) {
    let amax = 0;
    let max = 0;
    for (let j = 0; j < 32; j++) {
      const v = x[b * 32 + j];
      if (Math.abs(v) > amax) { amax = Math.abs(v); max = v; }
    }
    const d = Math.fround(max / -8);
    const id = d ? Math.fround(1 / d) : 0;
    out.writeUInt16LE(f32ToF16(d), b * 18);
    for (let j = 0; j < 16; j++) {
      const q0 = Math.min(15, Math.trunc(Math.fround(x[b * 32 + j] * id) + 8.5));
      const q1 = Math.min(15, Math.trunc(Math.fround(x[b * 32 + 16 + j] * id) + 8.5));
      out[b * 18 + 2 + j] = q0 | (q1 << 4);
    }
  }
  return out;
}

export function dequantizeQ8_0(buf: Uint8Array, n: number): Float32Array {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out = new Float32Array(n);
  for (let b = 0; b < n / 32; b++) {
    const d = f16ToF32(dv.getUint16(b * 34, true));
    for (let j = 0; j < 32; j++) out[b * 32 + j] = d * dv.getInt8(b * 34 + 2 + j);
  }
  return out;
}

export function dequantizeQ4_0(buf: Uint8Array, n: number): Float32Array {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out = new Float32Array(n);
  for (let b = 0; b < n / 32; b++) {
    const d = f16ToF32(dv.getUint16(b * 18, true));
    for (let j = 0; j < 16; j++) {
      const q = buf[b * 18 + 2 + j];
      out[b * 32 + j] = d * ((q & 15) - 8);
      out[b * 32 + 16 + j] = d * ((q >> 4) - 8);
    }
  }
  return out;
}

// ---- The other ggml weight types ----

/** IQ4_NL's and IQ4_XS's 16 non-linear levels (ggml's kvalues_iq4nl). */
export const IQ4_VALUES = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113] as const;

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

/** The fp16 of a block scale; a scale that does not fit (a weight beyond the half range, NaN) is an error. */
function half(x: number): number {
  const h = f32ToF16(x);
  if ((h & 0x7c00) === 0x7c00) throw new Error(`block scale ${x} does not fit an fp16 (weights too large or not finite)`);
  return h;
}

function checkLength(x: Float32Array, qk: number, name: string): number {
  if (x.length % qk) throw new Error(`${name} needs a multiple of ${qk} values`);
  return x.length / qk;
}

/** The value of largest magnitude (the first such), and that magnitude. */
function signedMax(x: Float32Array, from: number, to: number): { max: number; amax: number } {
  let amax = 0, max = 0;
  for (let i = from; i < to; i++) if (Math.abs(x[i]) > amax) { amax = Math.abs(x[i]); max = x[i]; }
  return { max, amax };
}

function minMax(x: Float32Array, from: number, to: number): { min: number; max: number } {
  let min = Infinity, max = -Infinity;
  for (let i = from; i < to; i++) { min = Math.min(min, x[i]); max = Math.max(max, x[i]); }
  return { min, max };
}

/** q = clamp(round(v / d), lo, hi), or `zero` when d is 0. */
const level = (v: number, d: number, lo: number, hi: number, zero = 0) => (d ? clamp(Math.round(v / d), lo, hi) : zero);

export function quantizeQ4_1(x: Float32Array): Buffer {
  const nb = checkLength(x, 32, 'Q4_1');
  const out = Buffer.alloc(nb * 20);
  for (let b = 0; b < nb; b++) {
    const o = b * 20, xs = b * 32;
    const { min, max } = minMax(x, xs, xs + 32);
    const hd = half((max - min) / 15), hm = half(min);
    const d = f16ToF32(hd), m = f16ToF32(hm);
    out.writeUInt16LE(hd, o);
    out.writeUInt16LE(hm, o + 2);
    for (let j = 0; j < 16; j++) out[o + 4 + j] = level(x[xs + j] - m, d, 0, 15) | (level(x[xs + 16 + j] - m, d, 0, 15) << 4);
  }
  return out;
}

export function dequantizeQ4_1(buf: Uint8Array, n: number): Float32Array {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out = new Float32Array(n);
  for (let b = 0; b < n / 32; b++) {
    const o = b * 20;
    const d = f16ToF32(dv.getUint16(o, true)), m = f16ToF32(dv.getUint16(o + 2, true));
    for (let j = 0; j < 16; j++) {
      out[b * 32 + j] = d * (buf[o + 4 + j] & 15) + m;
      out[b * 32 + 16 + j] = d * (buf[o + 4 + j] >> 4) + m;
    }
  }
  return out;
}

/** Q5_0 (22 B) and Q5_1 (24 B): 5-bit levels; `qs` low/high nibbles as Q4_0, the fifth bits in the uint32 `qh`. */
function writeQ5(out: Buffer, o: number, levels: (j: number) => number): void {
  let h = 0;
  for (let j = 0; j < 16; j++) {
    const q0 = levels(j), q1 = levels(j + 16);
    out[o + 4 + j] = (q0 & 15) | ((q1 & 15) << 4);
    h |= ((q0 >> 4) << j) | ((q1 >> 4) << (j + 16));
  }
  out.writeUInt32LE(h >>> 0, o);
}

function readQ5(buf: Uint8Array, o: number, k: number): number {
  const h = (buf[o] | (buf[o + 1] << 8) | (buf[o + 2] << 16) | (buf[o + 3] << 24)) >>> 0;
  const nibble = k < 16 ? buf[o + 4 + k] & 15 : buf[o + 4 + k - 16] >> 4;
  return nibble | (((h >>> k) & 1) << 4);
}

export function quantizeQ5_0(x: Float32Array): Buffer {
  const nb = checkLength(x, 32, 'Q5_0');
  const out = Buffer.alloc(nb * 22);
  for (let b = 0; b < nb; b++) {
    const o = b * 22, xs = b * 32;
    // As Q4_0: the value of largest magnitude is level 0, d·(0 − 16).
    const hd = half(signedMax(x, xs, xs + 32).max / -16);
    const d = f16ToF32(hd);
    out.writeUInt16LE(hd, o);
    writeQ5(out, o + 2, (j) => level(x[xs + j], d, -16, 15) + 16);
  }
  return out;
}

export function dequantizeQ5_0(buf: Uint8Array, n: number): Float32Array {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out = new Float32Array(n);
  for (let b = 0; b < n / 32; b++) {
    const d = f16ToF32(dv.getUint16(b * 22, true));
    for (let k = 0; k < 32; k++) out[b * 32 + k] = d * (readQ5(buf, b * 22 + 2, k) - 16);
  }
  return out;
}

export function quantizeQ5_1(x: Float32Array): Buffer {
  const nb = checkLength(x, 32, 'Q5_1');
  const out = Buffer.alloc(nb * 24);
  for (let b = 0; b < nb; b++) {
    const o = b * 24, xs = b * 32;
    const { min, max } = minMax(x, xs, xs + 32);
    const hd = half((max - min) / 31), hm = half(min);
    const d = f16ToF32(hd), m = f16ToF32(hm);
    out.writeUInt16LE(hd, o);
    out.writeUInt16LE(hm, o + 2);
    writeQ5(out, o + 4, (j) => level(x[xs + j] - m, d, 0, 31));
  }
  return out;
}

export function dequantizeQ5_1(buf: Uint8Array, n: number): Float32Array {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out = new Float32Array(n);
  for (let b = 0; b < n / 32; b++) {
    const d = f16ToF32(dv.getUint16(b * 24, true)), m = f16ToF32(dv.getUint16(b * 24 + 2, true));
    for (let k = 0; k < 32; k++) out[b * 32 + k] = d * readQ5(buf, b * 24 + 4, k) + m;
  }
  return out;
}

/** The index of the IQ4 level nearest to v. */
function iq4Index(v: number): number {
  let best = 0;
  for (let i = 1; i < 16; i++) if (Math.abs(IQ4_VALUES[i] - v) < Math.abs(IQ4_VALUES[best] - v)) best = i;
  return best;
}

/**
 * A scale for 32 values on the IQ4 levels: the value of largest magnitude on level −127, then
 * refitted by least squares to the levels that picks (never worse than the first guess).
 */
function iq4Scale(x: Float32Array, from: number): number {
  const { max, amax } = signedMax(x, from, from + 32);
  if (amax === 0) return 0;
  const d0 = max / IQ4_VALUES[0];
  let sxk = 0, skk = 0;
  for (let i = from; i < from + 32; i++) {
    const k = IQ4_VALUES[iq4Index(x[i] / d0)];
    sxk += x[i] * k;
    skk += k * k;
  }
  return sxk / skk;
}

/** Writes 32 values with scale dl as IQ4 nibbles (j low, j + 16 high) into out[o..o+16). */
function writeIq4(out: Buffer, o: number, x: Float32Array, from: number, dl: number): void {
  const idx = (v: number) => (dl ? iq4Index(v / dl) : 8);
  for (let j = 0; j < 16; j++) out[o + j] = idx(x[from + j]) | (idx(x[from + 16 + j]) << 4);
}

export function quantizeIQ4_NL(x: Float32Array): Buffer {
  const nb = checkLength(x, 32, 'IQ4_NL');
  const out = Buffer.alloc(nb * 18);
  for (let b = 0; b < nb; b++) {
    const hd = half(iq4Scale(x, b * 32));
    out.writeUInt16LE(hd, b * 18);
    writeIq4(out, b * 18 + 2, x, b * 32, f16ToF32(hd));
  }
  return out;
}

export function dequantizeIQ4_NL(buf: Uint8Array, n: number): Float32Array {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out = new Float32Array(n);
  for (let b = 0; b < n / 32; b++) {
    const d = f16ToF32(dv.getUint16(b * 18, true));
    for (let j = 0; j < 16; j++) {
      const q = buf[b * 18 + 2 + j];
      out[b * 32 + j] = d * IQ4_VALUES[q & 15];
      out[b * 32 + 16 + j] = d * IQ4_VALUES[q >> 4];
    }
  }
  return out;
}

// K-quants: in each 256-value super-block, sub-block i holds values 16i..16i+15 (Q2_K, Q3_K,
// Q6_K) or 32i..32i+31 (Q4_K, Q5_K, IQ4_XS) whatever order the layout stores their bits in.

/**
 * Asymmetric sub-blocks (Q2_K, Q4_K, Q5_K): each covers [min(0, min x), max x] with `nq`
 * levels, as scale and min (≥ 0, subtracted) quantised to `bits` bits against the super-block's
 * d and dmin. Returns d, dmin (as stored) and per sub-block scale, min and the levels.
 */
function asymmetricSuperBlock(x: Float32Array, from: number, sub: number, nq: number, bits: number) {
  const n = 256 / sub, top = (1 << bits) - 1;
  const scales = new Float64Array(n), mins = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const { min, max } = minMax(x, from + i * sub, from + (i + 1) * sub);
    const lo = Math.min(0, min);
    scales[i] = (max - lo) / (nq - 1);
    mins[i] = -lo;
  }
  const hd = half(Math.max(...scales) / top), hdmin = half(Math.max(...mins) / top);
  const d = f16ToF32(hd), dmin = f16ToF32(hdmin);
  const sc = new Uint8Array(n), mn = new Uint8Array(n), q = new Uint8Array(256);
  for (let i = 0; i < n; i++) {
    sc[i] = level(scales[i], d, 0, top);
    mn[i] = level(mins[i], dmin, 0, top);
    for (let k = i * sub; k < (i + 1) * sub; k++) q[k] = level(x[from + k] + dmin * mn[i], d * sc[i], 0, nq - 1);
  }
  return { hd, hdmin, sc, mn, q };
}

/**
 * Symmetric sub-blocks (Q3_K, Q6_K, IQ4_XS): each sub-block's scale s (its value of largest
 * magnitude on level `lowest`, or `subScale`), then the super-block d puts the s of largest
 * magnitude on signed scale `scaleLowest`; the signed scale codes are clamp(round(s/d)).
 */
function symmetricScales(x: Float32Array, from: number, sub: number, subScale: (at: number) => number,
  scaleLowest: number, scaleHighest: number) {
  const n = 256 / sub;
  const s = new Float64Array(n);
  let smax = 0;
  for (let i = 0; i < n; i++) {
    s[i] = subScale(from + i * sub);
    if (Math.abs(s[i]) > Math.abs(smax)) smax = s[i];
  }
  const hd = half(smax / scaleLowest);
  const d = f16ToF32(hd);
  const l = Array.from(s, (v) => level(v, d, scaleLowest, scaleHighest));
  return { hd, d, l };
}

export function quantizeQ2_K(x: Float32Array): Buffer {
  const nb = checkLength(x, 256, 'Q2_K');
  const out = Buffer.alloc(nb * 84);
  for (let b = 0; b < nb; b++) {
    const o = b * 84;
    const { hd, hdmin, sc, mn, q } = asymmetricSuperBlock(x, b * 256, 16, 4, 4);
    for (let i = 0; i < 16; i++) out[o + i] = sc[i] | (mn[i] << 4);
    for (let e = 0; e < 256; e++) {
      const h = e >> 7, j = (e >> 5) & 3, l = e & 31;
      out[o + 16 + 32 * h + l] |= q[e] << (2 * j);
    }
    out.writeUInt16LE(hd, o + 80);
    out.writeUInt16LE(hdmin, o + 82);
  }
  return out;
}

export function dequantizeQ2_K(buf: Uint8Array, n: number): Float32Array {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out = new Float32Array(n);
  for (let b = 0; b < n / 256; b++) {
    const o = b * 84, y = b * 256;
    const d = f16ToF32(dv.getUint16(o + 80, true)), dmin = f16ToF32(dv.getUint16(o + 82, true));
    for (let h = 0; h < 2; h++) {
      const q = o + 16 + 32 * h;
      for (let j = 0; j < 4; j++) {
        const scA = buf[o + 8 * h + 2 * j], scB = buf[o + 8 * h + 2 * j + 1];
        for (let l = 0; l < 16; l++) {
          out[y + 128 * h + 32 * j + l] = d * (scA & 15) * ((buf[q + l] >> (2 * j)) & 3) - dmin * (scA >> 4);
          out[y + 128 * h + 32 * j + 16 + l] = d * (scB & 15) * ((buf[q + l + 16] >> (2 * j)) & 3) - dmin * (scB >> 4);
        }
      }
    }
  }
  return out;
}

/** Q3_K's 16 six-bit scales from its 12 bytes at o (the stored codes, 0..63). */
function q3Scales(buf: Uint8Array, o: number): number[] {
  return Array.from({ length: 16 }, (_, i) =>
    (i < 8 ? buf[o + i] & 15 : buf[o + i - 8] >> 4) | (((buf[o + 8 + (i % 4)] >> (2 * (i >> 2))) & 3) << 4));
}

export function quantizeQ3_K(x: Float32Array): Buffer {
  const nb = checkLength(x, 256, 'Q3_K');
  const out = Buffer.alloc(nb * 110);
  for (let b = 0; b < nb; b++) {
    const o = b * 110, from = b * 256;
    const { hd, d, l } = symmetricScales(x, from, 16, (at) => signedMax(x, at, at + 16).max / -4, -32, 31);
    for (let i = 0; i < 16; i++) {
      const s = l[i] + 32;
      if (i < 8) out[o + 96 + i] |= s & 15;
      else out[o + 96 + i - 8] |= (s & 15) << 4;
      out[o + 96 + 8 + (i % 4)] |= (s >> 4) << (2 * (i >> 2));
    }
    for (let e = 0; e < 256; e++) {
      const q = level(x[from + e], d * l[e >> 4], -4, 3) + 4;  // 0..7: low 2 bits, then the hmask bit
      const h = e >> 7, j = (e >> 5) & 3, k = e & 31;
      out[o + 32 + 32 * h + k] |= (q & 3) << (2 * j);
      if (q >= 4) out[o + k] |= 1 << (4 * h + j);
    }
    out.writeUInt16LE(hd, o + 108);
  }
  return out;
}

export function dequantizeQ3_K(buf: Uint8Array, n: number): Float32Array {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out = new Float32Array(n);
  for (let b = 0; b < n / 256; b++) {
    const o = b * 110, y = b * 256;
    const d = f16ToF32(dv.getUint16(o + 108, true));
    const s = q3Scales(buf, o + 96);
    for (let h = 0; h < 2; h++) {
      const q = o + 32 + 32 * h;
      for (let j = 0; j < 4; j++) {
        const m = 1 << (4 * h + j);
        const dA = d * (s[8 * h + 2 * j] - 32), dB = d * (s[8 * h + 2 * j + 1] - 32);
        for (let l = 0; l < 16; l++) {
          out[y + 128 * h + 32 * j + l] = dA * (((buf[q + l] >> (2 * j)) & 3) - (buf[o + l] & m ? 0 : 4));
          out[y + 128 * h + 32 * j + 16 + l] = dB * (((buf[q + l + 16] >> (2 * j)) & 3) - (buf[o + l + 16] & m ? 0 : 4));
        }
      }
    }
  }
  return out;
}

/** Packs Q4_K's and Q5_K's eight 6-bit scales and mins into 12 bytes at o. */
function packScaleMin6(out: Buffer, o: number, sc: Uint8Array, mn: Uint8Array): void {
  for (let i = 0; i < 4; i++) {
    out[o + i] = sc[i] | ((sc[i + 4] >> 4) << 6);
    out[o + i + 4] = mn[i] | ((mn[i + 4] >> 4) << 6);
    out[o + i + 8] = (sc[i + 4] & 15) | ((mn[i + 4] & 15) << 4);
  }
}

/** Q4_K's and Q5_K's scale and min of sub-block i from the 12 bytes at o. */
function scaleMin6(buf: Uint8Array, o: number, i: number): [number, number] {
  if (i < 4) return [buf[o + i] & 63, buf[o + i + 4] & 63];
  return [(buf[o + i + 4] & 15) | ((buf[o + i - 4] >> 6) << 4), (buf[o + i + 4] >> 4) | ((buf[o + i] >> 6) << 4)];
}

export function quantizeQ4_K(x: Float32Array): Buffer {
  const nb = checkLength(x, 256, 'Q4_K');
  const out = Buffer.alloc(nb * 144);
  for (let b = 0; b < nb; b++) {
    const o = b * 144;
    const { hd, hdmin, sc, mn, q } = asymmetricSuperBlock(x, b * 256, 32, 16, 6);
    out.writeUInt16LE(hd, o);
    out.writeUInt16LE(hdmin, o + 2);
    packScaleMin6(out, o + 4, sc, mn);
    for (let e = 0; e < 256; e++) out[o + 16 + 32 * (e >> 6) + (e & 31)] |= q[e] << (e & 32 ? 4 : 0);
  }
  return out;
}

export function dequantizeQ4_K(buf: Uint8Array, n: number): Float32Array {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out = new Float32Array(n);
  for (let b = 0; b < n / 256; b++) {
    const o = b * 144, y = b * 256;
    const d = f16ToF32(dv.getUint16(o, true)), dmin = f16ToF32(dv.getUint16(o + 2, true));
    for (let p = 0; p < 4; p++) {
      const [sc0, mn0] = scaleMin6(buf, o + 4, 2 * p), [sc1, mn1] = scaleMin6(buf, o + 4, 2 * p + 1);
      const q = o + 16 + 32 * p;
      for (let l = 0; l < 32; l++) {
        out[y + 64 * p + l] = d * sc0 * (buf[q + l] & 15) - dmin * mn0;
        out[y + 64 * p + 32 + l] = d * sc1 * (buf[q + l] >> 4) - dmin * mn1;
      }
    }
  }
  return out;
}

export function quantizeQ5_K(x: Float32Array): Buffer {
  const nb = checkLength(x, 256, 'Q5_K');
  const out = Buffer.alloc(nb * 176);
  for (let b = 0; b < nb; b++) {
    const o = b * 176;
    const { hd, hdmin, sc, mn, q } = asymmetricSuperBlock(x, b * 256, 32, 32, 6);
    out.writeUInt16LE(hd, o);
    out.writeUInt16LE(hdmin, o + 2);
    packScaleMin6(out, o + 4, sc, mn);
    for (let e = 0; e < 256; e++) {
      out[o + 48 + 32 * (e >> 6) + (e & 31)] |= (q[e] & 15) << (e & 32 ? 4 : 0);
      out[o + 16 + (e & 31)] |= (q[e] >> 4) << (e >> 5);  // bit (sub-block index) of qh[l]
    }
  }
  return out;
}

export function dequantizeQ5_K(buf: Uint8Array, n: number): Float32Array {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out = new Float32Array(n);
  for (let b = 0; b < n / 256; b++) {
    const o = b * 176, y = b * 256;
    const d = f16ToF32(dv.getUint16(o, true)), dmin = f16ToF32(dv.getUint16(o + 2, true));
    for (let p = 0; p < 4; p++) {
      const [sc0, mn0] = scaleMin6(buf, o + 4, 2 * p), [sc1, mn1] = scaleMin6(buf, o + 4, 2 * p + 1);
      const ql = o + 48 + 32 * p, qh = o + 16;
      for (let l = 0; l < 32; l++) {
        out[y + 64 * p + l] = d * sc0 * ((buf[ql + l] & 15) + ((buf[qh + l] >> (2 * p)) & 1) * 16) - dmin * mn0;
        out[y + 64 * p + 32 + l] = d * sc1 * ((buf[ql + l] >> 4) + ((buf[qh + l] >> (2 * p + 1)) & 1) * 16) - dmin * mn1;
      }
    }
  }
  return out;
}

export function quantizeQ6_K(x: Float32Array): Buffer {
  const nb = checkLength(x, 256, 'Q6_K');
  const out = Buffer.alloc(nb * 210);
  for (let b = 0; b < nb; b++) {
    const o = b * 210, from = b * 256;
    const { hd, d, l } = symmetricScales(x, from, 16, (at) => signedMax(x, at, at + 16).max / -32, -128, 127);
    for (let i = 0; i < 16; i++) out.writeInt8(l[i], o + 192 + i);
    for (let e = 0; e < 256; e++) {
      const q = level(x[from + e], d * l[e >> 4], -32, 31) + 32;
      // Quarter t of half h: ql[64h + l (+32 for t odd)], low nibble for t < 2; qh[32h + l] bits 2t..2t+1.
      const h = e >> 7, t = (e >> 5) & 3, k = e & 31;
      out[o + 64 * h + k + (t & 1 ? 32 : 0)] |= (q & 15) << (t & 2 ? 4 : 0);
      out[o + 128 + 32 * h + k] |= (q >> 4) << (2 * t);
    }
    out.writeUInt16LE(hd, o + 208);
  }
  return out;
}

export function dequantizeQ6_K(buf: Uint8Array, n: number): Float32Array {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out = new Float32Array(n);
  for (let b = 0; b < n / 256; b++) {
    const o = b * 210, y = b * 256;
    const d = f16ToF32(dv.getUint16(o + 208, true));
    for (let h = 0; h < 2; h++) {
      const ql = o + 64 * h, qh = o + 128 + 32 * h, sc = o + 192 + 8 * h;
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const sc8 = (k: number) => dv.getInt8(sc + is + k);
        out[y + 128 * h + l] = d * sc8(0) * (((buf[ql + l] & 15) | (((buf[qh + l] >> 0) & 3) << 4)) - 32);
        out[y + 128 * h + l + 32] = d * sc8(2) * (((buf[ql + l + 32] & 15) | (((buf[qh + l] >> 2) & 3) << 4)) - 32);
        out[y + 128 * h + l + 64] = d * sc8(4) * (((buf[ql + l] >> 4) | (((buf[qh + l] >> 4) & 3) << 4)) - 32);
        out[y + 128 * h + l + 96] = d * sc8(6) * (((buf[ql + l + 32] >> 4) | (((buf[qh + l] >> 6) & 3) << 4)) - 32);
      }
    }
  }
  return out;
}

export function quantizeIQ4_XS(x: Float32Array): Buffer {
  const nb = checkLength(x, 256, 'IQ4_XS');
  const out = Buffer.alloc(nb * 136);
  for (let b = 0; b < nb; b++) {
    const o = b * 136, from = b * 256;
    const { hd, d, l } = symmetricScales(x, from, 32, (at) => iq4Scale(x, at), -32, 31);
    out.writeUInt16LE(hd, o);
    let scalesH = 0;
    for (let ib = 0; ib < 8; ib++) {
      const ls = l[ib] + 32;
      out[o + 4 + (ib >> 1)] |= (ls & 15) << (4 * (ib & 1));
      scalesH |= (ls >> 4) << (2 * ib);
      writeIq4(out, o + 8 + 16 * ib, x, from + 32 * ib, d * l[ib]);
    }
    out.writeUInt16LE(scalesH, o + 2);
  }
  return out;
}

export function dequantizeIQ4_XS(buf: Uint8Array, n: number): Float32Array {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out = new Float32Array(n);
  for (let b = 0; b < n / 256; b++) {
    const o = b * 136, y = b * 256;
    const d = f16ToF32(dv.getUint16(o, true)), scalesH = dv.getUint16(o + 2, true);
    for (let ib = 0; ib < 8; ib++) {
      const ls = ((buf[o + 4 + (ib >> 1)] >> (4 * (ib % 2))) & 15) | (((scalesH >> (2 * ib)) & 3) << 4);
      const dl = d * (ls - 32), q = o + 8 + 16 * ib;
      for (let j = 0; j < 16; j++) {
        out[y + 32 * ib + j] = dl * IQ4_VALUES[buf[q + j] & 15];
        out[y + 32 * ib + j + 16] = dl * IQ4_VALUES[buf[q + j] >> 4];
      }
    }
  }
  return out;
}

// ---- By type ----

export const WEIGHT_TYPES = ['f32', 'f16', 'bf16', 'q8_0', 'q4_0', 'q4_1', 'q5_0', 'q5_1', 'iq4_nl',
  'q2_k', 'q3_k', 'q4_k', 'q5_k', 'q6_k', 'iq4_xs'] as const;
/** A ggml tensor type. */
export type WeightType = typeof WEIGHT_TYPES[number];

export const GGML_TYPE_ID: Record<WeightType, number> = {
  f32: 0, f16: 1, q4_0: 2, q4_1: 3, q5_0: 6, q5_1: 7, q8_0: 8, q2_k: 10, q3_k: 11, q4_k: 12, q5_k: 13, q6_k: 14,
  iq4_nl: 20, iq4_xs: 23, bf16: 30,
};

/** Values per block and bytes per block of each type. */
export const BLOCK: Record<WeightType, { elements: number; bytes: number }> = {
  f32: { elements: 1, bytes: 4 }, f16: { elements: 1, bytes: 2 }, bf16: { elements: 1, bytes: 2 },
  q8_0: { elements: 32, bytes: 34 }, q4_0: { elements: 32, bytes: 18 }, q4_1: { elements: 32, bytes: 20 },
  q5_0: { elements: 32, bytes: 22 }, q5_1: { elements: 32, bytes: 24 }, iq4_nl: { elements: 32, bytes: 18 },
  q2_k: { elements: 256, bytes: 84 }, q3_k: { elements: 256, bytes: 110 }, q4_k: { elements: 256, bytes: 144 },
  q5_k: { elements: 256, bytes: 176 }, q6_k: { elements: 256, bytes: 210 }, iq4_xs: { elements: 256, bytes: 136 },
};

export function bytesFor(type: WeightType, n: number): number {
  const { elements, bytes } = BLOCK[type];
  if (n % elements) throw new Error(`${type} needs a multiple of ${elements} values, not ${n}`);
  return (n / elements) * bytes;
}

const QUANTIZERS: Record<Exclude<WeightType, 'f32' | 'f16' | 'bf16'>, (x: Float32Array) => Buffer> = {
  q8_0: quantizeQ8_0, q4_0: quantizeQ4_0, q4_1: quantizeQ4_1, q5_0: quantizeQ5_0, q5_1: quantizeQ5_1,
  iq4_nl: quantizeIQ4_NL, q2_k: quantizeQ2_K, q3_k: quantizeQ3_K, q4_k: quantizeQ4_K, q5_k: quantizeQ5_K,
  q6_k: quantizeQ6_K, iq4_xs: quantizeIQ4_XS,
};

const DEQUANTIZERS: Record<Exclude<WeightType, 'f32' | 'f16' | 'bf16'>, (buf: Uint8Array, n: number) => Float32Array> = {
  q8_0: dequantizeQ8_0, q4_0: dequantizeQ4_0, q4_1: dequantizeQ4_1, q5_0: dequantizeQ5_0, q5_1: dequantizeQ5_1,
  iq4_nl: dequantizeIQ4_NL, q2_k: dequantizeQ2_K, q3_k: dequantizeQ3_K, q4_k: dequantizeQ4_K, q5_k: dequantizeQ5_K,
  q6_k: dequantizeQ6_K, iq4_xs: dequantizeIQ4_XS,
};

/** Encodes floats as `type` (rows must be whole blocks for the quantised types). */
export function encode(type: WeightType, x: Float32Array): Buffer {
  switch (type) {
    case 'f32': return Buffer.from(x.buffer, x.byteOffset, x.byteLength);
    case 'f16': { const o = Buffer.alloc(x.length * 2); for (let i = 0; i < x.length; i++) o.writeUInt16LE(f32ToF16(x[i]), i * 2); return o; }
    case 'bf16': { const o = Buffer.alloc(x.length * 2); for (let i = 0; i < x.length; i++) o.writeUInt16LE(f32ToBf16(x[i]), i * 2); return o; }
    default: return QUANTIZERS[type](x);
  }
}

/** Decodes n values of `type` (the inverse of encode, up to the type's rounding). */
export function decode(type: WeightType, buf: Uint8Array, n: number): Float32Array {
  if (buf.byteLength < bytesFor(type, n)) throw new Error(`${n} ${type} values need ${bytesFor(type, n)} bytes, got ${buf.byteLength}`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  switch (type) {
    case 'f32': return Float32Array.from({ length: n }, (_, i) => dv.getFloat32(i * 4, true));
    case 'f16': return Float32Array.from({ length: n }, (_, i) => f16ToF32(dv.getUint16(i * 2, true)));
    case 'bf16': return Float32Array.from({ length: n }, (_, i) => bf16ToF32(dv.getUint16(i * 2, true)));
    default: return DEQUANTIZERS[type](buf, n);
  }
}
