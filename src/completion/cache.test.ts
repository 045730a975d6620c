// The suggestion cache and the adaptive debounce.
import assert from 'node:assert/strict';
import { SuggestionCache } from './cache';
import { AdaptiveDebounce } from './debounce';

describe('suggestion cache', () => {
  it('answers the same place again, and keeps serving a suggestion the user types into', () => {
    const cache = new SuggestionCache();
    cache.set('a.ts', 'function f() {\n  ', '\n}', 'return 42;');
    assert.equal(cache.get('a.ts', 'function f() {\n  ', '\n}'), 'return 42;');
    assert.equal(cache.get('a.ts', 'function f() {\n  ret', '\n}'), 'urn 42;');
    assert.equal(cache.get('a.ts', 'function f() {\n  return 42', '\n}'), ';');
    assert.equal(cache.get('a.ts', 'function f() {\n  return 42;', '\n}'), undefined, 'fully typed: nothing left');
    assert.equal(cache.get('a.ts', 'function f() {\n  rex', '\n}'), undefined, 'typed something else');
    assert.equal(cache.get('b.ts', 'function f() {\n  ', '\n}'), undefined, 'another document');
    assert.equal(cache.get('a.ts', 'function f() {\n  ', '\n}\nmore'), undefined, 'other text after the cursor');
  });

  it('holds at most its capacity, dropping the oldest', () => {
    const cache = new SuggestionCache(3);
    for (let i = 0; i < 5; i++) cache.set('a', `p${i}`, '', `s${i}`);
    assert.equal(cache.size, 3);
    assert.equal(cache.get('a', 'p0', ''), undefined);
    assert.equal(cache.get('a', 'p4', ''), 's4');
  });
});

describe('adaptive debounce', () => {
  it('waits the base delay after a pause and longer while the user types fast', () => {
    let t = 1000;
    const d = new AdaptiveDebounce(() => 100, () => t);
    assert.equal(d.next(), 100);
    const waits: number[] = [];
    for (let i = 0; i < 10; i++) {
      t += 120;  // fast typing: a key every 120 ms
      waits.push(d.next());
    }
    assert.ok(waits.at(-1)! >= 170 && waits.at(-1)! <= 300, `waits ${waits}`);
    t += 5000;  // a pause
    assert.equal(d.next(), 100);
  });

  it('never waits less than the base or more than three times it', () => {
    let t = 0;
    const d = new AdaptiveDebounce(() => 50, () => t);
    for (const gap of [10, 10, 190, 190, 190, 190]) {
      t += gap;
      const w = d.next();
      assert.ok(w >= 50 && w <= 150, `wait ${w}`);
    }
  });
});
