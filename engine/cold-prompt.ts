// How long a completion prompt may be when its document's slot holds nothing to reuse (a file
// just opened, or an edit far above the cursor): as many tokens as this machine evaluates in
// COLD_PROMPT_MS, measured from the engine's own prompt evaluations. A first suggestion that
// takes 20 s on a slow laptop is no suggestion; a shorter window of the code nearest the cursor
// arrives in a few seconds, and the window then grows as the user types (its start stays put,
// so every later keystroke reuses it). Warm-ups, which nobody waits for, are not cut.

/** What the evaluation of a cold completion prompt may take. */
export const COLD_PROMPT_MS = 3000;
/** Never cut a cold prompt below this (about what other assistants send in all). */
export const MIN_COLD_PROMPT_TOKENS = 256;
/** The cut before any evaluation has been measured. */
export const FIRST_COLD_PROMPT_TOKENS = 512;
/** Evaluations shorter than this say more about per-call overhead than about speed. */
const MIN_MEASURED_TOKENS = 64;

export class ColdPromptLimit {
  private tokensPerSecond: number | undefined;

  /** `fixedTokens`: a limit that ignores the measurements (loadModel's `coldPromptTokens`). */
  constructor(private readonly fixedTokens?: number) {}

  /** One prompt evaluation that ran to its end: `tokens` evaluated in `ms`. */
  record(tokens: number, ms: number): void {
    if (tokens < MIN_MEASURED_TOKENS || !(ms > 0)) return;
    const rate = (tokens * 1000) / ms;
    // Half the weight on the newest: the machine's speed moves (other processes, power states).
    this.tokensPerSecond = this.tokensPerSecond === undefined ? rate : (this.tokensPerSecond + rate) / 2;
  }

  /** The measured speed in tokens per second, if any. */
  get rate(): number | undefined {
    return this.tokensPerSecond;
  }

  /** The most tokens a completion may evaluate when it reuses nothing. */
  get tokens(): number {
    if (this.fixedTokens !== undefined) return this.fixedTokens;
    if (this.tokensPerSecond === undefined) return FIRST_COLD_PROMPT_TOKENS;
    return Math.max(MIN_COLD_PROMPT_TOKENS, Math.floor((this.tokensPerSecond * COLD_PROMPT_MS) / 1000));
  }
}
