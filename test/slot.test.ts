// Slots: generation on a native thread that streams tokens, reuses a common prefix exactly
// (also across the sliding window) and stops within a token step when cancelled.
import assert from 'node:assert/strict';
import { loadNativeAddon, type NativeSession } from '../engine/native-addon';
import { ensureModel } from './generator/index';

const addon = loadNativeAddon();
const promptOf = (length: number, salt = 0) => Int32Array.from({ length }, (_, i) => (i * 7919 + 11 + salt) % 340);

function greedyReference(session: NativeSession, prompt: Int32Array, n: number): number[] {
  session.reset();
  let logits = session.evaluate(prompt);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let v = 1; v < logits.length; v++) if (logits[v] > logits[best]) best = v;
    out.push(best);
    if (i + 1 < n) logits = session.evaluate(Int32Array.of(best));
  }
  return out;
}

describe('slots (generation on a native thread)', function () {
  this.timeout(300_000);

  it('streams the same greedy tokens as step-by-step evaluation, without blocking the JS thread', async () => {
    const file = await ensureModel({ preset: 'tiny', type: 'f32' });
    const session = addon.createSession(file, { threads: 2, context: 512 });
    const expected = greedyReference(session, promptOf(40), 24);
    const slot = session.createSlot({ context: 256 });
    const streamed: number[] = [];
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const result = await slot.generate({ prompt: promptOf(40), maxTokens: 24 }, (t) => streamed.push(t));
    clearInterval(timer);
    assert.deepEqual(result.tokens, expected);
    assert.deepEqual(streamed, expected);
    assert.equal(result.stopReason, 'length');
    assert.equal(result.nPast, 40 + 23);
    assert.ok(ticks > 0, 'the event loop ran while the slot generated');
    // The slot's routing counts its own evaluations: the same tokens as the session's steps.
    const routing = slot.routingStats();
    assert.equal(routing.tokens, 40 + 23);
    assert.deepEqual(routing, session.routingStats());
    // Whether a busy core dropped a thread depends on the machine; the count is one.
    const drops = session.busyCoreDrops();
    assert.ok(Number.isInteger(drops) && drops >= 0, `busy-core drops: ${drops}`);
  });

  it('stops at an end-of-generation id without returning it', async () => {
    const file = await ensureModel({ preset: 'tiny', type: 'f32' });
    const session = addon.createSession(file, { threads: 2, context: 512 });
    const expected = greedyReference(session, promptOf(20), 10);
    const slot = session.createSlot({ context: 256 });
    const result = await slot.generate({ prompt: promptOf(20), maxTokens: 10, stopIds: [expected[4]] });
    assert.equal(result.stopReason, 'eog');
    assert.deepEqual(result.tokens, expected.slice(0, expected.indexOf(expected[4])));
  });

  it('rewinds to a common prefix and continues exactly as a fresh evaluation would', async () => {
    const file = await ensureModel({ preset: 'tiny', type: 'f32' });
    const session = addon.createSession(file, { threads: 2, context: 512 });
    const slot = session.createSlot({ context: 512 });
    await slot.generate({ prompt: promptOf(100), maxTokens: 8 });
    const edited = Int32Array.from([...promptOf(100).slice(0, 70), ...promptOf(30, 5)]);
    assert.equal(slot.rewind(70), true);
    const reused = await slot.generate({ prompt: edited.slice(70), maxTokens: 12 });
    assert.equal(reused.promptTokens, 30);
    assert.deepEqual(reused.tokens, greedyReference(session, edited, 12));
  });

  it('rewinds exactly after the sliding window has wrapped, within the slack, and refuses beyond it', async () => {
    const file = await ensureModel({ preset: 'tiny-swa', type: 'f32' });
    const session = addon.createSession(file, { threads: 2, context: 5200 });
    const slot = session.createSlot({ context: 5200 });
    const long = promptOf(4700);
    await slot.generate({ prompt: long, maxTokens: 0 });
    assert.equal(slot.nPast, 4700);
    assert.equal(slot.rewind(4000), false, 'position 4000 needs keys from 3905 on, long overwritten');
    assert.equal(slot.nPast, 4700, 'a refused rewind changes nothing');
    assert.equal(slot.rewind(4600), true);
    const tail = promptOf(20, 9);
    const reused = await slot.generate({ prompt: tail, maxTokens: 6 });
    assert.deepEqual(reused.tokens, greedyReference(session, Int32Array.from([...long.slice(0, 4600), ...tail]), 6));
  });

  it('resets after the sliding window has wrapped, and a new prompt then runs from position 0', async () => {
    // A long conversation that lost its start: the engine cannot rewind into a wrapped window,
    // so it resets the slot; the reset used to be refused there too (the slot kept its 4700
    // positions and the next prompt overflowed it: "the prompt needs 9400 positions").
    const file = await ensureModel({ preset: 'tiny-swa', type: 'f32' });
    const session = addon.createSession(file, { threads: 2, context: 5200 });
    const slot = session.createSlot({ context: 5200 });
    await slot.generate({ prompt: promptOf(4700), maxTokens: 0 });
    assert.equal(slot.rewind(100), false);
    slot.reset();
    assert.equal(slot.nPast, 0);
    const fresh = promptOf(4700, 5);
    const again = await slot.generate({ prompt: fresh, maxTokens: 4 });
    assert.deepEqual(again.tokens, greedyReference(session, fresh, 4));
  });

  it('cancels a long prefill within a layer, keeps the slot usable, and frees the session', async () => {
    const file = await ensureModel({ preset: 'tiny-swa', type: 'f32' });
    const session = addon.createSession(file, { threads: 2, context: 5200 });
    const slot = session.createSlot({ context: 5200 });
    const running = slot.generate({ prompt: promptOf(5000), maxTokens: 4 });
    assert.equal(slot.busy, true);
    assert.throws(() => session.evaluate(Int32Array.of(1)), /busy/);
    await new Promise((r) => setTimeout(r, 300));
    const t0 = performance.now();
    slot.cancel();
    const result = await running;
    const latency = performance.now() - t0;
    assert.equal(result.stopReason, 'cancelled');
    assert.ok(latency < 200, `cancel took ${latency.toFixed(0)} ms`);
    assert.ok(slot.nPast < 5000 && slot.nPast % 128 === 0, `kept whole batches only (${slot.nPast})`);
    assert.equal(slot.busy, false);
    // What it kept is sound: continuing from there matches a fresh evaluation.
    const kept = slot.nPast;
    const rest = await slot.generate({ prompt: promptOf(5000).slice(kept, kept + 50), maxTokens: 5 });
    assert.deepEqual(rest.tokens, greedyReference(session, promptOf(5000).slice(0, kept + 50), 5));
  });

  it('rejects bad requests clearly', async () => {
    const file = await ensureModel({ preset: 'tiny', type: 'f32' });
    const session = addon.createSession(file, { threads: 1, context: 64 });
    const slot = session.createSlot();
    assert.throws(() => session.createSlot({ context: 65 }), /between 1 and the session's 64/);
    assert.throws(() => slot.generate({ prompt: [1, 2] as never, maxTokens: 1 }), /prompt: Int32Array/);
    assert.throws(() => slot.generate({ prompt: promptOf(70), maxTokens: 1 }), /needs 70 positions but the slot holds 64/);
    assert.throws(() => slot.generate({ prompt: Int32Array.of(999999), maxTokens: 1 }), /outside the vocabulary/);
    assert.throws(() => slot.generate({ prompt: new Int32Array(), maxTokens: 1 }), /needs a prompt/);
    assert.equal(slot.rewind(5), false, 'cannot rewind forward');
  });

  it('commits its KV cache as positions are written, not all of it at the first token', async () => {
    // Each layer keeps each KV head's positions together, so a first token writes into every
    // (layer, head) region: on huge pages that committed (and zeroed) the whole cache, 64 MiB
    // here and 256 MiB for a 4B chat slot, before the first token's answer.
    const file = await ensureModel({ preset: 'tiny', type: 'f32' });
    const session = addon.createSession(file, { threads: 2, context: 1 << 16, allowContextOverflow: true });
    const slot = session.createSlot({ context: 1 << 16 });
    const kvBytes = session.slotKvCacheBytes(1 << 16);
    assert.ok(kvBytes >= 64 << 20, `a cache of ${kvBytes} bytes`);
    const before = process.memoryUsage().rss;
    await slot.generate({ prompt: promptOf(8), maxTokens: 1 });
    const grown = process.memoryUsage().rss - before;
    assert.ok(grown < kvBytes / 8, `resident memory grew by ${grown} bytes for 8 positions of a ${kvBytes}-byte cache`);
    slot.release();
  });
});
