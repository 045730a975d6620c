// Generation as text, for the engine process and the CLI alike: the native loop
// (slot.generate, one per process kind: there is no other) turned into streamed text, with
// split UTF-8 held back, stop strings never shown even when split across tokens, and a
// limit on lines; the native work is cancelled as soon as the text is complete.
import type { GenerateResult, NativeSlot, NativeTokenizer } from './native-addon';
import { StopStringMatcher } from './stop-strings';

export interface TextLimits {
  /** Stop strings (not returned). */
  stop: readonly string[];
  /** Stop after this many complete lines. */
  maxLines: number;
}

export interface GeneratedText {
  text: string;
  /** The tokens that made the text: up to the one that completed a stop string or the last line. */
  tokens: number[];
  /** 'stop' for a stop string or a cancellation, 'lines' for the line limit, else the native reason. */
  stopReason: 'eog' | 'length' | 'context' | 'stop' | 'lines';
  result: GenerateResult;
}

/**
 * Runs `generate` (which calls slot.generate with these tokens' callback) and turns its
 * tokens into text; `onText` receives each piece as soon as it is safe to show.
 */
export async function generateText(
  slot: NativeSlot, tokenizer: NativeTokenizer, limits: TextLimits,
  generate: (onToken: (token: number) => void) => Promise<GenerateResult>, onText?: (piece: string) => void,
): Promise<GeneratedText> {
  const decoder = tokenizer.createStreamingDecoder();
  const matcher = new StopStringMatcher(limits.stop);
  let text = '';
  let textStop: 'stop' | 'lines' | undefined;
  const emit = (piece: string) => {
    if (!piece || textStop) return;
    let shown = matcher.push(piece);
    if (matcher.stopped) textStop = 'stop';
    const lines = (text + shown).split('\n');
    if (lines.length > limits.maxLines) {
      shown = lines.slice(0, limits.maxLines).join('\n').slice(text.length);
      textStop = 'lines';
    }
    text += shown;
    if (shown) onText?.(shown);
    if (textStop) slot.cancel();
  };
  const tokens: number[] = [];
  const result = await generate((t) => {
    if (textStop) return;  // the slot was cancelled: tokens already on their way are not part of the text
    tokens.push(t);
    emit(decoder.push(t));
  });
  if (!textStop && result.stopReason !== 'cancelled') emit(decoder.flush() + matcher.flush());
  return { text, tokens, stopReason: textStop ?? (result.stopReason === 'cancelled' ? 'stop' : result.stopReason), result };
}
