// The KV cache: batched prefill and token-by-token evaluation read the same cached numbers for
// every cache type (also across the sliding window's wrap-around), attention reads them the
// same way on any number of threads, and the cache's size follows the type and the layer
// schedule.
import assert from 'node:assert/strict';
import { loadNativeAddon } from '../engine/native-addon';
import { ensureModel } from './generator/index';

const addon = loadNativeAddon();

function maxDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

async function batchVersusSequential(kvType: 'f16' | 'q8_0' | 'f32', length: number): Promise<number> {
  const file = await ensureModel({ preset: 'tiny-swa', type: 'f32' });
  const prompt = Int32Array.from({ length }, (_, i) => (i * 7919 + 11) % 340);
  const batched = addon.createSession(file, { threads: 2, context: length + 8, kvType });
  const stepwise = addon.createSession(file, { threads: 2, context: length + 8, kvType });
  const a = batched.evaluate(prompt);
  let b: Float32Array = new Float32Array();
  for (const t of prompt) b = stepwise.evaluate(Int32Array.of(t));
  // And one more token on top of each cache.
  return Math.max(maxDiff(a, b), maxDiff(batched.evaluate(Int32Array.of(5)), stepwise.evaluate(Int32Array.of(5))));
}

// Logits of a 1,100-token prompt and six decoded tokens, as their bit patterns.
function logitBits(file: string, kvType: 'f16' | 'q8_0' | 'f32', threads: number): Uint32Array[] {
  const session = addon.createSession(file, { threads, context: 1200, kvType });
  const rows = [session.evaluate(Int32Array.from({ length: 1100 }, (_, i) => (i * 7919 + 11) % 340))];
  for (let i = 0; i < 6; i++) rows.push(session.evaluate(Int32Array.of((i * 31 + 7) % 340)));
  return rows.map((row) => new Uint32Array(row.buffer, row.byteOffset, row.length));
}

describe('KV cache', function () {
  this.timeout(300_000);

  // With more threads than KV heads (tiny-swa has 2), a decoded token's attention over 1,100
  // positions is spread: 3 threads split each head's dimensions, 8 also its positions. The
  // prompt's row-by-row steps (norms, residual sums, quantising, RoPE, expert choice) are shared
  // between however many threads there are, too.
  for (const kvType of ['f16', 'q8_0', 'f32'] as const) {
    it(`${kvType}: attention spread over more threads than KV heads gives the one-thread logits to the bit`, async () => {
      const file = await ensureModel({ preset: 'tiny-swa', type: 'f32' });
      const one = logitBits(file, kvType, 1);
      for (const threads of [3, 8]) assert.deepEqual(logitBits(file, kvType, threads), one, `${threads} threads`);
    });
  }

  for (const kvType of ['f16', 'q8_0', 'f32'] as const) {
    it(`${kvType}: a batched 300-token prefill matches token-by-token evaluation`, async () => {
      const d = await batchVersusSequential(kvType, 300);
      assert.ok(d < 1e-3, `max |logit difference| ${d}`);
    });
  }

  (process.env.SMALLTHINKER_SLOW ? it : it.skip)('f16: also past the 4096-token window (4500 tokens)', async () => {
    const d = await batchVersusSequential('f16', 4500);
    assert.ok(d < 1e-3, `max |logit difference| ${d}`);
  });

  it('is sized by type and schedule: SWA layers hold at most 4096 positions', async () => {
    const file = await ensureModel({ preset: 'tiny-swa', type: 'f32' });
    const bytes = (kvType: 'f16' | 'q8_0' | 'f32', context: number) =>
      addon.createSession(file, { threads: 1, context, kvType }).info.kv_cache_bytes;
    // tiny-swa: 8 layers (2 global), 2 KV heads of 32: a position costs 2·64 values per layer.
    assert.equal(bytes('f16', 1000), 8 * 1000 * 2 * 64 * 2);
    assert.equal(bytes('f32', 1000), 8 * 1000 * 2 * 64 * 4);
    assert.equal(bytes('q8_0', 1000), 8 * 1000 * 2 * (64 / 32) * 34);
    assert.equal(bytes('f16', 8192), (2 * 8192 + 6 * 4096) * 2 * 64 * 2);
  });

  it('rejects an unknown cache type', async () => {
    const file = await ensureModel({ preset: 'tiny', type: 'f32' });
    assert.throws(() => addon.createSession(file, { kvType: 'q4' as never }), /kvType must be 'f16', 'q8_0' or 'f32'/);
  });
});
