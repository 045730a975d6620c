// Following a range through edits to its file, and finding attached code again after a reload.
import assert from 'node:assert/strict';
import type { EditTarget } from '../chat/conversations';
import { locateTarget, RangeTracker, shiftRange, shiftRangeByAll } from './locate';

// The range of "b()" in "a();\nb();\nc();\n" is [5, 8).
const r = { start: 5, end: 8 };

describe('edit ranges', () => {
  it('move with a change before them, stay for one after them, grow with one inside, are lost when one crosses them', () => {
    assert.deepEqual(shiftRange(r, { offset: 0, removed: 0, inserted: 3 }), { start: 8, end: 11 }, 'typing above');
    assert.deepEqual(shiftRange(r, { offset: 0, removed: 5, inserted: 0 }), { start: 0, end: 3 }, 'the line above deleted');
    assert.deepEqual(shiftRange(r, { offset: 5, removed: 0, inserted: 2 }), { start: 7, end: 10 }, 'typing right before it');
    assert.deepEqual(shiftRange(r, { offset: 8, removed: 0, inserted: 4 }), r, 'typing right after it');
    assert.deepEqual(shiftRange(r, { offset: 9, removed: 5, inserted: 0 }), r, 'below');
    assert.deepEqual(shiftRange(r, { offset: 6, removed: 1, inserted: 3 }), { start: 5, end: 10 }, 'inside');
    assert.equal(shiftRange(r, { offset: 3, removed: 4, inserted: 0 }), undefined, 'across its start');
    assert.equal(shiftRange(r, { offset: 7, removed: 3, inserted: 1 }), undefined, 'across its end');
  });

  it('apply several changes of one event, each in offsets of the text before it', () => {
    // Two cursors: one inserts at 0, one at 9 (after the range); and one replaces inside.
    assert.deepEqual(shiftRangeByAll(r, [{ offset: 0, removed: 0, inserted: 2 }, { offset: 9, removed: 0, inserted: 2 }, { offset: 6, removed: 0, inserted: 1 }]),
      { start: 7, end: 11 });
  });

  it('are tracked per document and forgotten beyond the bound', () => {
    const t = new RangeTracker();
    const id = t.track('file:///a.ts', r);
    t.onChange('file:///b.ts', [{ offset: 0, removed: 0, inserted: 100 }]);
    t.onChange('file:///a.ts', [{ offset: 0, removed: 0, inserted: 1 }]);
    assert.deepEqual(t.get(id), { start: 6, end: 9 });
    t.onChange('file:///a.ts', [{ offset: 0, removed: 7, inserted: 0 }]);
    assert.equal(t.get(id), undefined);
    assert.ok(t.has(id), 'lost, but still known: the edit is refused rather than put elsewhere');
    for (let i = 0; i < RangeTracker.MAX_TRACKED; i++) t.track('file:///c.ts', r);
    assert.ok(!t.has(id));
  });

  it('find attached code again: live range, then its offsets, then the nearest copy of its text', () => {
    const target: EditTarget = { uri: 'file:///a.ts', start: 5, end: 8, original: 'b()', label: 'a.ts:2-2' };
    assert.deepEqual(locateTarget('a();\nb();\nc();\n', target), { start: 5, end: 8 });
    assert.deepEqual(locateTarget('// new\na();\nb();\nc();\n', target), { start: 12, end: 15 }, 'moved: found by its text');
    assert.deepEqual(locateTarget('b();\nx();\nx();\nx();\nb();', target), { start: 0, end: 3 }, 'the copy nearest to where it was');
    assert.equal(locateTarget('a();\nc();\n', target), undefined, 'gone');
    const t = new RangeTracker();
    const tracked = { ...target, trackId: t.track(target.uri, { start: 5, end: 8 }) };
    t.onChange(target.uri, [{ offset: 6, removed: 0, inserted: 1 }]);
    assert.deepEqual(locateTarget('a();\nbb();\nc();\n', tracked, t), { start: 5, end: 9 }, 'edited inside: the live range');
    assert.deepEqual(locateTarget('anything', { ...target, wholeFile: true }), { start: 0, end: 8 });
  });
});
