// The slot pool and prompt reuse, against a fake session whose slots record what they are asked:
// the least recently used idle slot goes when a new one would not fit, a busy one never does,
// and a prompt evaluates only what follows the longest prefix the slot already holds.
import assert from 'node:assert/strict';
import type { GenerateOptions, NativeSession, NativeSlot } from './native-addon';
import { commonPrefixLength, generateWithReuse, SlotPool, type SlotEntry } from './slots';

class FakeSlot implements NativeSlot {
  nPast = 0;
  busy = false;
  released = false;
  /** Positions a rewind may not cross (a sliding window that has wrapped). */
  rewindFloor = 0;
  evaluated: number[][] = [];
  constructor(readonly nCtx: number, readonly kvCacheBytes: number) {}
  rewind(n: number): boolean {
    if (n < this.rewindFloor) return false;
    this.nPast = n;
    return true;
  }
  reset(): void {
    this.nPast = 0;
  }
  /** As the native slot: generate() clears it, cancel() sets it, the running generation stops. */
  private cancelFlag = false;
  async generate(options: GenerateOptions) {
    this.cancelFlag = false;
    await null;  // the native work runs on another thread: a cancel can come now
    if (this.cancelFlag) return { tokens: [], stopReason: 'cancelled' as const, promptTokens: 0, promptMs: 0, generateMs: 0, nPast: this.nPast };
    this.evaluated.push(Array.from(options.prompt));
    const tokens = Array.from({ length: options.maxTokens }, (_, i) => 900 + i);
    // The last generated token is not evaluated.
    this.nPast += options.prompt.length + Math.max(0, tokens.length - 1);
    return { tokens, stopReason: 'length' as const, promptTokens: options.prompt.length, promptMs: 0, generateMs: 0, nPast: this.nPast };
  }
  cancel(): void {
    this.cancelFlag = true;
  }
  release(): void {
    this.released = true;
  }
  routingStats() {
    return { expertUses: [], neuronsActive: 0, neuronsTotal: 0, tokens: 0, nLayer: 0, nExpert: 0, nExpertUsed: 0 };
  }
}

function fakeSession(bytesPerPosition = 1) {
  const created: FakeSlot[] = [];
  const session = {
    slotKvCacheBytes: (context: number) => context * bytesPerPosition,
    createSlot: ({ context }: { context: number }) => {
      const s = new FakeSlot(context, context * bytesPerPosition);
      created.push(s);
      return s;
    },
  } as unknown as NativeSession;
  return { session, created };
}

