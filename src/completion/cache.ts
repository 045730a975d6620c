// Remembers recent suggestions by the text around the cursor, so that asking again at the same
// place is instant, and so that a suggestion keeps showing while the user types into it
// (typing "ret" over a suggested "return x;" leaves "urn x;", with no new request).

export interface CachedSuggestion {
  prefix: string;
  suffix: string;
  text: string;
}

/** How much of the text around the cursor identifies a place (the request sees more). */
const KEY_PREFIX_CHARS = 2000;
const KEY_SUFFIX_CHARS = 400;

export class SuggestionCache {
  private readonly entries = new Map<string, CachedSuggestion>();

  constructor(readonly capacity = 100) {}

  get size(): number {
    return this.entries.size;
  }

  private static key(documentId: string, prefix: string, suffix: string): string {
    return `${documentId}\u0000${prefix.slice(-KEY_PREFIX_CHARS)}\u0000${suffix.slice(0, KEY_SUFFIX_CHARS)}`;
  }

  set(documentId: string, prefix: string, suffix: string, text: string): void {
    const key = SuggestionCache.key(documentId, prefix, suffix);
    this.entries.delete(key);
    this.entries.set(key, { prefix, suffix, text });
    while (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value as string);
  }

  /**
   * The suggestion for this place: an exact hit, or the rest of a suggestion made a few
   * characters back that the user has been typing exactly.
   */
  get(documentId: string, prefix: string, suffix: string): string | undefined {
    const exact = this.entries.get(SuggestionCache.key(documentId, prefix, suffix));
    if (exact) return exact.text;
    for (let back = 1; back <= 64 && back <= prefix.length; back++) {
      const earlier = prefix.slice(0, prefix.length - back);
      const hit = this.entries.get(SuggestionCache.key(documentId, earlier, suffix));
      if (!hit) continue;
      const typed = prefix.slice(prefix.length - back);
      if (hit.text.startsWith(typed) && hit.text.length > typed.length) return hit.text.slice(typed.length);
      return undefined;
    }
    return undefined;
  }
}
