// The conversation logic with a scripted engine: streaming, stop, new chat, history, errors.
import assert from 'node:assert/strict';
import type { ChatParams, ChatResult } from '../../engine/protocol';
import { attachmentBlock, ChatController, MAX_ATTACHMENT_CHARS, type ChatEngine, type ViewMessage } from './controller';

function scriptedEngine(pieces: string[], opts: { failWith?: Error; waitForCancel?: boolean } = {}) {
  const calls: ChatParams[] = [];
  const engine: ChatEngine = {
    chat: async (params, signal, onDelta): Promise<ChatResult> => {
      calls.push(params);
      if (opts.failWith) throw opts.failWith;
      for (const p of pieces) onDelta(p);
      if (opts.waitForCancel) {
        await new Promise<void>((resolve) => signal.onCancel(resolve));
        throw Object.assign(new Error('request cancelled'), { code: -32800 });
      }
      return { text: pieces.join(''), stopReason: 'eog', timings: { promptTokens: 1, reusedTokens: 0, generatedTokens: pieces.length, promptMs: 1, generateMs: 1, decodeTokensPerSecond: 0 } };
    },
  };
  return { engine, calls };
}

function memoryStore() {
  let saved: { chatId: string; messages: { role: 'system' | 'user' | 'assistant'; content: string }[] } | undefined;
  return { load: () => saved, save: (v: typeof saved) => { saved = v && JSON.parse(JSON.stringify(v)); }, get: () => saved };
}

const settings = () => ({ maxTokens: 64, temperature: 0 });

describe('chat controller', () => {
  it('streams an answer to the view and keeps it in the history, with a system prompt first', async () => {
    const { engine, calls } = scriptedEngine(['Hello', ', world']);
    const posted: ViewMessage[] = [];
    const store = memoryStore();
    const chat = new ChatController(engine, store, (m) => posted.push(m), () => true, settings);
    await chat.ask('Hi');
    assert.deepEqual(posted.filter((m) => m.type === 'delta').map((m) => (m as { text: string }).text), ['Hello', ', world']);
    const last = posted.at(-1) as Extract<ViewMessage, { type: 'state' }>;
    assert.deepEqual(last.messages, [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello, world' }]);
    assert.equal(last.busy, false);
    assert.equal(calls[0].messages[0].role, 'system');
    assert.deepEqual(store.get()!.messages.length, 2);
    // A new controller (the window reloaded) restores the conversation.
    const restored = new ChatController(engine, store, () => {}, () => true, settings);
    assert.equal(restored.history.length, 2);
  });

  it('Stop keeps what was streamed; New Chat starts empty with a new id', async () => {
    const { engine, calls } = scriptedEngine(['partial answer'], { waitForCancel: true });
    const chat = new ChatController(engine, memoryStore(), () => {}, () => true, settings);
    const running = chat.ask('Tell me a story');
    assert.equal(chat.busy, true);
    chat.stop();
    await running;
    assert.equal(chat.busy, false);
    assert.deepEqual(chat.history.at(-1), { role: 'assistant', content: 'partial answer' });
    chat.newChat();
    assert.equal(chat.history.length, 0);
    const again = chat.ask('again');
    chat.stop();
    await again;
    assert.notEqual(calls[1].chatId, calls[0].chatId);
  });

  it('shows an engine failure as an error, not as an answer, and gives the question back to the composer', async () => {
    const { engine } = scriptedEngine([], { failWith: new Error('the engine was killed (SIGKILL) while answering') });
    const posted: ViewMessage[] = [];
    const store = memoryStore();
    const chat = new ChatController(engine, store, (m) => posted.push(m), () => true, settings);
    await chat.ask('Hi', { code: 'x = 1', languageId: 'python', filePath: 'a.py' });
    const last = posted.at(-1) as Extract<ViewMessage, { type: 'state' }>;
    assert.match(last.error ?? '', /could not answer: the engine was killed/);
    assert.equal(last.messages.length, 0);
    assert.equal(last.draft, 'Hi');
    assert.equal(store.get()!.messages.length, 0);
    chat.show();
    assert.equal((posted.at(-1) as Extract<ViewMessage, { type: 'state' }>).draft, undefined, 'the draft is given back once');
  });

  it('does not send a refused question again with the next one', async () => {
    let refuse = true;
    const calls: ChatParams[] = [];
    const engine: ChatEngine = {
      chat: async (params) => {
        calls.push(params);
        if (refuse) throw Object.assign(new Error('the question needs 9000 tokens'), { code: -32003 });
        return { text: 'ok', stopReason: 'eog', timings: { promptTokens: 1, reusedTokens: 0, generatedTokens: 1, promptMs: 1, generateMs: 1, decodeTokensPerSecond: 0 } };
      },
    };
    const chat = new ChatController(engine, memoryStore(), () => {}, () => true, settings);
    await chat.ask('a'.repeat(200_000));
    refuse = false;
    await chat.ask('short');
    assert.deepEqual(calls[1].messages.slice(1), [{ role: 'user', content: 'short' }]);
    assert.deepEqual(chat.history, [{ role: 'user', content: 'short' }, { role: 'assistant', content: 'ok' }]);
  });

  it('refuses an attachment too long to send, before anything is sent or stored', async () => {
    const { engine, calls } = scriptedEngine(['ok']);
    const posted: ViewMessage[] = [];
    const store = memoryStore();
    const chat = new ChatController(engine, store, (m) => posted.push(m), () => true, settings);
    await chat.ask('Explain', { code: 'x'.repeat(MAX_ATTACHMENT_CHARS + 1), languageId: 'python', filePath: 'big.py' });
    assert.equal(calls.length, 0);
    assert.equal(store.get(), undefined);
    const last = posted.at(-1) as Extract<ViewMessage, { type: 'state' }>;
    assert.match(last.error ?? '', /200,001 characters long; SmallThinker can take at most 200,000/);
    assert.equal(last.draft, 'Explain');
  });

  it('keeps the stored history under a million characters, dropping the oldest turns', async () => {
    const { engine } = scriptedEngine(['y'.repeat(50_000)]);
    const store = memoryStore();
    const chat = new ChatController(engine, store, () => {}, () => true, settings);
    for (let i = 0; i < 15; i++) await chat.ask(`q${i} ${'x'.repeat(40_000)}`);
    const stored = store.get()!.messages;
    assert.ok(stored.reduce((n, m) => n + m.content.length, 0) <= 1_000_000);
    assert.equal(stored.at(-1)!.role, 'assistant');
    assert.match(stored.at(-2)!.content, /^q14 /);
  });

  it('attaches code as a fenced block that its own backticks cannot break', () => {
    assert.equal(attachmentBlock({ code: 'x = 1', languageId: 'python', filePath: 'a.py' }), '\n\nFrom `a.py`:\n```python\nx = 1\n```');
    assert.match(attachmentBlock({ code: 'see ```', languageId: 'markdown', filePath: '' }), /^\n\n````markdown\nsee ```\n````$/);
  });
});
