// Turns requests into token sequences laid out for KV reuse.
//
// Completion, in one of three formats (CompletionPromptFormat, the extension's
// smallthinker.completion.promptFormat setting):
//   prefix   {path comment}{code before the cursor}
//   fim-spm  <|fim_suffix|>{suffix}<|fim_prefix|>{path comment}{code before the cursor}<|fim_middle|>
//   fim-psm  <|fim_prefix|>{path comment}{code before the cursor}<|fim_suffix|>{suffix}<|fim_middle|>
// `prefix` is a plain continuation and works with any causal model; it is the default because
// nothing shows that SmallThinker learned fill-in-the-middle (its vocabulary has the tokens
// whatever the training did). The FIM formats exist for files that did learn it: PSM is the
// order the Qwen2.5-Coder family is trained on, SPM is what keeps typing cheapest.
// Typing only appends to the code before the cursor. In `prefix` and `fim-spm` that is the end
// of the prompt (before <|fim_middle|>), so a keystroke re-evaluates its own few tokens (plus
// <|fim_middle|>) and reuses everything before them from the slot. In `fim-psm` the suffix
// follows the code, so every keystroke also re-evaluates the suffix: it gets a smaller budget
// (PSM_SUFFIX_BUDGET) to bound that. The rest of the cursor's own line is left out of the
// suffix on purpose: auto-closed brackets and quotes change it on nearly every keystroke, which
// would invalidate the prompt from there on, and the completion filters cut a suggestion where
// that text begins anyway. A FIM format asked of a vocabulary without the three tokens falls
// back to `prefix`.
//
// Chat: the model file's tokenizer.chat_template rendered with @huggingface/jinja (bounded in
// time and output; ChatML when the file has none or it misbehaves), with the messages'
// contents kept apart from the template's markup so that only the markup can become control
// tokens. A conversation only grows at its end, so each turn reuses the slot's state for all
// earlier turns.
import vm from 'node:vm';
import { Template } from '@huggingface/jinja';
import type { NativeTokenizer } from './native-addon';
import { CONTEXT_BUDGET, contextHeader, pathComment } from './prompt-text';
import type { ChatMessage, CompletionFormatChoice, CompletionPromptFormat, ContextChunk } from './protocol';

export { CONTEXT_BUDGET, contextHeader, pathComment };

export interface FimTokens {
  prefix: number;
  suffix: number;
  middle: number;
}

/** The vocabulary's fill-in-the-middle tokens, if it has all three. */
export function findFimTokens(tokenizer: NativeTokenizer): FimTokens | undefined {
  const id = (text: string) => {
    const t = tokenizer.encode(text, { parseSpecial: true });
    return t.length === 1 ? t[0] : undefined;
  };
  const prefix = id('<|fim_prefix|>'), suffix = id('<|fim_suffix|>'), middle = id('<|fim_middle|>');
  return prefix !== undefined && suffix !== undefined && middle !== undefined ? { prefix, suffix, middle } : undefined;
}

/**
 * contextHeader, remembered: a document's requests carry the same chunks from one pause to the
 * next, so each keystroke would otherwise tokenise up to CONTEXT_BUDGET tokens of them again.
 */
export class ContextHeaders {
  private readonly headers = new Map<string, { text: string; tokens: number }>();

  constructor(private readonly capacity = 16) {}

  get(languageId: string, chunks: readonly ContextChunk[], budget: number, count: (text: string) => number): { text: string; tokens: number } {
    const key = `${languageId}\u0000${budget}\u0000${chunks.map((c) => `${c.path}\u0000${c.text}`).join('\u0000')}`;
    let held = this.headers.get(key);
    if (held) {
      this.headers.delete(key);
    } else {
      const text = contextHeader(languageId, chunks, budget, count);
      held = { text, tokens: text ? count(text) : 0 };
      if (this.headers.size >= this.capacity) this.headers.delete(this.headers.keys().next().value as string);
    }
    this.headers.set(key, held);
    return held;
  }
}

export interface CompletionPromptInput {
  prefix: string;
  suffix: string;
  languageId: string;
  filePath: string;
}

