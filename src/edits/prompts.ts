// The prompts of the actions that change code (inline edit, Fix, Document, Write Tests) and how
// the code is taken out of the answer. No `vscode` import: tests read the prompts as text.
import type { ChatMessage } from '../../engine/protocol';

export type EditKind = 'edit' | 'fix' | 'document' | 'tests';

export interface EditPromptInput {
  kind: EditKind;
  /** What the user typed (inline edit). */
  instruction?: string;
  /** The code to change (may be empty: inline edit at the cursor writes new code there). */
  code: string;
  languageId: string;
  filePath: string;
  /** Lines around the code, for context; they are not to be repeated. */
  before: string;
  after: string;
  /** For Fix: the problem VS Code reports, with its 1-based line. */
  diagnostic?: { message: string; line: number; source?: string };
}

/** Lines of context sent before and after the code. */
export const CONTEXT_LINES = 30;

const REWRITE_SYSTEM = 'You are SmallThinker, a precise coding assistant inside VS Code. You change code as asked. ' +
  'Reply with the complete replacement code in one fenced code block and nothing else: no explanation, no surrounding code.';
const TESTS_SYSTEM = 'You are SmallThinker, a precise coding assistant inside VS Code. You write unit tests. ' +
  'Reply with one fenced code block holding a complete test file and nothing else.';

function fenced(code: string, languageId: string): string {
  let fence = '```';
  while (code.includes(fence)) fence += '`';
  return `${fence}${languageId}\n${code.replace(/\n$/, '')}\n${fence}`;
}

function task(p: EditPromptInput): string {
  switch (p.kind) {
    case 'edit':
      return p.code.trim()
        ? `Change this code as follows: ${p.instruction ?? ''}`
        : `Write the code to insert at this point, as follows: ${p.instruction ?? ''}`;
    case 'fix': {
      const d = p.diagnostic;
      return `Fix this problem${d ? ` reported at line ${d.line}${d.source ? ` by ${d.source}` : ''}: ${d.message}` : ''}. ` +
        'Change only what the fix needs.';
    }
    case 'document':
      return `Add a documentation comment to this code in the usual style for ${p.languageId} ` +
        '(for example JSDoc for JavaScript and TypeScript, a docstring for Python, /// for Rust). Keep the code itself unchanged.';
    case 'tests':
      return `Write unit tests for this code, using the test framework most usual for ${p.languageId} and importing it from \`${p.filePath}\`.`;
  }
}

/** The chat messages for an action on code. */
export function editMessages(p: EditPromptInput): ChatMessage[] {
  const parts = [task(p), ''];
  if (p.before.trim()) parts.push(`The code before it in \`${p.filePath}\`, for context only:`, fenced(p.before, p.languageId), '');
  parts.push(p.code.trim() ? `The code${p.kind === 'tests' ? ' to test' : ' to change'}, from \`${p.filePath}\`:` : `The insertion point in \`${p.filePath}\` is here.`);
  if (p.code.trim()) parts.push(fenced(p.code, p.languageId));
  if (p.after.trim()) parts.push('', 'The code after it, for context only:', fenced(p.after, p.languageId));
  return [{ role: 'system', content: p.kind === 'tests' ? TESTS_SYSTEM : REWRITE_SYSTEM }, { role: 'user', content: parts.join('\n') }];
}

/**
 * The code in an answer: the first fenced block's contents (also while it is still streaming
 * and unclosed), else the whole answer without blank lines around it.
 */
export function extractCode(answer: string): string {
  const open = /^(`{3,}|~{3,})[^\n]*\n/m.exec(answer);
  if (!open) return answer.replace(/^\s*\n/, '').trimEnd();
  const body = answer.slice(open.index + open[0].length);
  const close = new RegExp(`^${open[1]}[ \\t]*$`, 'm').exec(body);
  const code = close ? body.slice(0, close.index) : body.replace(/\n?`{1,}$/, '');
  return code.replace(/\n$/, '');
}

const indentOf = (line: string) => /^[ \t]*/.exec(line)![0];
function commonIndent(text: string): string {
  const lines = text.split('\n').filter((l) => l.trim());
  if (!lines.length) return '';
  return lines.map(indentOf).reduce((a, b) => (b.length < a.length ? b : a));
}

/**
 * The model's code shaped to the place it replaces: the original's indentation when the model
 * dropped it (a selected method body comes back flush left), and its final newline.
 */
export function fitReplacement(code: string, original: string): string {
  let out = code;
  const indent = commonIndent(original);
  if (indent && !commonIndent(out)) {
    // A selection that starts mid-line already has its first line's indentation in the file.
    const firstStartsMidLine = original.trim() && !original.startsWith(indent) && !original.startsWith('\n');
    out = out.split('\n').map((l, i) => (l.trim() && !(i === 0 && firstStartsMidLine) ? indent + l : l)).join('\n');
  }
  if (original.endsWith('\n') && !out.endsWith('\n')) out += '\n';
  return out;
}
