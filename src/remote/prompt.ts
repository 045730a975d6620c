// What a completion asks of a remote server, from the same request the local engine gets: the
// text of the prompt for /v1/completions in the chosen format, and the pieces for llama-server's
// /infill, which lays out the fill-in-the-middle prompt with its own model's tokens.
//
// The formats follow engine/prompts.ts, in characters instead of tokens (the server tokenises):
//   prefix   {context}{path comment}{code before the cursor}
//   fim-spm  <|fim_suffix|>{suffix}<|fim_prefix|>{context}{path comment}{code}<|fim_middle|>
//   fim-psm  <|fim_prefix|>{context}{path comment}{code}<|fim_suffix|>{suffix}<|fim_middle|>
// `/infill` is used when the format is a fill-in-the-middle one or `auto` (the server knows
// whether its model has the tokens; it refuses /infill when not, and `prefix` takes over).
// The code before the cursor starts at a line that only moves in steps of PREFIX_STEP_CHARS,
// so that typing appends to what the server has cached (llama-server's cache_prompt).
import { CONTEXT_BUDGET, contextHeader, pathComment } from '../../engine/prompt-text';
import type { CompletionParams } from '../../engine/protocol';
import type { CompletionAsk } from './client';

/** The code before the cursor a remote prompt carries, at most (about 2,500 tokens). */
export const REMOTE_PREFIX_CHARS = 10_000;
/** The prefix's start moves by this much at a time. */
export const PREFIX_STEP_CHARS = 2_000;
/** The code after the cursor, at most. */
export const REMOTE_SUFFIX_CHARS = 2_000;
/** Text per token the budgets assume (code averages 3–4 characters per token). */
const CHARS_PER_TOKEN = 3;

const FIM = { prefix: '<|fim_prefix|>', suffix: '<|fim_suffix|>', middle: '<|fim_middle|>' };

/** The end of `prefix`, at most REMOTE_PREFIX_CHARS, starting after a line break at a stepped offset. */
export function stablePrefix(prefix: string): string {
  if (prefix.length <= REMOTE_PREFIX_CHARS) return prefix;
  // The cut moves only when the text grows by another step, so consecutive keystrokes share it.
  const cut = Math.ceil((prefix.length - REMOTE_PREFIX_CHARS) / PREFIX_STEP_CHARS) * PREFIX_STEP_CHARS;
  const line = prefix.indexOf('\n', cut);
  return line >= 0 && line < prefix.length - 1 ? prefix.slice(line + 1) : prefix.slice(cut);
}

/** The suffix up to REMOTE_SUFFIX_CHARS, without the rest of the cursor's line (it changes with every auto-closed bracket). */
export function remoteSuffix(suffix: string): string {
  const lineEnd = suffix.indexOf('\n');
  return lineEnd < 0 ? '' : suffix.slice(lineEnd + 1, lineEnd + 1 + REMOTE_SUFFIX_CHARS);
}

/** The request to a remote server for one completion. */
export function remoteCompletionAsk(params: CompletionParams): CompletionAsk {
  const format = params.format ?? 'prefix';
  const chunks = params.context ?? [];
  const header = contextHeader(params.languageId, chunks, CONTEXT_BUDGET, (t) => Math.ceil(t.length / CHARS_PER_TOKEN)) +
    pathComment(params.languageId, params.filePath);
  const code = header + stablePrefix(params.prefix);
  const suffix = remoteSuffix(params.suffix);
  const prompt = format === 'fim-spm' ? `${FIM.suffix}${suffix}${FIM.prefix}${code}${FIM.middle}`
    : format === 'fim-psm' ? `${FIM.prefix}${code}${FIM.suffix}${suffix}${FIM.middle}`
      : code;
  // One line where the rest of the line has code; the filters cut what a multi-line answer overshoots.
  const stop = [...(params.stop ?? []), ...(params.maxLines === 1 ? ['\n'] : [])];
  return {
    prompt, maxTokens: params.maxTokens, temperature: params.temperature ?? 0, stop,
    ...(format === 'prefix' ? {} : {
      infill: { prefix: pathComment(params.languageId, params.filePath) + stablePrefix(params.prefix), suffix, extra: chunks.map((c) => ({ filename: c.path, text: c.text })) },
    }),
  };
}
