import assert from 'node:assert/strict';
import { acceptedChars, editDistance, editSimilarity, scoreSuggestion } from './completion-metrics';

describe('completion metrics', () => {
  it('scores the first line against what the user wrote', () => {
    assert.deepEqual(scoreSuggestion('return a + b;\n}', 'return a + b;'), { exact: true, similarity: 1, accepted: 13 });
    const near = scoreSuggestion('return a - b;', 'return a + b;');
    assert.equal(near.exact, false);
    assert.ok(Math.abs(near.similarity - 12 / 13) < 1e-9);
    assert.equal(scoreSuggestion('', 'x = 1').similarity, 0);
  });

  it('counts what word-by-word acceptance would take', () => {
    assert.equal(acceptedChars('return a + b;', 'return a + b;'), 13, 'all of it');
    assert.equal(acceptedChars('return total;', 'return totals.sum;'), 7, 'back to "return ": "total" is not the word meant');
    assert.equal(acceptedChars('cache.get(memoKey)', 'cache.get(memoKey)\n'), 18);
    assert.equal(acceptedChars('foo', 'bar'), 0);
    assert.equal(acceptedChars('if (x', 'if (x) {'), 5, 'a suggestion that stops early is taken whole');
  });

  it('measures edits', () => {
    assert.equal(editDistance('kitten', 'sitting'), 3);
    assert.equal(editSimilarity('', ''), 1);
  });
});
