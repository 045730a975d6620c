// How close a suggestion comes to what the user wrote (`smallthinker eval-completions`): the
// first line exactly, its edit similarity, and how much of it the user would accept.

/** The first line of a text. */
export function firstLine(text: string): string {
  const nl = text.indexOf('\n');
  return nl < 0 ? text : text.slice(0, nl);
}

/** Levenshtein distance (characters), in O(|a|·|b|) time and O(|b|) memory. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}

/** 1 − distance ÷ the longer length: 1 for the same text, 0 for nothing in common. */
export function editSimilarity(a: string, b: string): number {
  const longer = Math.max(a.length, b.length);
  return longer === 0 ? 1 : 1 - editDistance(a, b) / longer;
}

/**
 * The characters of the suggestion's first line a user would take, accepting word by word
 * (Ctrl+→) while it matches what they meant to write: the common prefix, cut back to the last
 * word boundary inside it unless the whole suggested line matched.
 */
export function acceptedChars(suggestion: string, expected: string): number {
  const line = firstLine(suggestion).trimEnd();
  const want = expected.trimEnd();
  let n = 0;
  while (n < line.length && n < want.length && line[n] === want[n]) n++;
  if (n === line.length) return n;
  // Back to a word boundary of both texts: accepting "total" when "totals" was meant is no help.
  const word = (c: string | undefined) => c !== undefined && /\w/.test(c);
  while (n > 0 && word(line[n - 1]) && (word(line[n]) || word(want[n]))) n--;
  return n;
}

export interface CaseScore {
  exact: boolean;
  similarity: number;
  accepted: number;
}

export function scoreSuggestion(suggestion: string, expected: string): CaseScore {
  const line = firstLine(suggestion).trimEnd();
  const want = expected.trimEnd();
  return { exact: line === want, similarity: editSimilarity(line, want), accepted: acceptedChars(suggestion, expected) };
}
