// Tensor data of a GGUF file as Float64Array, for the float64 reference forward pass.
//
// The header (metadata, tensor names, ggml types, dims, offsets) is parsed by node-llama-cpp's
// own GGUF reader (`readGgufFileInfo`), an implementation independent of ours in native/. The
// data is read here with plain `fs` reads, one tensor (or one slice of a tensor) at a time, so a
// big file is never read whole, and dequantised by the small functions below, written from the
// ggml block definitions:
//
//   F32   4 bytes per value, little-endian IEEE binary32
//   F16   2 bytes per value, IEEE binary16
//   BF16  2 bytes per value, the top 16 bits of a binary32
//   Q8_0  blocks of 32 values, 34 bytes: fp16 scale d, then 32 int8 q;    value = d·q
//   Q4_0  blocks of 32 values, 18 bytes: fp16 scale d, then 16 bytes;     value = d·(q − 8)
//         byte j holds value j in its low nibble and value j + 16 in its high nibble
import fs from 'node:fs';

export const GGML_TYPE_F32 = 0;
export const GGML_TYPE_F16 = 1;
export const GGML_TYPE_Q4_0 = 2;
export const GGML_TYPE_Q8_0 = 8;
export const GGML_TYPE_BF16 = 30;

/** How a type is laid out: `blockValues` values take `blockBytes` bytes. */
const LAYOUT: Record<number, { name: string; blockValues: number; blockBytes: number }> = {
  [GGML_TYPE_F32]: { name: 'F32', blockValues: 1, blockBytes: 4 },
  [GGML_TYPE_F16]: { name: 'F16', blockValues: 1, blockBytes: 2 },
  [GGML_TYPE_BF16]: { name: 'BF16', blockValues: 1, blockBytes: 2 },
  [GGML_TYPE_Q8_0]: { name: 'Q8_0', blockValues: 32, blockBytes: 34 },
  [GGML_TYPE_Q4_0]: { name: 'Q4_0', blockValues: 32, blockBytes: 18 },
};

function layoutOf(type: number) {
  const layout = LAYOUT[type];
  if (!layout) throw new Error(`reference: ggml type ${type} is not supported (only F32, F16, BF16, Q8_0, Q4_0)`);
  return layout;
}

export function ggmlTypeName(type: number): string {
  return LAYOUT[type]?.name ?? `type ${type}`;
}

// ---------------------------------------------------------------------------------------------
// Scalar conversions

/** IEEE binary16 bits → number (exact). */
export function halfToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;              // zero and subnormals
  if (exponent === 31) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

const f32View = new DataView(new ArrayBuffer(4));

/** bfloat16 bits → number (exact): they are the high half of a binary32. */
export function bf16ToNumber(bits: number): number {
  f32View.setUint32(0, (bits & 0xffff) << 16 >>> 0);
  return f32View.getFloat32(0);
}

// ---------------------------------------------------------------------------------------------
// Dequantisation of a run of whole blocks

