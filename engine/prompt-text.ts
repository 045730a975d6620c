// The text of a completion prompt's start, shared by both ends like protocol.ts: the engine
// (engine/prompts.ts) puts it before the tokens it lays out, and the remote engine
// (src/remote/) sends it to a server that lays out its own. Plain text, nothing native.
import type { ContextChunk } from './protocol';

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

/** Text as comments in a language, line by line (context from other files stays out of the code's syntax). */
function commentLines(languageId: string, text: string): string {
  const [open, close] = LINE_COMMENT[languageId] ?? ['// ', ''];
  return text.split('\n').map((l) => `${open}${l}${close}`.trimEnd()).join('\n');
}

/**
 * Tokens of context from other files a completion prompt may carry (within the prompt budget).
 * Sized by what it costs each keystroke, not by what the window could hold: every keystroke's
 * token attends to every cached position, so on the 4B shape each 100 tokens of context add
 * about 1 % to a warm keystroke (docs/benchmarks.md): 845 tokens of context measured 7-11 %
 * (a full 1,024 would cost more), the 455 that fit 512 measured 0-5.5 %.
 */
export const CONTEXT_BUDGET = 512;

/**
 * The start of a completion prompt: chunks of other files as comments in the current file's
 * language, each under the file it comes from, as many as fit `budget` tokens in the order
 * given (the most relevant first). Empty without chunks.
 */
export function contextHeader(languageId: string, chunks: readonly ContextChunk[], budget: number, count: (text: string) => number): string {
  let header = '';
  let used = 0;
  for (const chunk of chunks) {
    const block = `${commentLines(languageId, `Compare this snippet from ${chunk.path}:\n${chunk.text.replace(/\n+$/, '')}`)}\n`;
    const cost = count(block);
    if (used + cost > budget) continue;
    header += block;
    used += cost;
  }
  return header;
}