describe('slots', () => {
  it('keeps one slot per document and chat, and releases the least recently used idle one when a new one would not fit', () => {
    const { session } = fakeSession();
    // Room for three completion slots of 100 bytes.
    const pool = new SlotPool(session, { completion: 100, chat: 200 }, 300);
    const a = pool.acquire('completion', 'a');
    const b = pool.acquire('completion', 'b');
    pool.acquire('completion', 'c');
    assert.equal(pool.acquire('completion', 'a'), a, 'the same document gets its slot back (and it becomes the most recent)');
    pool.acquire('completion', 'd');  // b is now the least recently used
    assert.deepEqual(pool.list().map((e) => e.key), ['completion:c', 'completion:a', 'completion:d']);
    assert.equal((b.slot as FakeSlot).released, true, 'its KV cache is freed at once');
    assert.ok(pool.totalBytes <= pool.budgetBytes);
  });

  it('never releases a busy slot, and refuses a slot larger than the whole budget', () => {
    const { session } = fakeSession();
    const pool = new SlotPool(session, { completion: 100, chat: 400 }, 200);
    const a = pool.acquire('completion', 'a');
    (a.slot as FakeSlot).busy = true;
    pool.acquire('completion', 'b');
    pool.acquire('completion', 'c');
    assert.ok(pool.list().some((e) => e === a), 'the busy slot stays');
    assert.throws(() => pool.acquire('chat', 'x'), /one chat slot needs 400 bytes of KV cache, more than the budget of 200/);
    pool.releaseAll();
    assert.deepEqual(pool.list(), [a], 'releaseAll keeps busy slots too');
  });

  describe('reuse', () => {
    const entry = (): SlotEntry => ({ key: 'completion:a', kind: 'completion', slot: new FakeSlot(1024, 1024), tokens: [] });

    it('evaluates only what follows the common prefix, and always at least one token (for its logits)', async () => {
      const e = entry();
      const first = await generateWithReuse(e, [1, 2, 3, 4], { maxTokens: 2 });
      assert.equal(first.reusedTokens, 0);
      assert.deepEqual(e.tokens, [1, 2, 3, 4, 900], 'the prompt and the evaluated generated tokens');
      const typed = await generateWithReuse(e, [1, 2, 3, 4, 5], { maxTokens: 2 });
      assert.equal(typed.reusedTokens, 4);
      assert.deepEqual((e.slot as FakeSlot).evaluated.at(-1), [5]);
      const same = await generateWithReuse(e, [1, 2, 3, 4, 5], { maxTokens: 1 });
      assert.equal(same.reusedTokens, 4, 'the same prompt again still evaluates its last token');
      assert.deepEqual((e.slot as FakeSlot).evaluated.at(-1), [5]);
    });

    it('a warm-up (maxTokens 0) may reuse the whole prompt and evaluates nothing then', async () => {
      const e = entry();
      await generateWithReuse(e, [7, 8, 9], { maxTokens: 0 });
      const again = await generateWithReuse(e, [7, 8, 9], { maxTokens: 0 });
      assert.equal(again.reusedTokens, 3);
      assert.equal(again.result.promptTokens, 0);
      assert.equal((e.slot as FakeSlot).evaluated.length, 1);
    });

    it('starts over from position 0 when the slot cannot rewind (a wrapped sliding window)', async () => {
      const e = entry();
      await generateWithReuse(e, [1, 2, 3, 4, 5, 6], { maxTokens: 1 });
      (e.slot as FakeSlot).rewindFloor = 5;
      const edited = await generateWithReuse(e, [1, 2, 9, 9], { maxTokens: 1 });
      assert.equal(edited.reusedTokens, 0);
      assert.deepEqual((e.slot as FakeSlot).evaluated.at(-1), [1, 2, 9, 9]);
    });

    it('honours a cancel that came while the request was prepared, though generate() starts with a clear flag', async () => {
      const e = entry();
      let cancelled = false;
      const r = generateWithReuse(e, [1, 2, 3], { maxTokens: 5 }, undefined, () => cancelled);
      assert.equal((await r).result.stopReason, 'length', 'not cancelled: runs');
      cancelled = true;
      const stopped = await generateWithReuse(e, [1, 2, 3, 4, 5], { maxTokens: 5 }, undefined, () => cancelled);
      assert.equal(stopped.result.stopReason, 'cancelled');
      assert.equal((e.slot as FakeSlot).evaluated.length, 1, 'the second prompt never ran');
    });

    it('trusts what the slot holds over its record', async () => {
      const e = entry();
      await generateWithReuse(e, [1, 2, 3], { maxTokens: 1 });
      (e.slot as FakeSlot).nPast = 1;  // e.g. a cancelled evaluation kept less than the record says
      const r = await generateWithReuse(e, [1, 2, 3, 4], { maxTokens: 1 });
      assert.equal(r.reusedTokens, 1);
      assert.deepEqual((e.slot as FakeSlot).evaluated.at(-1), [2, 3, 4]);
    });
  });

  it('measures the common prefix', () => {
    assert.equal(commonPrefixLength([1, 2, 3], [1, 2, 4]), 2);
    assert.equal(commonPrefixLength([], [1]), 0);
    assert.equal(commonPrefixLength([1, 2], [1, 2, 3]), 2);
  });
});
