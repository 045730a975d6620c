// The memory benchmark's storage probe: random reads of a model file the way the expert
// cache's I/O threads make them (whole aligned spans, bypassing the page cache where the file
// system allows), at full speed or no faster than a given pace.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadNativeAddon } from '../../engine/native-addon';
import { ensureModel } from '../generator/index';

describe('the storage probe (storageReads)', () => {
  const addon = loadNativeAddon();

  it('reads whole aligned chunks of the file for the time asked', async () => {
    const model = await ensureModel({ preset: 'tiny', type: 'q4_0' });
    const r = addon.storageReads(model, 10_000, 2, 0.3, 0);  // rounded up to 12,288 bytes a read
    assert.ok(r.reads > 0, 'read something');
    assert.equal(r.bytes, r.reads * 12_288);
    assert.ok(r.seconds >= 0.3 && r.seconds < 5, `${r.seconds} s`);
    assert.equal(typeof r.direct, 'boolean');
  });

  it('reads no faster than the pace it is given', async () => {
    const model = await ensureModel({ preset: 'tiny', type: 'q4_0' });
    const pace = 4 * 2 ** 20;  // 4 MiB/s: 64 reads of 64 KiB a second
    const r = addon.storageReads(model, 65_536, 2, 0.5, pace);
    assert.ok(r.bytes / r.seconds <= pace * 1.25, `${(r.bytes / r.seconds / 2 ** 20).toFixed(1)} MiB/s against 4`);
    assert.ok(r.reads >= 16, `${r.reads} reads`);
  });

  it('names the file it cannot read, and refuses arguments out of range', () => {
    const missing = path.join(os.tmpdir(), `no-such-model-${process.pid}.gguf`);
    assert.throws(() => addon.storageReads(missing, 4096, 1, 0.1, 0), (e: Error) => e.message.includes(missing));
    const small = path.join(os.tmpdir(), `small-${process.pid}.bin`);
    fs.writeFileSync(small, Buffer.alloc(8192));
    try {
      assert.throws(() => addon.storageReads(small, 65_536, 1, 0.1, 0), /smaller than one read/);
    } finally {
      fs.rmSync(small);
    }
    assert.throws(() => addon.storageReads(missing, 4096, 0, 0.1, 0), RangeError);
    assert.throws(() => addon.storageReads(missing, 4096, 1, 0, 0), RangeError);
    assert.throws(() => addon.storageReads(missing, 0, 1, 0.1, 0), RangeError);
  });
});
