// A GGUF (v2/v3) writer for tests: every metadata value type, tensor infos, alignment, and a
// layout of where each section landed, so malformed-file tests can cut and corrupt precisely.
// Tensor data is produced by callbacks and streamed, so multi-gigabyte files never sit in memory.
import fs from 'node:fs';

export enum GgufType { UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7, STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12 }

export type GgufValue =
  | { type: GgufType.UINT8 | GgufType.INT8 | GgufType.UINT16 | GgufType.INT16 | GgufType.UINT32 | GgufType.INT32 | GgufType.FLOAT32 | GgufType.FLOAT64; value: number }
  | { type: GgufType.UINT64 | GgufType.INT64; value: bigint | number }
  | { type: GgufType.BOOL; value: boolean }
  | { type: GgufType.STRING; value: string }
  | { type: GgufType.ARRAY; elementType: GgufType; value: Array<number | bigint | boolean | string | GgufValue> };

export const u32 = (value: number): GgufValue => ({ type: GgufType.UINT32, value });
export const i32 = (value: number): GgufValue => ({ type: GgufType.INT32, value });
export const f32 = (value: number): GgufValue => ({ type: GgufType.FLOAT32, value });
export const bool = (value: boolean): GgufValue => ({ type: GgufType.BOOL, value });
export const str = (value: string): GgufValue => ({ type: GgufType.STRING, value });
export const strArray = (value: string[]): GgufValue => ({ type: GgufType.ARRAY, elementType: GgufType.STRING, value });
export const i32Array = (value: number[]): GgufValue => ({ type: GgufType.ARRAY, elementType: GgufType.INT32, value });

export interface TensorSpec {
  name: string;
  /** ggml order: dims[0] is the contiguous one. */
  dims: number[];
  /** ggml type id (0 F32, 1 F16, 2 Q4_0, 8 Q8_0, 30 BF16, ...). */
  type: number;
  nbytes: number;
  /** Writes the tensor's bytes by calling `emit` with consecutive chunks. */
  write: (emit: (chunk: Uint8Array) => void) => void;
  /** Overrides the computed data offset (for malformed files). */
  offset?: bigint;
}

export interface GgufSpec {
  version?: number;
  alignment?: number;
  metadata: Array<[string, GgufValue]>;
  tensors: TensorSpec[];
}

export interface GgufLayout {
  headerEnd: number;
  kvStart: number;
  kvEntries: Array<{ key: string; offset: number; valueOffset: number }>;
  tensorInfosStart: number;
  tensorInfos: Array<{ name: string; offset: number }>;
  dataStart: number;
  tensors: Array<{ name: string; offset: number; nbytes: number }>;
  fileBytes: number;
}

class ByteBuilder {
  private parts: Buffer[] = [];
  length = 0;
  push(b: Buffer): void { this.parts.push(b); this.length += b.length; }
  u32(v: number): void { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0); this.push(b); }
  u64(v: bigint | number): void { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); this.push(b); }
  string(s: string): void { const b = Buffer.from(s, 'utf8'); this.u64(b.length); this.push(b); }
  concat(): Buffer { return Buffer.concat(this.parts); }
}

function writeScalar(out: ByteBuilder, type: GgufType, value: unknown): void {
  const b8 = Buffer.alloc(8);
  switch (type) {
    case GgufType.UINT8: out.push(Buffer.from([Number(value) & 0xff])); return;
    case GgufType.INT8: b8.writeInt8(Number(value)); out.push(b8.subarray(0, 1)); return;
    case GgufType.UINT16: b8.writeUInt16LE(Number(value)); out.push(b8.subarray(0, 2)); return;
    case GgufType.INT16: b8.writeInt16LE(Number(value)); out.push(b8.subarray(0, 2)); return;
    case GgufType.UINT32: b8.writeUInt32LE(Number(value) >>> 0); out.push(b8.subarray(0, 4)); return;
    case GgufType.INT32: b8.writeInt32LE(Number(value)); out.push(b8.subarray(0, 4)); return;
    case GgufType.FLOAT32: b8.writeFloatLE(Number(value)); out.push(b8.subarray(0, 4)); return;
    case GgufType.FLOAT64: b8.writeDoubleLE(Number(value)); out.push(b8); return;
    case GgufType.UINT64: b8.writeBigUInt64LE(BigInt(value as number)); out.push(b8); return;
    case GgufType.INT64: b8.writeBigInt64LE(BigInt(value as number)); out.push(b8); return;
    case GgufType.BOOL: out.push(Buffer.from([value ? 1 : 0])); return;
    case GgufType.STRING: out.string(String(value)); return;
    default: throw new Error(`not a scalar type: ${type}`);
  }
}

