// Stops generation at the first occurrence of any stop string. Text that could still turn
// into a stop string is held back, so a stop string is never shown, even split across tokens.

export class StopStringMatcher {
  private pending = '';
  private done = false;

  constructor(private readonly stops: readonly string[]) {}

  get stopped(): boolean {
    return this.done;
  }

  /** Adds generated text; returns the part that is safe to show now. */
  push(text: string): string {
    if (this.done) return '';
    this.pending += text;
    let cut = -1;
    for (const s of this.stops) {
      if (!s) continue;
      const i = this.pending.indexOf(s);
      if (i >= 0 && (cut < 0 || i < cut)) cut = i;
    }
    if (cut >= 0) {
      this.done = true;
      const out = this.pending.slice(0, cut);
      this.pending = '';
      return out;
    }
    const hold = this.heldBackLength();
    const out = this.pending.slice(0, this.pending.length - hold);
    this.pending = this.pending.slice(this.pending.length - hold);
    return out;
  }

  /** The end of generation: whatever was held back is shown. */
  flush(): string {
    const out = this.done ? '' : this.pending;
    this.pending = '';
    return out;
  }

  // The longest suffix of the pending text that is a proper prefix of some stop string.
  private heldBackLength(): number {
    let best = 0;
    for (const s of this.stops) {
      for (let n = Math.min(s.length - 1, this.pending.length); n > best; n--) {
        if (this.pending.endsWith(s.slice(0, n))) { best = n; break; }
      }
    }
    return best;
  }
}
