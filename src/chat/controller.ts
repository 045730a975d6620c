// One conversation at a time: the messages, the running request, and what the webview should
// show. No `vscode` import: the view passes it a way to talk to the engine, a store for the
// history and a function to post to the webview.
import { EngineErrorCodes, type ChatMessage, type ChatParams, type ChatResult } from '../../engine/protocol';

export interface ChatEngine {
  chat(params: ChatParams, signal: { cancel(): void; onCancel(cb: () => void): void }, onDelta: (text: string) => void): Promise<ChatResult>;
}

export interface ChatStore {
  load(): { chatId: string; messages: ChatMessage[] } | undefined;
  save(value: { chatId: string; messages: ChatMessage[] }): void;
}

export interface Attachment {
  code: string;
  languageId: string;
  filePath: string;
}

export type ViewMessage =
  /** draft: a question that was not answered, to put back into the empty composer. */
  | { type: 'state'; messages: ChatMessage[]; busy: boolean; hasModel: boolean; error?: string; draft?: string }
  | { type: 'delta'; text: string }
  | { type: 'focus' };

/** Keeps history bounded, in messages and in characters: the oldest turns go first. */
const MAX_STORED_MESSAGES = 200;
const MAX_STORED_CHARS = 1_000_000;
/** An attachment longer than this is refused before anything is sent or stored (the engine's cap is lower still). */
export const MAX_ATTACHMENT_CHARS = 200_000;

const SYSTEM_PROMPT = 'You are SmallThinker, a concise coding assistant inside VS Code. Answer in markdown; put code in fenced blocks with a language.';

const newChatId = () => `chat-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;

export function attachmentBlock(a: Attachment): string {
  const fence = a.code.includes('```') ? '````' : '```';
  return `\n\n${a.filePath ? `From \`${a.filePath}\`:\n` : ''}${fence}${a.languageId}\n${a.code}\n${fence}`;
}

export class ChatController {
  private chatId: string;
  private messages: ChatMessage[];
  private running: { cancel(): void } | undefined;
  private error: string | undefined;
  private draft: string | undefined;
  private turn = 0;  // an answer that arrives after a newer question (or New Chat) is dropped

  constructor(private readonly engine: ChatEngine, private readonly store: ChatStore, private readonly post: (m: ViewMessage) => void,
    private readonly hasModel: () => boolean, private readonly settings: () => { maxTokens: number; temperature: number }) {
    const saved = store.load();
    this.chatId = saved?.chatId ?? newChatId();
    this.messages = saved?.messages ?? [];
  }

  get busy(): boolean {
    return this.running !== undefined;
  }

  get history(): readonly ChatMessage[] {
    return this.messages;
  }

  show(): void {
    this.post({ type: 'state', messages: this.messages, busy: this.busy, hasModel: this.hasModel(), error: this.error, draft: this.draft });
    this.draft = undefined;
  }

  async ask(question: string, attachment?: Attachment): Promise<void> {
    if (this.running) this.stop();
    const turn = ++this.turn;
    if (attachment && attachment.code.length > MAX_ATTACHMENT_CHARS) {
      this.error = `The selection is ${attachment.code.length.toLocaleString('en-US')} characters long; ` +
        `SmallThinker can take at most ${MAX_ATTACHMENT_CHARS.toLocaleString('en-US')}. Select less and ask again.`;
      this.draft = question;
      this.show();
      return;
    }
    const content = attachment ? question + attachmentBlock(attachment) : question;
    const asked: ChatMessage = { role: 'user', content };
    this.messages.push(asked);
    this.error = undefined;
    const cancelListeners: Array<() => void> = [];
    const signal = { cancel: () => cancelListeners.forEach((cb) => cb()), onCancel: (cb: () => void) => cancelListeners.push(cb) };
    this.running = signal;
    this.save();
    this.show();
    let answer = '';
    const { maxTokens, temperature } = this.settings();
    try {
      const result = await this.engine.chat({
        chatId: this.chatId, maxTokens, temperature, messages: [{ role: 'system', content: SYSTEM_PROMPT }, ...this.messages],
      }, signal, (text) => {
        answer += text;
        this.post({ type: 'delta', text });
      });
      answer = result.text;
    } catch (err) {
      const code = (err as { code?: number }).code;
      // A stopped answer keeps what was streamed; anything else is shown as an error.
      if (code !== EngineErrorCodes.RequestCancelled) this.error = `The engine could not answer: ${(err as Error).message}`;
    } finally {
      if (this.running === signal) this.running = undefined;
    }
    if (turn !== this.turn) return;
    if (answer) {
      this.messages.push({ role: 'assistant', content: answer });
    } else if (this.error && this.messages.at(-1) === asked) {
      // Nothing was answered: the question leaves the history (a refused question would
      // otherwise be sent again with every later one) and goes back into the composer.
      this.messages.pop();
      this.draft = question;
    }
    this.save();
    this.show();
  }

  stop(): void {
    this.running?.cancel();
  }

  newChat(): void {
    this.stop();
    this.running = undefined;
    this.turn++;
    this.chatId = newChatId();
    this.messages = [];
    this.error = undefined;
    this.save();
    this.show();
  }

  private save(): void {
    if (this.messages.length > MAX_STORED_MESSAGES) this.messages.splice(0, this.messages.length - MAX_STORED_MESSAGES);
    let chars = this.messages.reduce((n, m) => n + m.content.length, 0);
    while (this.messages.length > 1 && chars > MAX_STORED_CHARS) chars -= this.messages.shift()!.content.length;
    this.store.save({ chatId: this.chatId, messages: this.messages });
  }
}
