// The generator is deterministic, writes what its layout says, and quantises like ggml.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { buildGgufBuffer } from './gguf-writer';
import { buildModelSpec } from './model';
import { bf16ToF32, dequantizeQ4_0, dequantizeQ8_0, f16ToF32, f32ToBf16, f32ToF16, quantizeQ4_0, quantizeQ8_0 } from './quantize';
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
