// Post-processing of a raw model suggestion, as small filters that each do one thing. Each
// takes the suggestion and the text around the cursor and returns the suggestion to keep
// (possibly shortened) or undefined to drop it, with the reason for the log.

export interface CursorContext {
  /** The document text before the cursor (possibly only its tail). */
  prefix: string;
  /** The document text after the cursor (possibly only its head). */
  suffix: string;
}

export type FilterResult = { text: string } | { dropped: string };
export type Filter = (text: string, ctx: CursorContext) => FilterResult;

const keep = (text: string): FilterResult => ({ text });
const drop = (reason: string): FilterResult => ({ dropped: reason });

/** The rest of the cursor's line after the cursor. */
export function lineSuffix(ctx: CursorContext): string {
  const nl = ctx.suffix.indexOf('\n');
  return nl < 0 ? ctx.suffix : ctx.suffix.slice(0, nl);
}

/** The cursor's line up to the cursor. */
export function linePrefix(ctx: CursorContext): string {
  return ctx.prefix.slice(ctx.prefix.lastIndexOf('\n') + 1);
}

const indentOf = (line: string) => line.length - line.trimStart().length;

/** In the middle of a line only the rest of that line makes sense. */
export const singleLineInsideLine: Filter = (text, ctx) => {
  if (lineSuffix(ctx).trim() === '') return keep(text);
  const nl = text.indexOf('\n');
  return keep(nl < 0 ? text : text.slice(0, nl));
};

/** Cut the suggestion where it starts repeating the text after the cursor on this line. */
export const cutAtLineSuffix: Filter = (text, ctx) => {
  const rest = lineSuffix(ctx).trim();
  if (!rest) return keep(text);
  const firstLine = text.split('\n')[0];
  const at = firstLine.indexOf(rest);
  if (at >= 0) return keep(firstLine.slice(0, at).trimEnd() === '' ? '' : firstLine.slice(0, at));
  return keep(text);
};

const CLOSERS = new Set([')', ']', '}', '"', "'", '`', '>']);

/** Do not add closing brackets or quotes that the editor already put after the cursor. */
export const noDuplicateClosers: Filter = (text, ctx) => {
  const after = lineSuffix(ctx);
  let t = text.replace(/\s+$/, (ws) => (ws.includes('\n') ? '' : ws));
  let i = 0;
  // The suggestion ends with the closers that open the text after the cursor: drop them.
  for (let n = Math.min(t.length, after.length); n > 0; n--) {
    const tail = t.slice(t.length - n);
    if (after.startsWith(tail) && [...tail].every((c) => CLOSERS.has(c))) {
      i = n;
      break;
    }
  }
  t = i > 0 ? t.slice(0, t.length - i) : text;
  return keep(t);
};

/** A multi-line suggestion ends where its indentation drops below the block it started in. */
export const stopAtDedent: Filter = (text, ctx) => {
  const lines = text.split('\n');
  if (lines.length === 1) return keep(text);
  const current = linePrefix(ctx);
  // The block's indentation: the cursor line's, or the first suggested line's when it opens a block.
  const base = current.trim() === '' ? current.length : indentOf(current);
  const out = [lines[0]];
  for (const line of lines.slice(1)) {
    if (line.trim() !== '' && indentOf(line) < base) break;
    out.push(line);
  }
  return keep(out.join('\n').replace(/\s+$/, ''));
};

/** Nothing but whitespace is not a suggestion. */
export const dropBlank: Filter = (text) => (text.trim() === '' ? drop('blank') : keep(text));

/** Drop suggestions that repeat themselves or the lines just above the cursor. */
export const dropRepetitive: Filter = (text, ctx) => {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
  const counts = new Map<string, number>();
  for (const l of lines) counts.set(l, (counts.get(l) ?? 0) + 1);
  if ([...counts.values()].some((c) => c >= 3)) return drop('repeats one line three times');
  const above = ctx.prefix.split('\n').slice(-6, -1).map((l) => l.trim()).filter((l) => l.length > 2);
  if (lines.length > 0 && lines.every((l) => above.includes(l))) return drop('repeats the lines above the cursor');
  // One short pattern over and over ("))))))", "a = a = a = ").
  const flat = text.replace(/\s+/g, '');
  if (flat.length >= 12 && /^(.{1,4})\1{5,}/.test(flat)) return drop('a pattern repeated');
  return keep(text);
};

const FENCE = /^\s*(```|~~~)/;

/**
 * Chat-tuned models sometimes answer a completion as they would a question, with a markdown
 * code fence. A fence that opens the suggestion drops it (what follows is an answer, not the
 * code at the cursor); a fence further down cuts the suggestion before it. Where the text
 * before the cursor has fences itself (a markdown file, a docstring with examples) they are
 * the code's own, and nothing is touched.
 */
export const cutAtFence: Filter = (text, ctx) => {
  if (/```|~~~/.test(ctx.prefix)) return keep(text);
  const lines = text.split('\n');
  const at = lines.findIndex((l) => FENCE.test(l));
  if (at < 0) return keep(text);
  if (lines.slice(0, at).join('').trim() === '') return drop('opens a markdown code fence');
  return keep(lines.slice(0, at).join('\n').trimEnd());
};

// How chat answers start. A line of code rarely starts with one of these words followed by a
// space and has no code punctuation.
const PROSE_START = /^(Sure|Certainly|Of course|Here(?:'s| is| are)|Below|I(?:'ll|'m| will| have| can)?|Let(?:'s| me)|To (?:complete|implement|fix|do)|This (?:code|function|will|is)|The (?:code|function|following)|You can|Note)\b[ ,!:]/;

/**
 * A suggestion that starts a new line with a sentence ("Here is the completed function:") is
 * an answer about the code, not code: dropped. Only at the start of a line (inside a line,
 * or after a comment marker, words are what the user is writing).
 */
export const dropProse: Filter = (text, ctx) => {
  if (linePrefix(ctx).trim() !== '') return keep(text);
  const first = text.split('\n').find((l) => l.trim() !== '')?.trim() ?? '';
  if (PROSE_START.test(first) && !/[(){};=<>[\]]/.test(first) && /[.:!]$/.test(first)) return drop('starts with prose');
  return keep(text);
};

/** The pipeline, in order. */
export const DEFAULT_FILTERS: Array<[string, Filter]> = [
  ['cutAtFence', cutAtFence],
  ['dropProse', dropProse],
  ['singleLineInsideLine', singleLineInsideLine],
  ['cutAtLineSuffix', cutAtLineSuffix],
  ['stopAtDedent', stopAtDedent],
  ['noDuplicateClosers', noDuplicateClosers],
  ['dropBlank', dropBlank],
  ['dropRepetitive', dropRepetitive],
];

export function applyFilters(text: string, ctx: CursorContext, filters = DEFAULT_FILTERS): FilterResult {
  let current = text;
  for (const [name, filter] of filters) {
    const r = filter(current, ctx);
    if ('dropped' in r) return { dropped: `${name}: ${r.dropped}` };
    current = r.text;
  }
  return { text: current };
}