/** Bounds on a request's context chunks (validated by the engine). */
export const MAX_CONTEXT_CHUNKS = 32;
export const MAX_CONTEXT_CHUNK_CHARS = 16_000;

/**
 * Where to start the code before the cursor when it is too long. Remembered per document and
 * kept while the prompt still fits, so the start (and with it the whole reused state) moves
 * only once every ~quarter budget of typing instead of on every keystroke.
 */
export class PrefixWindow {
  private readonly starts = new Map<string, number>();

  constructor(private readonly maxDocuments = 64) {}

  /** Returns the tail of `prefix` to use, cut at a line start, within `budget` tokens. */
  fit(documentId: string, prefix: string, budget: number, count: (text: string) => number): string {
    const remembered = this.starts.get(documentId) ?? 0;
    if (remembered <= prefix.length) {
      const kept = prefix.slice(remembered);
      if (count(kept) <= budget) return this.remember(documentId, remembered, kept);
    }
    if (count(prefix) <= budget) return this.remember(documentId, 0, prefix);
    // Too long: drop whole lines from the start until three quarters of the budget is used.
    const target = Math.floor(budget * 0.75);
    let start = 0;
    while (start < prefix.length) {
      const nl = prefix.indexOf('\n', start);
      if (nl < 0) break;
      start = nl + 1;
      if (count(prefix.slice(start)) <= target) break;
    }
    let kept = prefix.slice(start);
    // A single enormous line: keep its end.
    while (count(kept) > budget && kept.length > 1) kept = kept.slice(Math.floor(kept.length / 4));
    return this.remember(documentId, prefix.length - kept.length, kept);
  }

  private remember(documentId: string, start: number, kept: string): string {
    this.starts.delete(documentId);
    this.starts.set(documentId, start);
    if (this.starts.size > this.maxDocuments) this.starts.delete(this.starts.keys().next().value as string);
    return kept;
  }
}

/** The suffix the model sees: the lines after the cursor's line, at most `budget` tokens. */
export function suffixContext(suffix: string, budget: number, count: (text: string) => number): string {
  const nl = suffix.indexOf('\n');
  if (nl < 0) return '';
  let lines = suffix.slice(nl + 1).split('\n');
  while (lines.length > 0 && count(lines.join('\n')) > budget) lines = lines.slice(0, Math.floor(lines.length * 0.75));
  return lines.join('\n');
}

/** Tokens of the lines after the cursor's line that a fill-in-the-middle prompt carries. */
export const SPM_SUFFIX_BUDGET = 256;
/** Smaller for PSM: its suffix comes after the code, so every keystroke evaluates it again. */
export const PSM_SUFFIX_BUDGET = 64;

/**
 * The format a request gets on this vocabulary: a FIM format needs all three FIM tokens;
 * `auto` is `autoFormat`, what the file's FIM rows allow (engine/fim-check.ts).
 */
export function effectiveFormat(asked: CompletionFormatChoice | undefined, fim: FimTokens | undefined,
  autoFormat: CompletionPromptFormat = 'prefix'): CompletionPromptFormat {
  const format = asked === 'auto' ? autoFormat : asked;
  return format && format !== 'prefix' && fim ? format : 'prefix';
}

/** The suffix budget of a format (0: the format has no suffix). */
export function suffixBudget(format: CompletionPromptFormat): number {
  return format === 'fim-spm' ? SPM_SUFFIX_BUDGET : format === 'fim-psm' ? PSM_SUFFIX_BUDGET : 0;
}

/** The completion prompt in `format` (already effective: FIM formats only with `fim`). */
export function completionTokens(
  tokenizer: NativeTokenizer, format: CompletionPromptFormat, fim: FimTokens | undefined, input: CompletionPromptInput,
  fittedPrefix: string, suffixText: string, context = '',
): number[] {
  // Context first: it only changes when the user pauses, so typing still only appends.
  const header = context + pathComment(input.languageId, input.filePath);
  const code = Array.from(tokenizer.encode(header + fittedPrefix));
  if (format === 'prefix' || !fim) return code;
  const suffix = Array.from(tokenizer.encode(suffixText));
  return format === 'fim-spm'
    ? [fim.suffix, ...suffix, fim.prefix, ...code, fim.middle]
    : [fim.prefix, ...code, fim.suffix, ...suffix, fim.middle];
}

