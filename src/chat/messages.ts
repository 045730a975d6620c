// The messages between the chat webview (media/chat.ts) and the extension host (src/chat/),
// defined once for both ends, and the check every message from the webview passes before the
// host acts on it: the webview runs model output, so what it sends is treated as untrusted.
// No `vscode` import: the webview bundle includes this file.

/** A message as the view shows it: the engine's roles without the system prompt. */
export interface ShownMessage {
  role: 'user' | 'assistant';
  content: string;
}

/** Something attached to the next question, shown as a removable chip. */
export interface AttachmentChip {
  id: string;
  kind: AttachmentKind;
  label: string;
  chars: number;
}

export type AttachmentKind = 'selection' | 'file' | 'problems';

export interface ConversationSummary {
  id: string;
  title: string;
}

export type HostToView =
  /** draft: a question that was not answered, to put back into the empty composer. */
  | {
    type: 'state'; messages: ShownMessage[]; busy: boolean; hasModel: boolean; error?: string; draft?: string;
    attachments: AttachmentChip[]; conversation: ConversationSummary;
  }
  | { type: 'delta'; text: string }
  | { type: 'focus' };

export type ViewToHost =
  | { type: 'ready' }
  | { type: 'ask'; text: string }
  /** The composer's text changed (trimmed, sent after a pause in typing): the host may evaluate it ahead. */
  | { type: 'typing'; text: string }
  | { type: 'stop' }
  | { type: 'newChat' }
  | { type: 'conversations' }
  | { type: 'copy'; code: string }
  | { type: 'insert'; code: string }
  /** message: the index in the shown messages of the answer the code block is in. */
  | { type: 'apply'; code: string; message: number }
  | { type: 'attach'; what: 'selection' | 'file' | 'files' | 'problems' }
  | { type: 'detach'; id: string }
  | { type: 'selectModel' }
  | { type: 'downloadModel' };

/** Longest question or code block the host takes from the view (the engine's own caps are lower). */
export const MAX_VIEW_TEXT_CHARS = 1_000_000;

const ATTACH_WHAT = new Set(['selection', 'file', 'files', 'problems']);
const isText = (v: unknown): v is string => typeof v === 'string' && v.length <= MAX_VIEW_TEXT_CHARS;

/** The message if it is one the view may send, with exactly the fields its type has; else undefined. */
export function parseViewMessage(raw: unknown): ViewToHost | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const m = raw as Record<string, unknown>;
  switch (m.type) {
    case 'ready': case 'stop': case 'newChat': case 'conversations': case 'selectModel': case 'downloadModel':
      return { type: m.type };
    case 'ask': case 'typing':
      return isText(m.text) ? { type: m.type, text: m.text } : undefined;
    case 'copy': case 'insert':
      return isText(m.code) ? { type: m.type, code: m.code } : undefined;
    case 'apply':
      return isText(m.code) && Number.isSafeInteger(m.message) && (m.message as number) >= 0
        ? { type: 'apply', code: m.code, message: m.message as number } : undefined;
    case 'attach':
      return typeof m.what === 'string' && ATTACH_WHAT.has(m.what) ? { type: 'attach', what: m.what as 'selection' } : undefined;
    case 'detach':
      return typeof m.id === 'string' && m.id.length <= 100 ? { type: 'detach', id: m.id } : undefined;
    default:
      return undefined;
  }
}
