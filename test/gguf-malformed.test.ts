// Malformed and hostile GGUF files: each gets one clear error naming the problem (and, for
// format damage, the field and offset); none crashes, hangs or allocates wildly.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { loadNativeAddon } from '../engine/native-addon';
import { buildGgufBuffer, u32, str, i32Array, GgufType, type GgufSpec, type GgufValue } from './generator/gguf-writer';
import { buildModelSpec } from './generator/index';

const addon = loadNativeAddon();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'st-malformed-'));
const cli = path.resolve(__dirname, '..', 'dist', 'cli.js');

const baseSpec = (): GgufSpec => buildModelSpec({ preset: 'tiny', type: 'f32', vocab: 'small', flavour: 'upstream', seed: 7 });
const base = buildGgufBuffer(baseSpec());

function write(name: string, bytes: Buffer): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, bytes);
  return file;
}

function patched(mutate: (b: Buffer) => void): Buffer {
  const b = Buffer.from(base.bytes);
  mutate(b);
  return b;
}

function fromSpec(mutate: (s: GgufSpec) => void): Buffer {
  const s = baseSpec();
  mutate(s);
  return buildGgufBuffer(s).bytes;
}

function setKey(s: GgufSpec, key: string, value: GgufValue | undefined): void {
  const i = s.metadata.findIndex(([k]) => k === key);
  if (value === undefined) s.metadata.splice(i, 1);
  else if (i >= 0) s.metadata[i] = [key, value];
  else s.metadata.push([key, value]);
}

const kv = (key: string) => base.layout.kvEntries.find((e) => e.key === key)!;
const tensorInfo = (name: string) => base.layout.tensorInfos.find((t) => t.name === name)!;

function expectError(name: string, bytes: Buffer, pattern: RegExp): void {
  const file = write(name, bytes);
  assert.throws(() => addon.inspect(file), (err: Error) => {
    assert.match(err.message, pattern);
    assert.ok(!err.message.includes('\n'), 'one line');
    return true;
  });
}

