import assert from 'node:assert/strict';
import { StopStringMatcher } from './stop-strings';

function run(stops: string[], pieces: string[]): { shown: string; stopped: boolean } {
  const m = new StopStringMatcher(stops);
  let shown = '';
  for (const p of pieces) {
    shown += m.push(p);
    if (m.stopped) break;
  }
  shown += m.flush();
  return { shown, stopped: m.stopped };
}

describe('stop strings', () => {
  it('stops at a stop string inside one piece and hides it', () => {
    assert.deepEqual(run(['\n\n'], ['return a;\n\nfunction']), { shown: 'return a;', stopped: true });
  });
  it('catches a stop string split across pieces without showing its start', () => {
    const m = new StopStringMatcher(['</code>']);
    assert.equal(m.push('x = 1</co'), 'x = 1');
    assert.equal(m.push('de> trailing'), '');
    assert.ok(m.stopped);
  });
  it('releases held-back text that turned out not to be a stop string', () => {
    assert.deepEqual(run(['END'], ['the E', 'ND', 'ing']), { shown: 'the ', stopped: true });
    assert.deepEqual(run(['END'], ['the E', 'lephant']), { shown: 'the Elephant', stopped: false });
    assert.deepEqual(run(['END'], ['ends with E']), { shown: 'ends with E', stopped: false });
  });
  it('stops at the earliest of several stop strings', () => {
    assert.deepEqual(run(['B', 'A'], ['xxAyyB']), { shown: 'xx', stopped: true });
  });
});
