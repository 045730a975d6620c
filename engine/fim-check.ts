// Whether a model file's fill-in-the-middle tokens look trained, judged from the file itself:
// what the `auto` completion prompt format goes by.
//
// A vocabulary carries <|fim_prefix|>, <|fim_suffix|> and <|fim_middle|> whatever the training
// did. A token the training never showed keeps the embedding row it was initialised with (or
// one weight decay shrank), like the `[PAD…]` rows that pad the vocabulary to its size and
// that no text ever produces. A token that was trained has moved with the others. So the FIM
// rows are compared with the padding rows and with rows of ordinary tokens, by their root mean
// square (the scale a row ends at is what training changes first and most):
// - `trained`: every FIM row is outside the padding rows' band (their range, widened by a
//   tenth of their mean on each side) — the FIM tokens moved the way used tokens moved;
// - `untrained`: a FIM row sits inside that band;
// - `undecidable`: too few padding rows to form a band, or ordinary tokens sit inside the band
//   too (then the band says nothing: the generated test files, whose rows are all alike).
// Only `trained` lets `auto` pick a FIM format; a wrong `untrained` costs the completions the
// code after the cursor, a wrong `trained` would start every completion from noise.
import type { CompletionPromptFormat, FimVerdict } from './protocol';

/** Fewer padding rows than this form no band worth trusting. */
export const MIN_PADDING_ROWS = 16;
/** Ordinary tokens sampled to see whether the band separates anything. */
export const USED_ROW_SAMPLE = 256;
/** How far the band reaches past the padding rows' range, as a fraction of their mean. */
const BAND_MARGIN = 0.1;
/** The format `auto` gives a model whose FIM tokens look trained: the order FIM-trained Qwen models learn. */
export const AUTO_FIM_FORMAT: CompletionPromptFormat = 'fim-psm';

export interface FimRows {
  /** Root mean square of each FIM token's embedding row (prefix, suffix, middle). */
  fim: readonly number[];
  /** ... of each padding (token type "unused") row. */
  padding: readonly number[];
  /** ... of a sample of ordinary tokens' rows. */
  used: readonly number[];
}

const median = (v: readonly number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmt = (x: number) => x.toPrecision(3);

/** The verdict on a file's FIM rows (see the top of this file). */
export function judgeFimRows(rows: FimRows): FimVerdict {
  const verdict = (v: FimVerdict['verdict'], reason: string): FimVerdict =>
    ({ verdict: v, reason, autoFormat: v === 'trained' ? AUTO_FIM_FORMAT : 'prefix' });
  if (rows.padding.length < MIN_PADDING_ROWS) {
    return verdict('undecidable', `the vocabulary has ${rows.padding.length} padding rows to compare with (at least ${MIN_PADDING_ROWS} needed)`);
  }
  const lo = Math.min(...rows.padding), hi = Math.max(...rows.padding);
  const mean = rows.padding.reduce((a, b) => a + b, 0) / rows.padding.length;
  const bandLo = lo - BAND_MARGIN * mean, bandHi = hi + BAND_MARGIN * mean;
  const inBand = (x: number) => x >= bandLo && x <= bandHi;
  const band = `padding rows' RMS ${fmt(lo)}-${fmt(hi)} (${rows.padding.length} rows)`;
  const fim = `FIM rows' RMS ${rows.fim.map(fmt).join(', ')}`;
  if (rows.used.length === 0 || inBand(median(rows.used))) {
    return verdict('undecidable', `ordinary tokens look like padding: their median RMS ${rows.used.length ? fmt(median(rows.used)) : 'n/a'} is within the ${band}`);
  }
  if (rows.fim.some(inBand)) return verdict('untrained', `${fim}: within the ${band}, like tokens no text produces`);
  return verdict('trained', `${fim}: outside the ${band}; ordinary tokens' median ${fmt(median(rows.used))}`);
}

/** `count` of `ids` spread evenly over them (all of them when there are fewer). */
export function sampleEvenly(ids: ArrayLike<number>, count = USED_ROW_SAMPLE): number[] {
  if (ids.length <= count) return Array.from(ids);
  return Array.from({ length: count }, (_, i) => ids[Math.floor((i * ids.length) / count)]);
}
