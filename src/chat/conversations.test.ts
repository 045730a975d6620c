// The conversation store: bounded in number and size, the oldest going first, and the single
// conversation of earlier versions carried over.
import assert from 'node:assert/strict';
import { Conversations, MAX_CONVERSATIONS, titleFrom, type Memento } from './conversations';

function memento(initial: Record<string, unknown> = {}): Memento & { data: Map<string, unknown> } {
  const data = new Map<string, unknown>(Object.entries(initial));
  return { data, get: <T>(k: string) => data.get(k) as T | undefined, update: (k: string, v: unknown) => void (v === undefined ? data.delete(k) : data.set(k, v)) };
}

describe('conversations', () => {
  it('keeps at most MAX_CONVERSATIONS, forgetting the least recently used with its messages', () => {
    const state = memento();
    let t = 0;
    const store = new Conversations(state, () => ++t);
    for (let i = 0; i <= MAX_CONVERSATIONS; i++) store.save({ id: `c${i}`, title: `q${i}`, messages: [{ role: 'user', content: `q${i}` }] });
    assert.equal(store.list().length, MAX_CONVERSATIONS);
    assert.equal(store.list()[0].id, `c${MAX_CONVERSATIONS}`);
    assert.equal(store.load('c0'), undefined);
    assert.ok(!state.data.has('smallthinker.conversation/c0'));
  });

  it('stores nothing for an empty conversation but remembers it is open', () => {
    const state = memento();
    const store = new Conversations(state);
    store.save({ id: 'empty', title: 'New chat', messages: [] });
    assert.deepEqual(store.list(), []);
    assert.equal(new Conversations(state).activeId, 'empty');
  });

  it('carries over the one conversation earlier versions kept', () => {
    const state = memento({ 'smallthinker.chat': { chatId: 'chat-old', messages: [{ role: 'user', content: 'Why?\nBecause.' }, { role: 'assistant', content: 'So.' }] } });
    const store = new Conversations(state);
    assert.deepEqual(store.list(), [{ id: 'chat-old', title: 'Why?' }]);
    assert.equal(store.activeId, 'chat-old');
    assert.equal(store.load('chat-old')!.messages.length, 2);
    assert.ok(!state.data.has('smallthinker.chat'));
  });

  it('titles a conversation with the first line of its first question, shortened', () => {
    assert.equal(titleFrom('  Fix this\nplease'), 'Fix this');
    assert.equal(titleFrom('x'.repeat(100)).length, 60);
    assert.equal(titleFrom('\n\n'), 'New chat');
  });
});
