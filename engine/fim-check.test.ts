// The check behind the `auto` completion format: FIM tokens count as trained only when their
// embedding rows stand apart from the padding rows that no text ever trains.
import assert from 'node:assert/strict';
import { AUTO_FIM_FORMAT, judgeFimRows, MIN_PADDING_ROWS, sampleEvenly } from './fim-check';

const around = (centre: number, n: number) => Array.from({ length: n }, (_, i) => centre * (0.9 + (0.2 * i) / n));
const padding = around(0.02, 200);  // padding rows left near their initialisation scale
const used = around(1, 500);        // ordinary tokens, trained

describe('judgeFimRows (the auto prompt format)', () => {
  it('calls FIM rows trained when they moved away from the padding rows, and auto picks a FIM format', () => {
    const v = judgeFimRows({ fim: [0.9, 1.1, 0.7], padding, used });
    assert.equal(v.verdict, 'trained');
    assert.equal(v.autoFormat, AUTO_FIM_FORMAT);
    assert.match(v.reason, /FIM rows' RMS 0\.900, 1\.10, 0\.700: outside the padding rows' RMS 0\.0180-0\.0220 \(200 rows\)/);
  });

  it('calls them untrained when any one of the three sits among the padding rows, and auto stays prefix', () => {
    for (const fim of [[0.02, 0.021, 0.019], [1, 1, 0.0195]]) {
      const v = judgeFimRows({ fim, padding, used });
      assert.equal(v.verdict, 'untrained', JSON.stringify(fim));
      assert.equal(v.autoFormat, 'prefix');
    }
  });

  it('counts a row just outside the padding range as padding still (the band is widened by a tenth of its mean)', () => {
    assert.equal(judgeFimRows({ fim: [1, 1, 0.0235], padding, used }).verdict, 'untrained');
    assert.equal(judgeFimRows({ fim: [1, 1, 0.03], padding, used }).verdict, 'trained');
  });

  it('zeroed padding rows are a band too (some converters write zeros)', () => {
    const zeros = new Array(64).fill(0);
    assert.equal(judgeFimRows({ fim: [0, 0, 0], padding: zeros, used }).verdict, 'untrained');
    assert.equal(judgeFimRows({ fim: [0.5, 0.6, 0.7], padding: zeros, used }).verdict, 'trained');
  });

  it('says it cannot tell when padding rows are few or look like ordinary ones, and auto stays prefix', () => {
    const few = judgeFimRows({ fim: [1, 1, 1], padding: padding.slice(0, MIN_PADDING_ROWS - 1), used });
    assert.equal(few.verdict, 'undecidable');
    assert.match(few.reason, /15 padding rows/);
    const alike = judgeFimRows({ fim: [5, 5, 5], padding: around(1, 200), used });
    assert.equal(alike.verdict, 'undecidable');
    assert.equal(alike.autoFormat, 'prefix');
    assert.match(alike.reason, /ordinary tokens look like padding/);
  });
});

describe('sampleEvenly', () => {
  it('spreads the sample over the whole id list, first id included', () => {
    assert.deepEqual(sampleEvenly([0, 1, 2, 3, 4, 5, 6, 7], 4), [0, 2, 4, 6]);
    assert.deepEqual(sampleEvenly(Int32Array.from([3, 9]), 4), [3, 9]);
  });
});
