// The chat: the open conversation, the attachments waiting for the next question, the running
// request, and what the webview should show. Conversations are kept by `Conversations`. No
// `vscode` import: the caller passes a way to talk to the engine, the conversation store and a
// function to post to the webview.
import { EngineErrorCodes, type ChatMessage, type ChatParams, type ChatResult } from '../../engine/protocol';
import { Conversations, newConversationId, titleFrom, type Conversation, type EditTarget, type StoredMessage } from './conversations';
import type { AttachmentChip, AttachmentKind, HostToView, ShownMessage } from './messages';

export interface ChatEngine {
  chat(params: ChatParams, signal: { cancel(): void; onCancel(cb: () => void): void }, onDelta: (text: string) => void): Promise<ChatResult>;
  /** The number of tokens of a text in the loaded model's vocabulary. */
  countTokens(text: string): Promise<number>;
  /** Evaluates the prompt of a question still being written (a hint: the engine may do nothing). */
  warmChat?(params: ChatParams): void;
}

/** Something attached to a question: a selection, a file, or the current problems. */
export interface Attachment {
  kind: AttachmentKind;
  /** What the chip says, e.g. `src/a.ts:3-9`. */
  label: string;
  /** What goes into the question. */
  text: string;
  /** For code: where it came from, so code in the answer can replace it. */
  target?: EditTarget;
}

export interface ChatSettings {
  maxTokens: number;
  temperature: number;
  /** The loaded model's context, in tokens (0: not known). */
  contextTokens: number;
}

/** Attachments longer than this together are refused before anything is sent or stored. */
export const MAX_ATTACHMENT_CHARS = 200_000;
/** At most this many chips wait for the next question. */
export const MAX_PENDING_ATTACHMENTS = 16;

const SYSTEM_PROMPT = 'You are SmallThinker, a concise coding assistant inside VS Code. Answer in markdown; put code in fenced blocks with a language.';

