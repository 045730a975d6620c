// How the bounded-memory benchmark turns several rounds of one engine into one row.
import { describe, it } from 'mocha';
import assert from 'node:assert/strict';
import { boundedTable, combineRounds, type BoundedRun } from './memory-bench';

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
