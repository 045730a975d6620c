// The idle clock: the model is unloaded only after the configured minutes with no request, never
// while one runs, and the clock starts again when the last request ends.
import assert from 'node:assert/strict';
import { IdleUnload } from './idle-unload';

function fakeClock() {
  let now = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  let next = 1;
  return {
    setTimer: (fn: () => void, ms: number) => {
      timers.set(next, { at: now + ms, fn });
      return next++;
    },
    clearTimer: (h: unknown) => void timers.delete(h as number),
    /** Moves time on by `ms`, running what falls due. */
    advance: async (ms: number) => {
      now += ms;
      for (const [h, t] of [...timers]) {
        if (t.at > now) continue;
        timers.delete(h);
        t.fn();
      }
      await new Promise((r) => setImmediate(r));
    },
    pending: () => timers.size,
  };
}

describe('idle unload', () => {
  const minute = 60_000;
  const setup = (minutes = 30, refuse = false) => {
    const clock = fakeClock();
    const unloads: number[] = [];
    const idle = new IdleUnload({
      minutes: () => minutes, unload: async () => !refuse, onUnloaded: (m) => unloads.push(m),
      setTimer: clock.setTimer, clearTimer: clock.clearTimer,
    });
    return { clock, unloads, idle };
  };

  it('unloads after the configured minutes without a request', async () => {
    const { clock, unloads, idle } = setup(30);
    idle.start();
    await clock.advance(29 * minute);
    assert.deepEqual(unloads, []);
    await clock.advance(minute);
    assert.deepEqual(unloads, [30]);
  });

  it('never unloads while a request runs, and counts from the end of the last one', async () => {
    const { clock, unloads, idle } = setup(30);
    idle.start();
    await clock.advance(20 * minute);
    const endA = idle.begin();
    const endB = idle.begin();
    await clock.advance(60 * minute);
    assert.deepEqual(unloads, [], 'a long request holds the model');
    endA();
    endA();  // ending twice counts once
    await clock.advance(40 * minute);
    assert.deepEqual(unloads, [], 'another request still runs');
    endB();
    await clock.advance(29 * minute);
    assert.deepEqual(unloads, []);
    await clock.advance(minute);
    assert.deepEqual(unloads, [30]);
  });

  it('does nothing with 0 minutes, and says nothing when the engine refused', async () => {
    const never = setup(0);
    never.idle.start();
    assert.equal(never.clock.pending(), 0);
    const refused = setup(5, true);
    refused.idle.start();
    await refused.clock.advance(5 * minute);
    assert.deepEqual(refused.unloads, []);
  });

  it('stops the clock on stop()', async () => {
    const { clock, unloads, idle } = setup(1);
    idle.start();
    idle.stop();
    await clock.advance(10 * minute);
    assert.deepEqual(unloads, []);
  });
});