function writeValueBody(out: ByteBuilder, v: GgufValue): void {
  if (v.type !== GgufType.ARRAY) {
    writeScalar(out, v.type, v.value);
    return;
  }
  out.u32(v.elementType);
  out.u64(v.value.length);
  for (const e of v.value) {
    if (v.elementType === GgufType.ARRAY) {
      writeValueBody(out, e as GgufValue);
    } else {
      writeScalar(out, v.elementType, e);
    }
  }
}

const alignUp = (n: number, a: number) => Math.ceil(n / a) * a;

/** Serialises everything before the tensor data, and computes where every section goes. */
export function buildGgufHeader(spec: GgufSpec): { header: Buffer; layout: GgufLayout } {
  const alignment = spec.alignment ?? 32;
  const out = new ByteBuilder();
  out.u32(0x46554747);
  out.u32(spec.version ?? 3);
  out.u64(spec.tensors.length);
  out.u64(spec.metadata.length);
  const headerEnd = out.length;
  const kvEntries: GgufLayout['kvEntries'] = [];
  for (const [key, value] of spec.metadata) {
    const offset = out.length;
    out.string(key);
    out.u32(value.type);
    kvEntries.push({ key, offset, valueOffset: out.length });
    writeValueBody(out, value);
  }
  const tensorInfosStart = out.length;
  const tensorInfos: GgufLayout['tensorInfos'] = [];
  const tensors: GgufLayout['tensors'] = [];
  let dataOffset = 0;
  const relOffsets: number[] = [];
  for (const t of spec.tensors) {
    relOffsets.push(dataOffset);
    dataOffset = alignUp(dataOffset + t.nbytes, alignment);
  }
  spec.tensors.forEach((t, i) => {
    tensorInfos.push({ name: t.name, offset: out.length });
    out.string(t.name);
    out.u32(t.dims.length);
    for (const d of t.dims) out.u64(d);
    out.u32(t.type);
    out.u64(t.offset ?? BigInt(relOffsets[i]));
  });
  const dataStart = alignUp(out.length, alignment);
  out.push(Buffer.alloc(dataStart - out.length));
  spec.tensors.forEach((t, i) => tensors.push({ name: t.name, offset: dataStart + relOffsets[i], nbytes: t.nbytes }));
  const last = spec.tensors.length ? tensors[tensors.length - 1].offset + spec.tensors[spec.tensors.length - 1].nbytes : dataStart;
  return {
    header: out.concat(),
    layout: { headerEnd, kvStart: headerEnd, kvEntries, tensorInfosStart, tensorInfos, dataStart, tensors, fileBytes: last },
  };
}

/** Streams a GGUF file to `path` (tensor data in order, padded to the alignment). */
export function writeGgufFile(path: string, spec: GgufSpec): GgufLayout {
  const { header, layout } = buildGgufHeader(spec);
  const fd = fs.openSync(path, 'w');
  try {
    let pos = 0;
    const emitRaw = (chunk: Uint8Array) => { fs.writeSync(fd, chunk); pos += chunk.length; };
    emitRaw(header);
    spec.tensors.forEach((t, i) => {
      const target = layout.tensors[i].offset;
      if (pos < target) emitRaw(Buffer.alloc(target - pos));
      const start = pos;
      t.write(emitRaw);
      if (pos - start !== t.nbytes) throw new Error(`tensor ${t.name} wrote ${pos - start} bytes, declared ${t.nbytes}`);
    });
  } finally {
    fs.closeSync(fd);
  }
  return layout;
}

/** The whole file in memory (small test files only). */
export function buildGgufBuffer(spec: GgufSpec): { bytes: Buffer; layout: GgufLayout } {
  const { header, layout } = buildGgufHeader(spec);
  const parts: Buffer[] = [header];
  let pos = header.length;
  spec.tensors.forEach((t, i) => {
    const target = layout.tensors[i].offset;
    if (pos < target) { parts.push(Buffer.alloc(target - pos)); pos = target; }
    t.write((c) => { parts.push(Buffer.from(c.buffer, c.byteOffset, c.byteLength)); pos += c.length; });
  });
  return { bytes: Buffer.concat(parts), layout };
}