/** `count` values of type `type` from `bytes` (which starts at a block boundary). */
export function dequantize(type: number, bytes: Uint8Array, count: number): Float64Array {
  const out = new Float64Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (type) {
    case GGML_TYPE_F32:
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true);
      break;
    case GGML_TYPE_F16:
      for (let i = 0; i < count; i++) out[i] = halfToNumber(view.getUint16(2 * i, true));
      break;
    case GGML_TYPE_BF16:
      for (let i = 0; i < count; i++) out[i] = bf16ToNumber(view.getUint16(2 * i, true));
      break;
    case GGML_TYPE_Q8_0:
      for (let b = 0; b < count / 32; b++) {
        const at = 34 * b;
        const d = halfToNumber(view.getUint16(at, true));
        for (let j = 0; j < 32; j++) out[32 * b + j] = d * view.getInt8(at + 2 + j);
      }
      break;
    case GGML_TYPE_Q4_0:
      for (let b = 0; b < count / 32; b++) {
        const at = 18 * b;
        const d = halfToNumber(view.getUint16(at, true));
        for (let j = 0; j < 16; j++) {
          const byte = bytes[at + 2 + j];
          out[32 * b + j] = d * ((byte & 0x0f) - 8);
          out[32 * b + j + 16] = d * ((byte >> 4) - 8);
        }
      }
      break;
    default:
      layoutOf(type);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The file

export interface TensorInfo {
  name: string;
  /** ggml `ne`, innermost (contiguous) dimension first. */
  dims: number[];
  type: number;
  elements: number;
  /** Absolute byte offset of the tensor's data in the file. */
  fileOffset: number;
}

export class GgufTensorFile {
  private constructor(
    readonly path: string,
    /** Metadata as node-llama-cpp returns it: keys split at dots into nested objects. */
    readonly metadata: Record<string, unknown>,
    readonly tensors: Map<string, TensorInfo>,
    private fd: number,
  ) {}

  static async open(path: string): Promise<GgufTensorFile> {
    const { readGgufFileInfo } = await import('node-llama-cpp');
    const info = await readGgufFileInfo(path, {
      readTensorInfo: true, sourceType: 'filesystem', spliceSplitFiles: false, logWarnings: false,
      // The vocabulary is large and not needed here.
      ignoreKeys: ['tokenizer.ggml.tokens', 'tokenizer.ggml.token_type', 'tokenizer.ggml.merges', 'tokenizer.ggml.scores'],
    });
    if (info.infoEndOffset === undefined || !info.tensorInfo) throw new Error(`reference: ${path} has no tensor info`);
    const dataStart = info.infoEndOffset;   // the tensor data section, already aligned by the reader
    const tensors = new Map<string, TensorInfo>();
    for (const t of info.tensorInfo) {
      const dims = t.dimensions.map(Number);
      const fileOffset = dataStart + Number(t.offset);
      if (fileOffset !== Number(t.fileOffset)) throw new Error(`reference: inconsistent offset for ${t.name}`);
      tensors.set(t.name, { name: t.name, dims, type: t.ggmlType, elements: dims.reduce((a, b) => a * b, 1), fileOffset });
    }
    return new GgufTensorFile(path, info.metadata as unknown as Record<string, unknown>, tensors, fs.openSync(path, 'r'));
  }

  /** A metadata value by its full dotted key, e.g. `smallthinker.attention.key_length`. */
  meta(key: string): unknown {
    let node: unknown = this.metadata;
    for (const part of key.split('.')) {
      if (node === null || typeof node !== 'object' || !(part in node)) return undefined;
      node = (node as Record<string, unknown>)[part];
    }
    return node;
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`reference: ${this.path} has no tensor ${name}`);
    return t;
  }

  /** The whole tensor, dequantised, in storage order (dims[0] fastest). */
  read(name: string): Float64Array {
    return this.readRange(name, 0, this.info(name).elements);
  }

  /** `count` consecutive values starting at element `first`; both must fall on block boundaries. */
  readRange(name: string, first: number, count: number): Float64Array {
    const t = this.info(name);
    const { blockValues, blockBytes } = layoutOf(t.type);
    if (first % blockValues !== 0 || count % blockValues !== 0) {
      throw new Error(`reference: ${name}: range ${first}+${count} is not on ${ggmlTypeName(t.type)} block boundaries`);
    }
    if (first < 0 || first + count > t.elements) throw new Error(`reference: ${name}: range ${first}+${count} out of bounds`);
    const bytes = Buffer.alloc((count / blockValues) * blockBytes);
    const position = t.fileOffset + (first / blockValues) * blockBytes;
    let done = 0;
    while (done < bytes.length) {
      const n = fs.readSync(this.fd, bytes, done, bytes.length - done, position + done);
      if (n === 0) throw new Error(`reference: ${this.path} ends inside tensor ${name}`);
      done += n;
    }
    return dequantize(t.type, bytes, count);
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }
}
