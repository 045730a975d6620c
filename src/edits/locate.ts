// Where a proposed edit goes when the file has changed since the code was attached or selected:
// ranges kept up to date through every change to their document while the window is open, and,
// after a reload, the attached text found again. No `vscode` import.
import type { EditTarget } from '../chat/conversations';

export interface OffsetRange {
  start: number;
  end: number;
}

/** One change to a document, in offsets of the text before it (VS Code's rangeOffset, rangeLength, text). */
export interface TextChange {
  offset: number;
  removed: number;
  inserted: number;
}

/**
 * The range after a change: moved by a change before it, grown or shrunk by one inside it, the
 * same after one behind it; undefined when the change crosses its start or end (the text it
 * stood for is partly gone).
 */
export function shiftRange(r: OffsetRange, c: TextChange): OffsetRange | undefined {
  const delta = c.inserted - c.removed;
  if (c.offset >= r.end) return r;
  if (c.offset + c.removed <= r.start) return { start: r.start + delta, end: r.end + delta };
  if (c.offset >= r.start && c.offset + c.removed <= r.end) return { start: r.start, end: r.end + delta };
  return undefined;
}

/** Applies one document change event (non-overlapping changes, each in offsets of the text before the event). */
export function shiftRangeByAll(r: OffsetRange, changes: readonly TextChange[]): OffsetRange | undefined {
  let out: OffsetRange | undefined = r;
  for (const c of [...changes].sort((a, b) => b.offset - a.offset)) {
    out = out && shiftRange(out, c);
  }
  return out;
}

/** Live ranges by id, per document; the oldest are forgotten beyond MAX_TRACKED. */
export class RangeTracker {
  static readonly MAX_TRACKED = 256;
  private readonly ranges = new Map<string, { uri: string; range: OffsetRange | undefined }>();
  private next = 0;

  track(uri: string, range: OffsetRange): string {
    const id = `r${++this.next}`;
    this.ranges.set(id, { uri, range });
    while (this.ranges.size > RangeTracker.MAX_TRACKED) this.ranges.delete(this.ranges.keys().next().value!);
    return id;
  }

  /** The range now; undefined if it was lost (a change crossed it) or is no longer tracked. */
  get(id: string | undefined): OffsetRange | undefined {
    return id === undefined ? undefined : this.ranges.get(id)?.range;
  }

  /** Whether the id is still tracked (its range may have been lost). */
  has(id: string | undefined): boolean {
    return id !== undefined && this.ranges.has(id);
  }

  forget(id: string): void {
    this.ranges.delete(id);
  }

  onChange(uri: string, changes: readonly TextChange[]): void {
    for (const entry of this.ranges.values()) {
      if (entry.uri === uri && entry.range) entry.range = shiftRangeByAll(entry.range, changes);
    }
  }
}

/**
 * Where the target's code is in the document's text now: the live range while it is tracked,
 * else its offsets if they still hold its text, else the occurrence of its text nearest to where
 * it was; the whole text for a whole file. Undefined when its code is no longer there.
 */
export function locateTarget(text: string, target: EditTarget, tracker?: RangeTracker): OffsetRange | undefined {
  if (target.wholeFile) return { start: 0, end: text.length };
  if (tracker?.has(target.trackId)) {
    const live = tracker.get(target.trackId);
    if (live && live.end <= text.length) return live;
    if (!live) return undefined;
  }
  if (text.slice(target.start, target.end) === target.original) return { start: target.start, end: target.end };
  if (!target.original) return undefined;
  let best: number | undefined;
  for (let i = text.indexOf(target.original), n = 0; i >= 0 && n < 10_000; i = text.indexOf(target.original, i + 1), n++) {
    if (best === undefined || Math.abs(i - target.start) < Math.abs(best - target.start)) best = i;
  }
  return best === undefined ? undefined : { start: best, end: best + target.original.length };
}