describe('GGUF reader: malformed files give clear errors', () => {
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('accepts the unmodified file', () => {
    assert.equal(addon.inspect(write('ok.gguf', base.bytes)).arch, 'smallthinker');
  });

  it('an empty file', () => expectError('empty.gguf', Buffer.alloc(0), /empty\.gguf: header at offset 0: the file is empty/));
  it('a missing file', () => assert.throws(() => addon.inspect(path.join(dir, 'nope.gguf')), /nope\.gguf: cannot open: No such file/));
  it('a directory', () => assert.throws(() => addon.inspect(dir), /not a regular file/));
  it('bad magic', () => expectError('magic.gguf', patched((b) => b.write('GGML', 0)), /magic at offset 0: not a GGUF file/));
  it('GGUF v1', () => expectError('v1.gguf', patched((b) => b.writeUInt32LE(1, 4)), /version at offset 4: unsupported GGUF version 1/));
  it('an unknown future version', () => expectError('v9.gguf', patched((b) => b.writeUInt32LE(9, 4)), /unsupported GGUF version 9/));
  it('reads GGUF v2 files', () => {
    const file = write('v2.gguf', fromSpec((s) => { s.version = 2; }));
    assert.equal(addon.inspect(file).gguf_version, 2);
  });

  it('truncation inside the fixed header', () => expectError('trunc-header.gguf', base.bytes.subarray(0, 12), /tensor count at offset 8: file truncated/));

  it('truncation at every metadata entry boundary', () => {
    for (const [i, entry] of base.layout.kvEntries.entries()) {
      for (const cut of [entry.offset, entry.offset + 3, entry.valueOffset]) {
        expectError(`trunc-kv-${i}-${cut}.gguf`, base.bytes.subarray(0, cut), /at offset \d+: (file truncated|string length \d+ exceeds|array of \d+|\d+ entries cannot fit in the \d+ bytes left \(file truncated\?\))/);
      }
    }
  });

  it('truncation at every tensor info boundary', () => {
    for (const [i, t] of base.layout.tensorInfos.entries()) {
      expectError(`trunc-ti-${i}.gguf`, base.bytes.subarray(0, t.offset + 9), /tensor info #\d+.* at offset \d+: (file truncated|string length)/);
    }
  });

  it('truncation inside the tensor data', () => {
    const last = base.layout.tensors[base.layout.tensors.length - 1];
    expectError('trunc-data.gguf', base.bytes.subarray(0, last.offset + 10), new RegExp(`tensor '${last.name}' data at offset ${last.offset}: \\d+ bytes extend past the end of the file`));
    expectError('trunc-before-data.gguf', base.bytes.subarray(0, base.layout.dataStart - 1), /(file truncated before the tensor data|extend past the end)/);
  });

  it('an absurd tensor count', () => expectError('tcount.gguf', patched((b) => b.writeBigUInt64LE(1n << 60n, 8)), /tensor count at offset 8: absurd tensor count 1152921504606846976/));
  it('an absurd metadata count', () => expectError('kvcount.gguf', patched((b) => b.writeBigUInt64LE(0xffffffffffffn, 16)), /metadata count at offset 16: absurd metadata count/));
  it('an absurd key length', () => expectError('keylen.gguf', patched((b) => b.writeBigUInt64LE(1n << 62n, kv('general.name').offset)), /metadata entry #1 key at offset \d+: string length 4611686018427387904 exceeds/));
  it('an absurd string value length', () => expectError('strlen.gguf', patched((b) => b.writeBigUInt64LE(1n << 40n, kv('general.name').valueOffset)), /metadata 'general.name' at offset \d+: string length 1099511627776 exceeds/));
  it('an absurd array length', () => expectError('arrlen.gguf', patched((b) => b.writeBigUInt64LE(1n << 50n, kv('tokenizer.ggml.tokens').valueOffset + 4)), /metadata 'tokenizer.ggml.tokens' at offset \d+: array of 1125899906842624 string elements cannot fit in the \d+ bytes left/));
  it('arrays nested too deep', () => {
    let v: GgufValue = { type: GgufType.ARRAY, elementType: GgufType.UINT8, value: [1] };
    for (let d = 0; d < 6; d++) v = { type: GgufType.ARRAY, elementType: GgufType.ARRAY, value: [v] };
    expectError('nested.gguf', fromSpec((s) => setKey(s, 'test.nested', v)), /metadata 'test.nested'.* arrays nested deeper than 4/);
  });
  it('reads nested arrays of every scalar type', () => {
    const types = [GgufType.UINT8, GgufType.INT8, GgufType.UINT16, GgufType.INT16, GgufType.UINT32, GgufType.INT32, GgufType.FLOAT32, GgufType.UINT64, GgufType.INT64, GgufType.FLOAT64];
    const file = write('nested-ok.gguf', fromSpec((s) => {
      setKey(s, 'test.nested', { type: GgufType.ARRAY, elementType: GgufType.ARRAY, value: types.map((t) => ({ type: GgufType.ARRAY, elementType: t, value: [1, 2] })) as GgufValue[] });
      setKey(s, 'test.flag', { type: GgufType.BOOL, value: true });
      setKey(s, 'test.f64', { type: GgufType.FLOAT64, value: 0.5 });
      setKey(s, 'test.i64', { type: GgufType.INT64, value: -5n });
    }));
    assert.equal(addon.inspect(file).arch, 'smallthinker');
  });
  it('an unknown metadata value type', () => expectError('vtype.gguf', patched((b) => b.writeUInt32LE(77, kv('general.name').valueOffset - 4)), /metadata 'general.name' type at offset \d+: unknown value type 77/));
  it('a bool that is neither 0 nor 1', () => expectError('bool.gguf', patched((b) => { b[kv('tokenizer.ggml.add_bos_token').valueOffset] = 7; }), /'tokenizer.ggml.add_bos_token' at offset \d+: bool value 7/));
  it('a duplicate key', () => expectError('dupkey.gguf', fromSpec((s) => s.metadata.push(['general.name', str('again')])), /metadata 'general.name' at offset \d+: duplicate key/));
  it('a bad alignment', () => expectError('align.gguf', fromSpec((s) => setKey(s, 'general.alignment', u32(3))), /'general.alignment'.*alignment 3 is not a power of two/));

  it('more than 4 dimensions', () => expectError('ndims.gguf', patched((b) => b.writeUInt32LE(5, tensorInfo('output_norm.weight').offset + 8 + 'output_norm.weight'.length)), /tensor info #1 \(output_norm.weight\) n_dims at offset \d+: n_dims 5 is not 1..4/));
  it('a zero dimension', () => expectError('zerodim.gguf', patched((b) => b.writeBigUInt64LE(0n, tensorInfo('output_norm.weight').offset + 12 + 'output_norm.weight'.length)), /dimension 0 is zero/));
  it('dimensions whose product overflows', () => expectError('overflow.gguf', fromSpec((s) => { s.tensors[0].dims = [2 ** 40, 2 ** 40]; s.tensors[0].nbytes = 0; }), /tensor info #0 \(token_embd.weight\) dims at offset \d+: element count overflows/));
  it('a tensor past the end of the file', () => expectError('pastend.gguf', fromSpec((s) => { s.tensors[3].offset = 1n << 40n; }), /tensor '.*' data at offset \d+: \d+ bytes extend past the end of the file/));
  it('a misaligned tensor offset', () => expectError('misaligned.gguf', fromSpec((s) => { s.tensors[2].offset = 7n; }), /offset at offset \d+: data offset 7 is not aligned to 32/));
  it('an unknown tensor type', () => expectError('ttype.gguf', fromSpec((s) => { s.tensors[1].type = 31; }), /tensor info #1 \(output_norm.weight\) type at offset \d+: unknown ggml type 31/));
  it('a duplicate tensor name', () => expectError('duptensor.gguf', fromSpec((s) => { s.tensors[2].name = s.tensors[1].name; }), /tensor info #2 \(output_norm.weight\) at offset \d+: duplicate tensor name/));
  it('a row that is not whole quantisation blocks', () => expectError('blocks.gguf', fromSpec((s) => { s.tensors[1].type = 2; s.tensors[1].dims = [100]; s.tensors[1].nbytes = 0; }), /row of 100 elements is not a whole number of Q4_0 blocks/));

  it('a wrong architecture', () => expectError('arch.gguf', fromSpec((s) => setKey(s, 'general.architecture', str('llama'))), /arch\.gguf: wrong architecture 'llama' \(expected smallthinker\)/));
  it('no architecture at all', () => expectError('noarch.gguf', fromSpec((s) => setKey(s, 'general.architecture', undefined)), /missing 'general.architecture'/));
  it('a missing hyper-parameter', () => expectError('nolayers.gguf', fromSpec((s) => setKey(s, 'smallthinker.block_count', undefined)), /missing hyper-parameter 'smallthinker.block_count'/));
  it('an impossible hyper-parameter', () => expectError('experts.gguf', fromSpec((s) => setKey(s, 'smallthinker.expert_used_count', u32(9))), /expert_used_count 9 exceeds expert_count 8/));
  it('a missing SmallThinker tensor', () => expectError('missing.gguf', fromSpec((s) => { s.tensors = s.tensors.filter((t) => t.name !== 'blk.1.attn_k.weight'); }), /missing tensor 'blk.1.attn_k.weight'/));
  it('a mis-shaped SmallThinker tensor', () => expectError('shape.gguf', fromSpec((s) => { const t = s.tensors.find((x) => x.name === 'blk.0.attn_q.weight')!; t.dims = [64, 256]; }), /tensor 'blk.0.attn_q.weight' has shape \[64, 256\], expected \[128, 128\]/));
  it('an unsupported tensor type', () => expectError('q41.gguf', fromSpec((s) => { const t = s.tensors.find((x) => x.name === 'blk.0.attn_v.weight')!; t.type = 39; t.nbytes = (128 * 64 / 32) * 17; }), /tensor 'blk.0.attn_v.weight' has unsupported tensor type MXFP4/));
  it('a vocabulary that does not match the embedding', () => expectError('vocab.gguf', fromSpec((s) => setKey(s, 'tokenizer.ggml.tokens', { type: GgufType.ARRAY, elementType: GgufType.STRING, value: ['a', 'b'] })), /the vocabulary has 2 tokens but token_embd.weight has \d+ rows/));

  describe('the tokenizer is checked by inspect, before any load', () => {
    const strings = (value: string[]): GgufValue => ({ type: GgufType.ARRAY, elementType: GgufType.STRING, value });
    it('a BOS id outside the vocabulary', () => expectError('bos.gguf', fromSpec((s) => setKey(s, 'tokenizer.ggml.bos_token_id', u32(100_000))),
      /bos\.gguf: 'tokenizer.ggml.bos_token_id' = 100000 is not a token id \(the vocabulary has \d+ tokens\)/));
    it('an EOS id that is not an integer', () => expectError('eos.gguf', fromSpec((s) => setKey(s, 'tokenizer.ggml.eos_token_id', str('3'))),
      /'tokenizer.ggml.eos_token_id' must be an integer token id, not string/));
    it('a token_type array of the wrong length', () => expectError('types.gguf', fromSpec((s) => setKey(s, 'tokenizer.ggml.token_type', i32Array([1, 1, 3]))),
      /types\.gguf: 'tokenizer.ggml.token_type' has 3 entries for \d+ tokens/));
    it('token types that are not integers', () => expectError('types-str.gguf', fromSpec((s) => {
      const n = (s.metadata.find(([k]) => k === 'tokenizer.ggml.tokens')![1].value as string[]).length;
      setKey(s, 'tokenizer.ggml.token_type', strings(new Array(n).fill('1')));
    }), /'tokenizer.ggml.token_type' must be an integer array, not an array of string/));
    it('a merge without separator', () => expectError('merge.gguf', fromSpec((s) => setKey(s, 'tokenizer.ggml.merges', strings(['a b', 'ab', 'c d']))),
      /merge\.gguf: 'tokenizer.ggml.merges' #1 'ab' has no space between its two parts/));
    it('a merge with a line break, shown escaped', () => expectError('merge-nl.gguf', fromSpec((s) => setKey(s, 'tokenizer.ggml.merges', strings(['a b', 'x\ny']))),
      /'tokenizer.ggml.merges' #1 'x\\ny' has no space/));
    it('merges that are not strings', () => expectError('merge-int.gguf', fromSpec((s) => setKey(s, 'tokenizer.ggml.merges', i32Array([1]))),
      /'tokenizer.ggml.merges' must be an array of strings/));
    it('tokens that are not strings', () => expectError('tokens.gguf', fromSpec((s) => setKey(s, 'tokenizer.ggml.tokens', i32Array([1, 2]))),
      /'tokenizer.ggml.tokens' must be a non-empty array of strings/));
    it('no tokenizer', () => expectError('no-tok.gguf', fromSpec((s) => setKey(s, 'tokenizer.ggml.model', undefined)), /missing 'tokenizer.ggml.model'/));
    it('a tokenizer other than byte-level BPE', () => expectError('spm.gguf', fromSpec((s) => setKey(s, 'tokenizer.ggml.model', str('llama'))),
      /unsupported tokenizer 'llama' \(expected gpt2 byte-level BPE\)/));
    it('warns about a special id this engine does not use that is outside the vocabulary', () => {
      const report = addon.inspect(write('pad.gguf', fromSpec((s) => setKey(s, 'tokenizer.ggml.padding_token_id', u32(1 << 20)))));
      assert.ok(report.warnings.some((w) => /'tokenizer.ggml.padding_token_id' = 1048576 is not a token id \(ignored\)/.test(w)), report.warnings.join('; '));
    });
    it('warns about a pre-tokenizer other than Qwen2\'s, or none', () => {
      const warnings = (pre: string | undefined) =>
        addon.inspect(write('pre.gguf', fromSpec((s) => setKey(s, 'tokenizer.ggml.pre', pre === undefined ? undefined : str(pre))))).warnings;
      assert.ok(warnings('llama-bpe').some((w) => /tokenizer.ggml.pre is 'llama-bpe': text is split as Qwen2's/.test(w)));
      assert.ok(warnings(undefined).some((w) => /tokenizer.ggml.pre is missing/.test(w)));
      assert.deepEqual(warnings('deepseek-r1-qwen'), [], 'llama.cpp splits it as Qwen2');
    });
    it('the engine\'s tokenizer refuses the same files with the same messages', () => {
      const file = write('bos-again.gguf', fromSpec((s) => setKey(s, 'tokenizer.ggml.bos_token_id', u32(100_000))));
      assert.throws(() => addon.tokenizerFromModel(file), /'tokenizer.ggml.bos_token_id' = 100000 is not a token id/);
    });
  });

  describe('hostile metadata costs at most the reader\'s memory budget', function () {
    this.timeout(60_000);
    // The base file with `counts.length` extra keys, key i an array of counts[i] empty arrays:
    // 12 bytes each in the file (all zero: element type uint8, count 0), but a whole parsed
    // value each in memory. Counts are multiples of 8 so the tensor data stays aligned.
    function emptyArrays(counts: number[]): Buffer {
      const s = baseSpec();
      counts.forEach((_, i) => setKey(s, `test.nested.${i}`, { type: GgufType.ARRAY, elementType: GgufType.ARRAY, value: [] }));
      const { bytes, layout } = buildGgufBuffer(s);
      const parts: Buffer[] = [];
      let pos = 0;
      counts.forEach((n, i) => {
        const countAt = layout.kvEntries.find((e) => e.key === `test.nested.${i}`)!.valueOffset + 4;
        const count = Buffer.alloc(8);
        count.writeBigUInt64LE(BigInt(n));
        parts.push(bytes.subarray(pos, countAt), count, Buffer.alloc(n * 12));
        pos = countAt + 8;
      });
      parts.push(bytes.subarray(pos));
      return Buffer.concat(parts);
    }

    // Inspects in a fresh process, so its peak resident set measures this file alone.
    function inspectAlone(file: string): { message: string; ms: number; growthMiB: number } {
      const script = `
        const addon = require(${JSON.stringify(path.resolve(__dirname, '..', 'engine', 'native-addon.ts'))}).loadNativeAddon();
        const before = addon.peakRssBytes();
        const t0 = performance.now();
        let message = '';
        try { addon.inspect(${JSON.stringify(file)}); } catch (err) { message = err.message; }
        process.stdout.write(JSON.stringify({ message, ms: performance.now() - t0, growthMiB: (addon.peakRssBytes() - before) / 2 ** 20 }));`;
      const r = spawnSync(process.execPath, ['--import=tsx', '-e', script], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout);
    }

    it('refuses one array of 4 million empty arrays (48 MB) at its count, before allocating', () => {
      const r = inspectAlone(write('empty-arrays.gguf', emptyArrays([4_000_000])));
      assert.match(r.message, /empty-arrays\.gguf: metadata 'test\.nested\.0' at offset \d+: .*more than 64 MiB in memory/);
      assert.ok(!r.message.includes('\n'), 'one line');
      assert.ok(r.ms < 1000, `took ${r.ms.toFixed(0)} ms`);
      assert.ok(r.growthMiB < 16, `grew by ${r.growthMiB.toFixed(0)} MiB`);
    });

    it('refuses 40 arrays of 100,000 empty arrays once together they pass the budget', () => {
      const r = inspectAlone(write('many-empty-arrays.gguf', emptyArrays(new Array(40).fill(100_000))));
      assert.match(r.message, /many-empty-arrays\.gguf: metadata 'test\.nested\.\d+' at offset \d+: .*more than 64 MiB in memory/);
      assert.ok(r.ms < 1000, `took ${r.ms.toFixed(0)} ms`);
      assert.ok(r.growthMiB < 64 + 16, `grew by ${r.growthMiB.toFixed(0)} MiB`);
    });
  });

  describe('strings from the file stay one readable line in messages', () => {
    it('an architecture with a line break', () => expectError('arch-nl.gguf', fromSpec((s) => setKey(s, 'general.architecture', str('llama\nsmallthinker'))),
      /wrong architecture 'llama\\nsmallthinker' \(expected smallthinker\)/));
    it('a 10,000-character architecture is cut', () => expectError('arch-long.gguf', fromSpec((s) => setKey(s, 'general.architecture', str('é'.repeat(5000)))),
      /wrong architecture '(é){32}\.\.\.' \(expected smallthinker\)/));
    it('a key with control characters', () => expectError('key-nl.gguf', fromSpec((s) => { s.metadata.push(['bad\r\nkey\u0001', str('a')], ['bad\r\nkey\u0001', str('b')]); }),
      /metadata 'bad\\r\\nkey\\x01' at offset \d+: duplicate key/));
    it('a tensor name with a line break', () => expectError('tensor-nl.gguf', fromSpec((s) => { s.tensors[1].name = 'output\nnorm'; s.tensors[1].type = 31; }),
      /tensor info #1 \(output\\nnorm\) type at offset \d+: unknown ggml type 31/));
  });

  it('the CLI prints one error line and exits 1, for each kind of damage', () => {
    const cases: Array<[string, Buffer, RegExp]> = [
      ['cli-magic.gguf', patched((b) => b.write('XXXX', 0)), /not a GGUF file/],
      ['cli-trunc.gguf', base.bytes.subarray(0, base.layout.tensorInfosStart + 5), /file truncated/],
      ['cli-arch.gguf', fromSpec((s) => setKey(s, 'general.architecture', str('qwen2'))), /wrong architecture 'qwen2'/],
      ['cli-arch-nl.gguf', fromSpec((s) => setKey(s, 'general.architecture', str('qwen2\nsmallthinker: looks fine'))), /wrong architecture 'qwen2\\nsmallthinker: looks fine'/],
      ['cli-bos.gguf', fromSpec((s) => setKey(s, 'tokenizer.ggml.bos_token_id', u32(100_000))), /'tokenizer.ggml.bos_token_id' = 100000 is not a token id/],
    ];
    for (const [name, bytes, pattern] of cases) {
      const r = spawnSync(process.execPath, [cli, 'inspect', write(name, bytes)], { encoding: 'utf8' });
      assert.equal(r.status, 1, name);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, pattern);
      assert.equal(r.stderr.trim().split('\n').length, 1, `${name}: one line`);
      assert.match(r.stderr, /^smallthinker: /);
    }
  });
});
