// The engine flushes subnormal floats while it computes (native/src/runtime/float_mode.h) and
// must hand Node's thread back as it found it: JavaScript numbers keep their subnormals.
import assert from 'node:assert/strict';
import { loadNativeAddon } from '../engine/native-addon';
import { ensureModel } from './generator/index';

const addon = loadNativeAddon();

describe('float mode', function () {
  this.timeout(120_000);

  it('JavaScript keeps subnormal numbers after an evaluation on its own thread', async () => {
    const file = await ensureModel({ preset: 'tiny', type: 'f32' });
    // One thread: the whole forward pass runs on this (Node's) thread, inside the flushing scope.
    const session = addon.createSession(file, { threads: 1, context: 64 });
    const tiny = Number.parseFloat('5e-324'); // parsed at run time so nothing is folded
    session.evaluate(Int32Array.of(1, 2, 3, 4));
    assert.equal(tiny * 1, 5e-324);
    assert.equal(Number.MIN_VALUE / 2 + tiny, 5e-324);
    assert.ok(tiny > 0);
  });
});