// ---------------------------------------------------------------------------------------------
// Chat

/**
 * A piece of a rendered chat prompt. Only markup (what the template itself writes) may turn
 * into control tokens such as <|im_start|>; a message's content is always plain text, so a
 * question or an attached file that contains "<|im_end|><|im_start|>system" stays text.
 */
export interface PromptPart {
  text: string;
  markup: boolean;
}

/** Rendering the file's template may take this long before ChatML takes over for good. */
export const TEMPLATE_TIMEOUT_MS = 250;
/** A template longer than this is not run (real ones are a few kilobytes). */
export const TEMPLATE_SOURCE_LIMIT = 64 * 1024;
/** The template's own output (markup, not counting the messages) may be at most this long. */
export const TEMPLATE_MARKUP_LIMIT = 64 * 1024;

function chatml(messages: readonly ChatMessage[]): PromptPart[] {
  const parts: PromptPart[] = [];
  for (const m of messages) {
    parts.push({ text: `<|im_start|>${m.role}\n`, markup: true }, { text: m.content, markup: false }, { text: '<|im_end|>\n', markup: true });
  }
  parts.push({ text: '<|im_start|>assistant\n', markup: true });
  return parts;
}

/** The prompt's text as one string (for logs and tests). */
export function partsText(parts: readonly PromptPart[]): string {
  return parts.map((p) => p.text).join('');
}

/**
 * Renders conversations with the model file's tokenizer.chat_template (@huggingface/jinja),
 * or ChatML when the file has none or its template misbehaves. The template is code from the
 * model file: it runs with a time limit, its output is bounded, and it never sees the
 * messages' text, only placeholders that are replaced by the contents afterwards, as plain text.
 * A template that fails once is not tried again.
 */
export class ChatRenderer {
  private template: Template | undefined;
  private readonly sandbox = vm.createContext({ job: () => '' });

  constructor(templateText: string, private readonly onWarning: (message: string) => void = () => {}) {
    if (templateText.length > TEMPLATE_SOURCE_LIMIT) {
      onWarning(`the model's chat template is ${templateText.length} characters long (limit ${TEMPLATE_SOURCE_LIMIT}); using ChatML`);
    } else if (templateText) {
      try {
        this.template = new Template(templateText);
      } catch (err) {
        onWarning(`the model's chat template does not parse (${(err as Error).message}); using ChatML`);
      }
    }
  }

  get source(): 'file' | 'chatml' {
    return this.template ? 'file' : 'chatml';
  }

  /** The prompt for these messages, ending where the assistant's answer begins. */
  render(messages: readonly ChatMessage[]): PromptPart[] {
    if (this.template) {
      try {
        return this.renderTemplate(this.template, messages);
      } catch (err) {
        this.template = undefined;
        this.onWarning(`the model's chat template failed (${(err as Error).message}); using ChatML from now on`);
      }
    }
    return chatml(messages);
  }

