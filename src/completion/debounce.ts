// How long to wait after a keystroke before asking the engine. Fast typists get a longer wait
// (a request per keystroke would only be cancelled by the next one); a pause gets the base
// delay. The wait is cancellable.

export class AdaptiveDebounce {
  private last = 0;
  private interval: number | undefined;  // smoothed time between keystrokes, ms

  constructor(private readonly baseMs: () => number, private readonly now: () => number = () => Date.now()) {}

  /** Records a keystroke and returns the delay to use for it. */
  next(): number {
    const t = this.now();
    const base = this.baseMs();
    if (this.last > 0) {
      const gap = t - this.last;
      // Only gaps of active typing count; a pause resets the estimate.
      if (gap < 4 * base) this.interval = this.interval === undefined ? gap : 0.7 * this.interval + 0.3 * gap;
      else this.interval = undefined;
    }
    this.last = t;
    if (this.interval === undefined) return base;
    // Wait a little longer than the typist's rhythm, within [base, 3·base].
    return Math.round(Math.min(3 * base, Math.max(base, 1.5 * this.interval)));
  }
}

/** Resolves true after `ms`, or false as soon as `isCancelled` says so (checked every 10 ms). */
export function delay(ms: number, onCancel: (cb: () => void) => void): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(true), ms);
    onCancel(() => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}