/** Code as a fenced block, with its path, that its own backticks cannot break. */
export function codeBlock(code: string, languageId: string, filePath: string): string {
  let fence = '```';
  while (code.includes(fence)) fence += '`';
  return `\n\n${filePath ? `From \`${filePath}\`:\n` : ''}${fence}${languageId}\n${code.replace(/\n$/, '')}\n${fence}`;
}

const number = (n: number) => n.toLocaleString('en-US');

/** A user message: the question, then its attachments. */
const questionContent = (question: string, attachments: Attachment[]) => question + attachments.map((a) => a.text).join('');

/**
 * Streamed text goes to the view at most this often, gathered: a fast model writes a thousand
 * tokens a second, and a message per token queued up behind each other on the way to the view
 * (and Stop's message on the way back) for seconds.
 */
export const DELTA_INTERVAL_MS = 50;

export class ChatController {
  private conversation: Conversation;
  private pending: Array<AttachmentChip & { attachment: Attachment }> = [];
  private running: { cancel(): void } | undefined;
  private error: string | undefined;
  private draft: string | undefined;
  private turn = 0;  // an answer that arrives after a newer question (or another conversation) is dropped
  private nextChip = 0;
  private unsent = '';  // streamed text not yet posted to the view
  private deltaTimer: NodeJS.Timeout | undefined;

  constructor(private readonly engine: ChatEngine, private readonly conversations: Conversations, private readonly post: (m: HostToView) => void,
    private readonly hasModel: () => boolean, private readonly settings: () => ChatSettings) {
    const active = conversations.activeId;
    this.conversation = (active && conversations.load(active)) || { id: newConversationId(), title: 'New chat', messages: [] };
  }

  get busy(): boolean {
    return this.running !== undefined;
  }

  get history(): readonly StoredMessage[] {
    return this.conversation.messages;
  }

  get id(): string {
    return this.conversation.id;
  }

  show(): void {
    this.dropUnsent();  // the state carries the whole conversation
    this.post({
      type: 'state', messages: this.conversation.messages.map(({ role, content }) => ({ role, content }) as ShownMessage),
      busy: this.busy, hasModel: this.hasModel(), error: this.error, draft: this.draft,
      attachments: this.pending.map(({ id, kind, label, chars }) => ({ id, kind, label, chars })),
      conversation: { id: this.conversation.id, title: this.conversation.title },
    });
    this.draft = undefined;
  }

  /** Adds a chip for the next question; the same selection or file twice is one chip. */
  attach(attachment: Attachment): void {
    this.pending = this.pending.filter((p) => p.label !== attachment.label);
    this.pending.push({ id: `a${++this.nextChip}`, kind: attachment.kind, label: attachment.label, chars: attachment.text.length, attachment });
    this.pending.splice(0, Math.max(0, this.pending.length - MAX_PENDING_ATTACHMENTS));
    this.error = undefined;
    this.show();
  }

  detach(id: string): void {
    this.pending = this.pending.filter((p) => p.id !== id);
    this.show();
  }

  /**
   * The question being written (trimmed, as it will be sent): its prompt, with the waiting
   * chips, is evaluated ahead while the engine is idle, so that sending it only evaluates what
   * was typed since. Nothing while an answer runs or without a model.
   */
  typing(question: string): void {
    if (this.running || !question || !this.hasModel() || !this.engine.warmChat) return;
    const attachments = this.pending.map((p) => p.attachment);
    if (this.sizeRefusal(attachments)) return;
    const { maxTokens, temperature } = this.settings();
    const content = questionContent(question, attachments);
    this.engine.warmChat({ chatId: this.conversation.id, maxTokens, temperature, messages: this.requestMessages([{ role: 'user', content }]) });
  }

  /**
   * Asks with the waiting chips, or, when `own` is given (Explain Selection brings its own
   * attachment), with those alone: the chips stay for the question the user is writing.
   */
  async ask(question: string, own?: Attachment[]): Promise<void> {
    if (this.running) this.stop();
    const turn = ++this.turn;
    const cancelListeners: Array<() => void> = [];
    const signal = { cancel: () => cancelListeners.splice(0).forEach((cb) => cb()), onCancel: (cb: () => void) => cancelListeners.push(cb) };
    let stopped = false;
    signal.onCancel(() => (stopped = true));
    this.running = signal;  // busy from here: Stop works while the attachments are counted too
    const attachments = own ?? this.pending.map((p) => p.attachment);
    const content = questionContent(question, attachments);
    const refused = this.sizeRefusal(attachments) ?? (attachments.length ? await this.contextRefusal(content) : undefined);
    if (turn !== this.turn) return;
    if (refused || stopped) {
      this.running = undefined;
      this.error = refused;
      this.draft = question;
      this.show();
      return;
    }
    if (!own) this.pending = [];
    const targets = attachments.flatMap((a) => (a.target ? [a.target] : []));
    const asked: StoredMessage = { role: 'user', content, ...(targets.length ? { targets } : {}) };
    if (!this.conversation.messages.length) this.conversation.title = titleFrom(question);
    this.conversation.messages.push(asked);
    this.error = undefined;
    this.save();
    this.show();
    let answer = '';
    let failure: string | undefined;
    const { maxTokens, temperature } = this.settings();
    const conversation = this.conversation;
    try {
      const result = await this.engine.chat({ chatId: conversation.id, maxTokens, temperature, messages: this.requestMessages() }, signal, (text) => {
        answer += text;
        if (turn === this.turn) this.postDelta(text);
      });
      answer = result.text;
    } catch (err) {
      // A stopped answer keeps what was streamed; anything else is shown as an error.
      if ((err as { code?: number }).code !== EngineErrorCodes.RequestCancelled) failure = `The engine could not answer: ${(err as Error).message}`;
    } finally {
      if (this.running === signal) this.running = undefined;
    }
    if (turn !== this.turn) {
      // A newer question in this conversation replaced this one: its answer is dropped. If the
      // user moved to another conversation meanwhile, the answer is stored there, not shown.
      if (conversation !== this.conversation) {
        if (answer) conversation.messages.push({ role: 'assistant', content: answer });
        else if (conversation.messages.at(-1) === asked) conversation.messages.pop();
        this.conversations.save(conversation, false);
      }
      return;
    }
    this.error = failure;
    if (answer) {
      conversation.messages.push({ role: 'assistant', content: answer });
    } else if (failure && conversation.messages.at(-1) === asked) {
      // Nothing was answered: the question leaves the history (a refused question would
      // otherwise be sent again with every later one) and goes back into the composer.
      conversation.messages.pop();
      this.draft = question;
    }
    this.save();
    this.show();
  }

  /** What a request sends: the system prompt, the open conversation, then `more`. */
  private requestMessages(more: ChatMessage[] = []): ChatMessage[] {
    return [{ role: 'system', content: SYSTEM_PROMPT }, ...this.conversation.messages.map(({ role, content }) => ({ role, content })), ...more];
  }

  /** Why the attachments are too long to send at all, or undefined. */
  private sizeRefusal(attachments: Attachment[]): string | undefined {
    const attached = attachments.reduce((n, a) => n + a.text.length, 0);
    if (attached <= MAX_ATTACHMENT_CHARS) return undefined;
    return `The attachments are ${number(attached)} characters long; SmallThinker can take at most ${number(MAX_ATTACHMENT_CHARS)}. ` +
      'Remove one or attach less, and ask again.';
  }

  /** Why the question with its attachments does not fit the model's context, or undefined. */
  private async contextRefusal(content: string): Promise<string | undefined> {
    const { contextTokens, maxTokens } = this.settings();
    if (!contextTokens) return undefined;
    // The question with its attachments must fit the model's context with room for the answer;
    // older turns are dropped by the engine, this one cannot be.
    const room = contextTokens - Math.min(maxTokens, contextTokens / 2);
    let tokens: number;
    try {
      tokens = await this.engine.countTokens(content);
    } catch {
      return undefined;  // the engine is not there to count: it will say so itself when asked
    }
    if (tokens <= room) return undefined;
    return `The question with its attachments is ${number(tokens)} tokens; the model's context leaves room for ${number(Math.floor(room))} ` +
      `(${number(contextTokens)} tokens, ${number(maxTokens)} kept for the answer). Remove an attachment or attach less, and ask again.`;
  }

  stop(): void {
    this.running?.cancel();
  }

  /** Where code from the answer at `index` (of the shown messages) should go: the targets of the question it answers. */
  targetsOf(index: number): EditTarget[] {
    for (let i = Math.min(index, this.conversation.messages.length - 1); i >= 0; i--) {
      const m = this.conversation.messages[i];
      if (m.role === 'user') return m.targets ?? [];
    }
    return [];
  }

  newChat(): void {
    this.leave();
    this.conversation = { id: newConversationId(), title: 'New chat', messages: [] };
    this.save();
    this.show();
  }

  list() {
    return this.conversations.list();
  }

  switchTo(id: string): boolean {
    const next = this.conversations.load(id);
    if (!next) return false;
    this.leave();
    this.conversation = next;
    this.save();
    this.show();
    return true;
  }

  rename(id: string, title: string): void {
    this.conversations.rename(id, title);
    if (id === this.conversation.id) this.conversation.title = this.conversations.load(id)?.title ?? this.conversation.title;
    this.show();
  }

  delete(id: string): void {
    this.conversations.delete(id);
    if (id !== this.conversation.id) return this.show();
    const next = this.conversations.list()[0];
    if (next) this.switchTo(next.id);
    else this.newChat();
  }

  private leave(): void {
    this.stop();
    this.running = undefined;
    this.turn++;
    this.error = undefined;
    this.pending = [];
  }

  private postDelta(text: string): void {
    this.unsent += text;
    this.deltaTimer ??= setTimeout(() => {
      this.deltaTimer = undefined;
      const unsent = this.unsent;
      this.unsent = '';
      if (unsent) this.post({ type: 'delta', text: unsent });
    }, DELTA_INTERVAL_MS);
  }

  private dropUnsent(): void {
    clearTimeout(this.deltaTimer);
    this.deltaTimer = undefined;
    this.unsent = '';
  }

  /** Stores the open conversation; its messages become the bounded ones (the same objects). */
  private save(): void {
    this.conversation.messages = this.conversations.save(this.conversation).messages;
  }
}
