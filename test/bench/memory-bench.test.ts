// How the bounded-memory benchmark turns several rounds of one engine into one row.
import { describe, it } from 'mocha';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MEMORY_FILE_SYSTEM, boundedTable, combineRounds, fileInMemoryCopy, fileInMemoryRefusal, type BoundedRun } from './memory-bench';

const run = (decode: number, peakMiB: number, extra: Partial<BoundedRun> = {}): BoundedRun => ({
  name: 'smallthinker', killed: false, decode_tokens_per_s: decode, decode_last_half_tokens_per_s: decode + 0.5,
  cgroup_peak_bytes: peakMiB * 2 ** 20, ...extra,
});

describe('the memory bench with several rounds', () => {
  it('reports the round with the median decode speed, the highest cgroup peak of any round, and every round', () => {
    const row = combineRounds([run(29.3, 890), run(24.8, 896), run(26.6, 893)]);
    assert.equal(row.decode_tokens_per_s, 26.6);
    assert.equal(row.cgroup_peak_bytes, 896 * 2 ** 20);
    assert.deepEqual(row.rounds?.map((r) => r.decode_tokens_per_s), [29.3, 24.8, 26.6]);
    const table = boundedTable([row], 1024);
    assert.match(table, /rounds \(decode, last half\), the row being the median: smallthinker 29\.3 \(29\.8\), 24\.8 \(25\.3\), 26\.6 \(27\.1\)/);
    assert.match(table, /room left under the 1024 MiB budget at the cgroup's peak: smallthinker 128 MiB/);
  });

  it('takes the lower middle of an even number of rounds', () => {
    assert.equal(combineRounds([run(30, 900), run(20, 900), run(25, 900), run(35, 900)]).decode_tokens_per_s, 25);
  });

  it('shows a killed round as the row, so that one kill is never hidden by a median', () => {
    const row = combineRounds([run(29.3, 900), run(0, 1024, { killed: true, error: 'killed (out of memory)', decode_tokens_per_s: undefined }), run(26.6, 900)]);
    assert.equal(row.killed, true);
    assert.equal(row.cgroup_peak_bytes, 1024 * 2 ** 20);
    assert.match(boundedTable([row], 1024), /smallthinker 29\.3 \(29\.8\), killed, 26\.6 \(27\.1\)/);
  });

  it('lists each round\'s planned slots and the baseline they were planned from', () => {
    const row = combineRounds([run(29.3, 890, { slots: 323, planned_baseline_bytes: 89 * 2 ** 20 }), run(26.6, 893, { slots: 303, planned_baseline_bytes: 121 * 2 ** 20 })]);
    assert.match(boundedTable([row], 1024), /planned expert slots \(baseline\): smallthinker 323 \(89 MiB\), 303 \(121 MiB\)/);
    assert.match(boundedTable([run(29.3, 890, { slots: 323, planned_baseline_bytes: 89 * 2 ** 20 })], 1024), /planned expert slots \(baseline\): smallthinker 323 \(89 MiB\)/);
    assert.doesNotMatch(boundedTable([run(29.3, 890)], 1024), /planned/);
  });

  it('leaves a single round as it was', () => {
    const one = run(29.3, 896);
    assert.equal(combineRounds([one]), one);
    assert.doesNotMatch(boundedTable([one], 1024), /rounds/);
  });
});

describe('the memory bench with the file in memory (--file-in-memory)', () => {
  const GiB = 2 ** 30;

  it('copies the file only where the memory file system and the memory available hold it beside the budget', () => {
    // The 4B file (2.41 GB) under a 1 GiB budget on a 24 GiB machine: fits.
    assert.equal(fileInMemoryRefusal(2.41e9, GiB, 12 * GiB, 22 * GiB), undefined);
    // The 21B file (11.6 GiB) under 8 GiB with 20 GiB available: 11.6 + 8 + 2 to spare do not fit.
    assert.match(fileInMemoryRefusal(11.6 * GiB, 8 * GiB, 12 * GiB, 20 * GiB)!, /need 21\.6 GiB; 20\.0 GiB is available/);
    assert.match(fileInMemoryRefusal(11.6 * GiB, 8 * GiB, 4 * GiB, 64 * GiB)!, /\/dev\/shm has 4\.0 GiB free, the model file takes 11\.6 GiB/);
    assert.match(fileInMemoryRefusal(2.41e9, GiB, undefined, 64 * GiB)!, /needs a memory file system at \/dev\/shm/);
  });

  it('says how the copy was read under the table', () => {
    const row = (direct_io: boolean): BoundedRun => ({ name: 'file in memory', killed: false, decode_tokens_per_s: 45.2, direct_io });
    assert.match(boundedTable([row(true)]), /file in memory: ours on a copy of the file in \/dev\/shm, read past the page cache as from storage/);
    assert.match(boundedTable([row(false)]), /read through its page cache \(the kernel refused O_DIRECT there\)/);
    assert.doesNotMatch(boundedTable([{ name: 'smallthinker', killed: false, decode_tokens_per_s: 30 }]), /file in memory/);
  });

  it('holds the copy in the memory file system until removed, and refuses a budget the memory cannot hold', function () {
    if (!fs.existsSync(MEMORY_FILE_SYSTEM)) this.skip();
    const model = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'in-memory-')), 'tiny.gguf');
    fs.writeFileSync(model, Buffer.alloc(64 * 1024, 7));
    const handlers = process.listenerCount('SIGINT');
    const copy = fileInMemoryCopy(model, GiB);
    assert.equal(path.dirname(copy.path), MEMORY_FILE_SYSTEM);
    assert.equal(process.listenerCount('SIGINT'), handlers + 1, 'an interrupt removes the copy');
    assert.deepEqual(fs.readFileSync(copy.path), fs.readFileSync(model));
    copy.remove();
    assert.equal(fs.existsSync(copy.path), false);
    assert.equal(process.listenerCount('SIGINT'), handlers, 'and its interrupt handler is gone');
    assert.throws(() => fileInMemoryCopy(model, 2 ** 50), /is available/);
    fs.rmSync(path.dirname(model), { recursive: true });
  });
});