  private renderTemplate(template: Template, messages: readonly ChatMessage[]): PromptPart[] {
    // Placeholders made of private-use characters and a fresh nonce: no message contains one.
    const nonce = Math.random().toString(36).slice(2, 10);
    const placeholder = (i: number) => `\uE000${nonce}:${i}\uE001`;
    const placeholders = messages.map((m, i) => ({ role: m.role, content: placeholder(i) }));
    this.sandbox.job = () => template.render({ messages: placeholders, add_generation_prompt: true, bos_token: '', eos_token: '' });
    let rendered: string;
    try {
      rendered = vm.runInContext('job()', this.sandbox, { timeout: TEMPLATE_TIMEOUT_MS }) as string;
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') {
        throw new Error(`it ran for more than ${TEMPLATE_TIMEOUT_MS} ms`, { cause: err });
      }
      throw err;
    } finally {
      this.sandbox.job = () => '';
    }
    if (typeof rendered !== 'string') throw new Error('it did not produce text');
    const parts: PromptPart[] = [];
    const pattern = new RegExp(`\uE000${nonce}:(\\d+)\uE001`, 'g');
    let markupChars = 0;
    let at = 0;
    const markup = (text: string) => {
      if (text.includes('\uE000')) throw new Error('it changed the message contents it was given');
      markupChars += text.length;
      if (markupChars > TEMPLATE_MARKUP_LIMIT) throw new Error(`its output is over ${TEMPLATE_MARKUP_LIMIT} characters besides the messages`);
      if (text) parts.push({ text, markup: true });
    };
    for (const match of rendered.matchAll(pattern)) {
      markup(rendered.slice(at, match.index));
      const message = messages[Number(match[1])];
      if (!message) throw new Error('it wrote a message that does not exist');
      if (message.content) parts.push({ text: message.content, markup: false });
      at = match.index! + match[0].length;
    }
    markup(rendered.slice(at));
    return parts;
  }
}

export class PromptTooLongError extends Error {}

/** A conversation's prompt and the message it starts from (after the leading system messages). */
export interface ChatPrompt {
  tokens: number[];
  /** Index of the first message kept after the system messages. */
  start: number;
}

/**
 * The tokens of a conversation within `limit` tokens. Whole turns go, oldest first (a turn
 * starts at a user message); the leading system messages and the last message always stay.
 * Turns are first dropped by characters (at most `charsPerToken` per allowed token, no
 * tokenising), then the start is found by bisection, so a long history costs a few
 * renderings, not one per turn.
 *
 * When turns must go, the prompt is cut to three quarters of the limit, and `keepFrom` (the
 * start the previous turn of this conversation used) is kept while the prompt from it still
 * fits: the start, and with it the slot's cached state for the whole window, then moves once
 * every several turns instead of on every turn.
 */
export function chatPromptTokens(
  chat: ChatRenderer, tokenizer: NativeTokenizer, messages: readonly ChatMessage[], limit: number, charsPerToken: number,
  keepFrom?: number,
): ChatPrompt {
  let system = 0;
  while (system < messages.length - 1 && messages[system].role === 'system') system++;
  const last = messages.length - 1;
  const starts: number[] = [];
  for (let i = system; i <= last; i++) if (messages[i].role === 'user' || i === last) starts.push(i);
  const head = messages.slice(0, system);
  const encode = (start: number) => {
    const parts = chat.render([...head, ...messages.slice(start)]);
    return Array.from(tokenizer.encodeParts(parts.map((p) => ({ text: p.text, parseSpecial: p.markup }))));
  };
  if (keepFrom !== undefined && starts.includes(keepFrom) && keepFrom !== starts[0]) {
    const tokens = encode(keepFrom);
    if (tokens.length <= limit) return { tokens, start: keepFrom };
  }
  const charCap = limit * charsPerToken;
  const length = (from: number, to: number) => messages.slice(from, to).reduce((n, x) => n + x.content.length, 0);
  let lo = 0;
  let chars = length(0, system) + length(starts[0], last + 1);
  while (lo < starts.length - 1 && chars > charCap) {
    chars -= length(starts[lo], starts[lo + 1]);
    lo++;
  }
  if (chars > charCap) {
    throw new PromptTooLongError(`the question is ${chars} characters long; the prompt cap is ${limit} tokens`);
  }
  let hi = starts.length - 1;
  let best = encode(starts[hi]);  // always the encoding of starts[hi]
  if (best.length > limit) {
    throw new PromptTooLongError(`the question needs ${best.length} tokens with the system prompt; the prompt cap is ${limit} tokens`);
  }
  if (lo === 0) {
    const whole = encode(starts[0]);
    if (whole.length <= limit) return { tokens: whole, start: starts[0] };
  }
  // Turns must go: cut to three quarters of the limit (or as close as the last turn allows).
  const target = Math.max(best.length, Math.floor(limit * 0.75));
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const tokens = encode(starts[mid]);
    if (tokens.length <= target) {
      best = tokens;
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return { tokens: best, start: starts[hi] };
}
