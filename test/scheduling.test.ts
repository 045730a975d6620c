// What the engine asks the OS for its compute threads (platform::ask_for_interactive_scheduling):
// macOS the user-initiated QoS class, Windows no execution-speed throttling (both checked in
// test/cross/), and on Linux nothing, since its scheduler has no such class.
import assert from 'node:assert/strict';
import { loadNativeAddon } from '../engine/native-addon';
import { ensureModel } from './generator/index';

describe('scheduling of the compute threads', function () {
  this.timeout(120_000);

  it('is what this OS offers, and the session says what it asked and what the OS answered', async () => {
    const file = await ensureModel({ preset: 'tiny', type: 'q4_0' });
    const session = loadNativeAddon().createSession(file, { threads: 2, context: 64 });
    session.evaluate(Int32Array.of(1, 2, 3));
    const expected: Partial<Record<NodeJS.Platform, RegExp>> = {
      linux: /^the default \(Linux has no QoS class\)$/,
      darwin: /^QoS class user-initiated$/,
      win32: /^execution-speed throttling off$/,
    };
    assert.match(session.info.scheduling, expected[process.platform] ?? /./);
  });
});
