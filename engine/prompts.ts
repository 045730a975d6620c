// Turns requests into token sequences laid out for KV reuse.
//
// Completion, with fill-in-the-middle tokens in the vocabulary (Qwen2 family), suffix first:
//   <|fim_suffix|>{lines after the cursor's line}<|fim_prefix|>{path comment}{code before the cursor}<|fim_middle|>
// Typing only appends to the code before the cursor, so each keystroke re-evaluates the last
// few tokens plus <|fim_middle|>; everything before them is reused from the slot. The rest of
// the cursor's own line is left out of the suffix on purpose: auto-closed brackets and quotes
// change it on nearly every keystroke, which would invalidate the whole prompt, and the
// completion filters cut a suggestion where that text begins anyway. Without FIM tokens the
// prompt is the path comment and the code before the cursor.
//
// Chat: the model file's tokenizer.chat_template rendered with @huggingface/jinja; ChatML when
// the file has none or it fails to render. A conversation only grows at its end, so each turn
// reuses the slot's state for all earlier turns.
import { Template } from '@huggingface/jinja';
import type { NativeTokenizer } from './native-addon';
import type { ChatMessage } from './protocol';

const LINE_COMMENT: Record<string, [string, string]> = {
  python: ['# ', ''], shellscript: ['# ', ''], ruby: ['# ', ''], perl: ['# ', ''], r: ['# ', ''], yaml: ['# ', ''],
  toml: ['# ', ''], dockerfile: ['# ', ''], makefile: ['# ', ''], powershell: ['# ', ''], elixir: ['# ', ''],
  sql: ['-- ', ''], lua: ['-- ', ''], haskell: ['-- ', ''],
  html: ['<!-- ', ' -->'], xml: ['<!-- ', ' -->'], markdown: ['<!-- ', ' -->'], vue: ['<!-- ', ' -->'],
  css: ['/* ', ' */'], clojure: [';; ', ''], lisp: [';; ', ''], latex: ['% ', ''], matlab: ['% ', ''], bat: ['REM ', ''],
};

/** The first line of a completion prompt: the file's path as a comment in its language. */
export function pathComment(languageId: string, filePath: string): string {
  const [open, close] = LINE_COMMENT[languageId] ?? ['// ', ''];
  return `${open}${filePath}${close}\n`;
}

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

export interface CompletionPromptInput {
  prefix: string;
  suffix: string;
  languageId: string;
  filePath: string;
}

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

export function completionTokens(
  tokenizer: NativeTokenizer, fim: FimTokens | undefined, input: CompletionPromptInput, fittedPrefix: string, suffixText: string,
): number[] {
  const header = pathComment(input.languageId, input.filePath);
  const body = Array.from(tokenizer.encode(header + fittedPrefix));
  if (!fim) return body;
  return [fim.suffix, ...tokenizer.encode(suffixText), fim.prefix, ...body, fim.middle];
}

// ---------------------------------------------------------------------------------------------
// Chat

function chatml(messages: ChatMessage[]): string {
  return messages.map((m) => `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`).join('') + '<|im_start|>assistant\n';
}

export class ChatRenderer {
  private readonly template: Template | undefined;
  readonly source: 'file' | 'chatml';

  constructor(templateText: string, private readonly onWarning: (message: string) => void = () => {}) {
    let template: Template | undefined;
    if (templateText) {
      try {
        template = new Template(templateText);
      } catch (err) {
        onWarning(`the model's chat template does not parse (${(err as Error).message}); using ChatML`);
      }
    }
    this.template = template;
    this.source = template ? 'file' : 'chatml';
  }

  /** The prompt text for these messages, ending where the assistant's answer begins. */
  render(messages: ChatMessage[]): string {
    if (this.template) {
      try {
        return this.template.render({ messages, add_generation_prompt: true, bos_token: '', eos_token: '' });
      } catch (err) {
        this.onWarning(`the model's chat template failed to render (${(err as Error).message}); using ChatML`);
      }
    }
    return chatml(messages);
  }
}
