// Float conversions and the ggml reference quantisers (Q8_0, Q4_0) for generated weights,
// with the matching dequantisers. Block layouts: Q8_0 = fp16 d + 32 int8; Q4_0 = fp16 d +
// 16 bytes, low nibbles elements 0..15, high nibbles 16..31, value d·(q − 8).

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

export type WeightType = 'f32' | 'f16' | 'bf16' | 'q8_0' | 'q4_0';

export const GGML_TYPE_ID: Record<WeightType, number> = { f32: 0, f16: 1, q4_0: 2, q8_0: 8, bf16: 30 };

export function bytesFor(type: WeightType, n: number): number {
  switch (type) {
    case 'f32': return n * 4;
    case 'f16': case 'bf16': return n * 2;
    case 'q8_0': return (n / 32) * 34;
    case 'q4_0': return (n / 32) * 18;
  }
}

/** Encodes floats as `type` (rows must be whole blocks for the quantised types). */
export function encode(type: WeightType, x: Float32Array): Buffer {
  switch (type) {
    case 'f32': return Buffer.from(x.buffer, x.byteOffset, x.byteLength);
    case 'f16': { const o = Buffer.alloc(x.length * 2); for (let i = 0; i < x.length; i++) o.writeUInt16LE(f32ToF16(x[i]), i * 2); return o; }
    case 'bf16': { const o = Buffer.alloc(x.length * 2); for (let i = 0; i < x.length; i++) o.writeUInt16LE(f32ToBf16(x[i]), i * 2); return o; }
    case 'q8_0': return quantizeQ8_0(x);
    case 'q4_0': return quantizeQ4_0(x);
  }
}
