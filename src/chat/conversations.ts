// Past conversations of a workspace, kept in its workspace state: an index (id, title, last use)
// and each conversation's messages under its own key, so switching reads one conversation, not
// all. Bounded: at most MAX_CONVERSATIONS (the least recently used go first), each at most
// MAX_STORED_MESSAGES messages and MAX_STORED_CHARS characters (its oldest turns go first).
// No `vscode` import: it takes anything with Memento's get and update.
import type { ChatMessage } from '../../engine/protocol';
import type { ConversationSummary } from './messages';

/** Where an attached selection or file was, so that code from the answer can replace it. */
export interface EditTarget {
  uri: string;
  /** Offsets in the document when it was attached. */
  start: number;
  end: number;
  /** The text that was there, found again if the offsets no longer hold it. */
  original: string;
  /** Shown when several targets are offered. */
  label: string;
  /** The whole file was attached: its current text is the target even after it changed. */
  wholeFile?: boolean;
  /** Names the live range tracked while the window stays open (./edits/locate.ts). */
  trackId?: string;
}

export interface StoredMessage extends ChatMessage {
  /** On a question: the selections and files attached to it. */
  targets?: EditTarget[];
}

export interface Conversation {
  id: string;
  title: string;
  messages: StoredMessage[];
}

export interface Memento {
  get<T>(key: string): T | undefined;
  update(key: string, value: unknown): PromiseLike<void> | void;
}

export const MAX_CONVERSATIONS = 50;
export const MAX_STORED_MESSAGES = 200;
export const MAX_STORED_CHARS = 1_000_000;
const TITLE_CHARS = 60;

interface Index {
  active?: string;
  entries: Array<ConversationSummary & { usedAt: number }>;
}

const INDEX_KEY = 'smallthinker.conversations';
const LEGACY_KEY = 'smallthinker.chat';  // one conversation, before there were several
const conversationKey = (id: string) => `smallthinker.conversation/${id}`;

export const newConversationId = () => `chat-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;

/** A conversation's title: the first line of its first question, shortened. */
export function titleFrom(question: string): string {
  const line = question.trim().split('\n')[0].trim() || 'New chat';
  return line.length > TITLE_CHARS ? `${line.slice(0, TITLE_CHARS - 1)}…` : line;
}

const chars = (m: StoredMessage) => m.content.length + (m.targets ?? []).reduce((n, t) => n + t.original.length, 0);

/** Drops the oldest turns until the conversation is within the message and character caps. */
export function bound(messages: StoredMessage[]): StoredMessage[] {
  const kept = messages.slice(-MAX_STORED_MESSAGES);
  let total = kept.reduce((n, m) => n + chars(m), 0);
  while (kept.length > 1 && total > MAX_STORED_CHARS) total -= chars(kept.shift()!);
  return kept;
}

export class Conversations {
  private index: Index;

  constructor(private readonly memento: Memento, private readonly now = () => Date.now()) {
    this.index = memento.get<Index>(INDEX_KEY) ?? { entries: [] };
    const legacy = memento.get<{ chatId: string; messages: ChatMessage[] }>(LEGACY_KEY);
    if (legacy && !this.index.entries.some((e) => e.id === legacy.chatId)) {
      const first = legacy.messages.find((m) => m.role === 'user');
      if (first) this.save({ id: legacy.chatId, title: titleFrom(first.content), messages: legacy.messages }, true);
      void memento.update(LEGACY_KEY, undefined);
    }
  }

  /** Most recently used first. */
  list(): ConversationSummary[] {
    return [...this.index.entries].sort((a, b) => b.usedAt - a.usedAt).map(({ id, title }) => ({ id, title }));
  }

  get activeId(): string | undefined {
    return this.index.active;
  }

  load(id: string): Conversation | undefined {
    const entry = this.index.entries.find((e) => e.id === id);
    if (!entry) return undefined;
    return { id, title: entry.title, messages: this.memento.get<StoredMessage[]>(conversationKey(id)) ?? [] };
  }

  /** Stores a conversation (bounded) and makes it the active one; an empty one is not listed, only made active. */
  save(c: Conversation, active = true): Conversation {
    const messages = bound(c.messages);
    if (active) this.index.active = c.id;
    if (!messages.length) {
      if (this.index.entries.some((e) => e.id === c.id)) this.remove(c.id);
      if (active) this.index.active = c.id;
    } else {
      const entry = this.index.entries.find((e) => e.id === c.id);
      if (entry) Object.assign(entry, { title: c.title, usedAt: this.now() });
      else this.index.entries.push({ id: c.id, title: c.title, usedAt: this.now() });
      void this.memento.update(conversationKey(c.id), messages);
      while (this.index.entries.length > MAX_CONVERSATIONS) {
        const oldest = this.index.entries.reduce((a, b) => (b.usedAt < a.usedAt ? b : a));
        this.remove(oldest.id);
      }
    }
    void this.memento.update(INDEX_KEY, this.index);
    return { ...c, messages };
  }

  rename(id: string, title: string): void {
    const entry = this.index.entries.find((e) => e.id === id);
    if (!entry) return;
    entry.title = title.trim().slice(0, 200) || entry.title;
    void this.memento.update(INDEX_KEY, this.index);
  }

  delete(id: string): void {
    this.remove(id);
    void this.memento.update(INDEX_KEY, this.index);
  }

  private remove(id: string): void {
    this.index.entries = this.index.entries.filter((e) => e.id !== id);
    if (this.index.active === id) this.index.active = undefined;
    void this.memento.update(conversationKey(id), undefined);
  }
}
