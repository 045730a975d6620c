// The engine's KV states: one slot per document for inline completion and one per chat, all
// under one byte budget. The least recently used idle slot is released when a new one would
// not fit. Each slot remembers the tokens its cache holds, so a request evaluates only what
// follows the longest common prefix.
import type { GenerateOptions, GenerateResult, NativeSession, NativeSlot } from './native-addon';

export type SlotKind = 'completion' | 'chat';

export interface SlotEntry {
  key: string;
  kind: SlotKind;
  slot: NativeSlot;
  /** The tokens at positions 0..nPast-1 of the slot's cache. */
  tokens: number[];
}

export function commonPrefixLength(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

export class SlotPool {
  private readonly entries = new Map<string, SlotEntry>();  // insertion order = least recently used first

  constructor(
    private readonly session: NativeSession,
    private readonly contexts: Record<SlotKind, number>,
    readonly budgetBytes: number,
  ) {}

  bytesFor(kind: SlotKind): number {
    return this.session.slotKvCacheBytes(this.contexts[kind]);
  }

  get totalBytes(): number {
    let sum = 0;
    for (const e of this.entries.values()) sum += e.slot.kvCacheBytes;
    return sum;
  }

  list(): SlotEntry[] {
    return [...this.entries.values()];
  }

  /** The slot of `kind` for `id` if there is one, without counting as a use. */
  peek(kind: SlotKind, id: string): SlotEntry | undefined {
    return this.entries.get(`${kind}:${id}`);
  }

  acquire(kind: SlotKind, id: string): SlotEntry {
    const key = `${kind}:${id}`;
    const found = this.entries.get(key);
    if (found) {
      this.entries.delete(key);
      this.entries.set(key, found);
      return found;
    }
    const need = this.bytesFor(kind);
    if (need > this.budgetBytes) {
      throw new Error(`one ${kind} slot needs ${need} bytes of KV cache, more than the budget of ${this.budgetBytes}`);
    }
    for (const e of [...this.entries.values()]) {
      if (this.totalBytes + need <= this.budgetBytes) break;
      if (!e.slot.busy) this.release(e);
    }
    const entry: SlotEntry = { key, kind, slot: this.session.createSlot({ context: this.contexts[kind] }), tokens: [] };
    this.entries.set(key, entry);
    return entry;
  }

  release(entry: SlotEntry): void {
    this.entries.delete(entry.key);
    entry.slot.release();
  }

  releaseAll(): void {
    for (const e of [...this.entries.values()]) if (!e.slot.busy) this.release(e);
  }
}

export interface SlotRun {
  result: GenerateResult;
  reusedTokens: number;
}

/**
 * Evaluates `prompt` in the slot, reusing the longest common prefix with what it holds (one
 * token is always evaluated, for its logits), then generates. Exact: a rewind the
 * sliding-window rings cannot honour starts over from position 0.
 */
export async function generateWithReuse(
  entry: SlotEntry, prompt: number[], options: Omit<GenerateOptions, 'prompt'>, onToken?: (t: number) => void,
  cancelled?: () => boolean,
): Promise<SlotRun> {
  const { slot } = entry;
  let reuse = Math.min(commonPrefixLength(entry.tokens, prompt), Math.max(0, prompt.length - 1));
  if (options.maxTokens === 0) reuse = Math.min(commonPrefixLength(entry.tokens, prompt), prompt.length);
  reuse = Math.min(reuse, slot.nPast);  // what the slot holds, whatever the record says
  if (reuse < slot.nPast && !slot.rewind(reuse)) {
    slot.reset();
    reuse = 0;
  }
  entry.tokens = prompt.slice(0, reuse);
  const rest = Int32Array.from(prompt.slice(reuse));
  if (rest.length === 0) {
    return { result: { tokens: [], stopReason: 'length', promptTokens: 0, promptMs: 0, generateMs: 0, nPast: slot.nPast }, reusedTokens: reuse };
  }
  const running = slot.generate({ ...options, prompt: rest, history: options.history ?? entry.tokens.slice(-64) }, onToken);
  // generate() starts with a clear cancel flag: a cancel that came while the request was being
  // prepared (an await before this point) is given again, or the whole prompt would run.
  if (cancelled?.()) slot.cancel();
  const result = await running;
  entry.tokens = [...prompt, ...result.tokens].slice(0, result.nPast);
  return { result, reusedTokens: reuse };
}
