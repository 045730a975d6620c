// The conversation logic with a scripted engine: streaming, stop, attachments and their budget,
// several conversations, history bounds, errors.
import assert from 'node:assert/strict';
import type { ChatParams, ChatResult } from '../../engine/protocol';
import { codeBlock, ChatController, DELTA_INTERVAL_MS, MAX_ATTACHMENT_CHARS, type Attachment, type ChatEngine, type ChatSettings } from './controller';
import { Conversations, type Memento } from './conversations';
import type { HostToView } from './messages';

type State = Extract<HostToView, { type: 'state' }>;
const timings = { promptTokens: 1, reusedTokens: 0, generatedTokens: 1, promptMs: 1, generateMs: 1, decodeTokensPerSecond: 0 };

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
      return { text: pieces.join(''), stopReason: 'eog', timings };
    },
    // One token per four characters, like code.
    countTokens: async (text) => Math.ceil(text.length / 4),
  };
  return { engine, calls };
}

/** Workspace state in memory, storing copies as VS Code does. */
function memento(): Memento & { data: Map<string, unknown> } {
  const data = new Map<string, unknown>();
  return {
    data,
    get: <T>(key: string) => (data.has(key) ? JSON.parse(JSON.stringify(data.get(key))) as T : undefined),
    update: (key: string, value: unknown) => void (value === undefined ? data.delete(key) : data.set(key, JSON.parse(JSON.stringify(value)))),
  };
}

const settings = (s: Partial<ChatSettings> = {}) => () => ({ maxTokens: 64, temperature: 0, contextTokens: 0, ...s });
const lastState = (posted: HostToView[]) => posted.filter((m): m is State => m.type === 'state').at(-1)!;
const selection = (code: string, file = 'a.py'): Attachment => ({
  kind: 'selection', label: `${file}:1-1`, text: codeBlock(code, 'python', file),
  target: { uri: `file:///w/${file}`, start: 0, end: code.length, original: code, label: `${file}:1-1` },
});

describe('chat controller', () => {
  it('streams an answer to the view and keeps it in the history, with a system prompt first', async () => {
    const { engine, calls } = scriptedEngine(['Hello', ', world']);
    const posted: HostToView[] = [];
    const state = memento();
    const chat = new ChatController(engine, new Conversations(state), (m) => posted.push(m), () => true, settings());
    await chat.ask('Hi');
    assert.deepEqual(posted.filter((m) => m.type === 'delta').map((m) => (m as { text: string }).text), [],
      'a quick answer: the final state carries it, no delta was due yet');
    const last = lastState(posted);
    assert.deepEqual(last.messages, [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello, world' }]);
    assert.equal(last.busy, false);
    assert.equal(last.conversation.title, 'Hi');
    assert.equal(calls[0].messages[0].role, 'system');
    // A new controller (the window reloaded) opens the same conversation.
    const restored = new ChatController(engine, new Conversations(state), () => {}, () => true, settings());
    assert.equal(restored.history.length, 2);
    assert.equal(restored.id, chat.id);
  });

  it('posts streamed text gathered, at most every DELTA_INTERVAL_MS, not a message per token', async () => {
    let finish!: () => void;
    const engine: ChatEngine = {
      chat: async (_p, _s, onDelta) => {
        for (let i = 0; i < 500; i++) onDelta('x');
        await new Promise((r) => setTimeout(r, DELTA_INTERVAL_MS * 3));
        for (let i = 0; i < 500; i++) onDelta('y');
        await new Promise<void>((r) => (finish = r));
        return { text: 'x'.repeat(500) + 'y'.repeat(500), stopReason: 'eog', timings };
      },
      countTokens: async () => 1,
    };
    const posted: HostToView[] = [];
    const chat = new ChatController(engine, new Conversations(memento()), (m) => posted.push(m), () => true, settings());
    const running = chat.ask('Go');
    await new Promise((r) => setTimeout(r, DELTA_INTERVAL_MS * 5));
    const deltas = posted.filter((m): m is Extract<HostToView, { type: 'delta' }> => m.type === 'delta').map((m) => m.text);
    assert.deepEqual(deltas, ['x'.repeat(500), 'y'.repeat(500)]);
    finish();
    await running;
    assert.equal(lastState(posted).messages.at(-1)!.content.length, 1000);
  });

  it('Stop keeps what was streamed; New Chat starts empty with a new id', async () => {
    const { engine, calls } = scriptedEngine(['partial answer'], { waitForCancel: true });
    const chat = new ChatController(engine, new Conversations(memento()), () => {}, () => true, settings());
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

  it('keeps conversations apart: a second one, then back to the first with its history; rename and delete', async () => {
    const { engine, calls } = scriptedEngine(['ok']);
    const state = memento();
    const posted: HostToView[] = [];
    const chat = new ChatController(engine, new Conversations(state, (() => { let t = 0; return () => ++t; })()), (m) => posted.push(m), () => true, settings());
    await chat.ask('How do I parse JSON in Go?\nWith details.');
    const first = chat.id;
    chat.newChat();
    await chat.ask('What is a goroutine?');
    const second = chat.id;
    assert.notEqual(first, second);
    assert.deepEqual(chat.list().map((c) => c.title), ['What is a goroutine?', 'How do I parse JSON in Go?']);
    assert.ok(chat.switchTo(first));
    assert.equal(lastState(posted).conversation.title, 'How do I parse JSON in Go?');
    assert.deepEqual(chat.history.map((m) => m.content), ['How do I parse JSON in Go?\nWith details.', 'ok']);
    await chat.ask('And YAML?');
    assert.deepEqual(calls.at(-1)!.messages.slice(1).map((m) => m.content), ['How do I parse JSON in Go?\nWith details.', 'ok', 'And YAML?']);
    assert.equal(calls.at(-1)!.chatId, first, 'the engine keeps one slot per conversation');
    chat.rename(second, 'Goroutines');
    assert.deepEqual(chat.list().map((c) => c.title), ['How do I parse JSON in Go?', 'Goroutines']);
    chat.delete(first);
    assert.equal(chat.id, second, 'deleting the open conversation opens the next one');
    assert.deepEqual(chat.list().map((c) => c.id), [second]);
    assert.equal([...state.data.keys()].filter((k) => k.includes(first)).length, 0, 'its messages are gone from the workspace state');
  });

  it('stores an answer that arrives after the user switched conversations, without showing it', async () => {
    let release!: () => void;
    const engine: ChatEngine = {
      chat: async (_p, _s, onDelta) => {
        await new Promise<void>((r) => (release = r));
        onDelta('late');
        return { text: 'late', stopReason: 'eog', timings };
      },
      countTokens: async () => 1,
    };
    const posted: HostToView[] = [];
    const chat = new ChatController(engine, new Conversations(memento()), (m) => posted.push(m), () => true, settings());
    const running = chat.ask('slow question');
    const first = chat.id;
    await new Promise((r) => setImmediate(r));
    chat.newChat();
    release();
    await running;
    assert.equal(chat.history.length, 0);
    assert.ok(!posted.some((m) => m.type === 'delta'), 'no delta of the old conversation reaches the new one');
    chat.switchTo(first);
    assert.deepEqual(chat.history.map((m) => m.content), ['slow question', 'late']);
  });

  it('shows an engine failure as an error, not as an answer, and gives the question back to the composer', async () => {
    const { engine } = scriptedEngine([], { failWith: new Error('the engine was killed (SIGKILL) while answering') });
    const posted: HostToView[] = [];
    const state = memento();
    const chat = new ChatController(engine, new Conversations(state), (m) => posted.push(m), () => true, settings());
    await chat.ask('Hi', [selection('x = 1')]);
    const last = lastState(posted);
    assert.match(last.error ?? '', /could not answer: the engine was killed/);
    assert.equal(last.messages.length, 0);
    assert.equal(last.draft, 'Hi');
    assert.deepEqual(new Conversations(state).list(), [], 'nothing stored');
    chat.show();
    assert.equal(lastState(posted).draft, undefined, 'the draft is given back once');
  });

  it('does not send a refused question again with the next one', async () => {
    let refuse = true;
    const calls: ChatParams[] = [];
    const engine: ChatEngine = {
      chat: async (params) => {
        calls.push(params);
        if (refuse) throw Object.assign(new Error('the question needs 9000 tokens'), { code: -32003 });
        return { text: 'ok', stopReason: 'eog', timings };
      },
      countTokens: async () => 1,
    };
    const chat = new ChatController(engine, new Conversations(memento()), () => {}, () => true, settings());
    await chat.ask('a'.repeat(200_000));
    refuse = false;
    await chat.ask('short');
    assert.deepEqual(calls[1].messages.slice(1), [{ role: 'user', content: 'short' }]);
    assert.deepEqual(chat.history, [{ role: 'user', content: 'short' }, { role: 'assistant', content: 'ok' }]);
  });

  it('shows attachments as chips with their size, removable, sent with the next question and then cleared', async () => {
    const { engine, calls } = scriptedEngine(['ok']);
    const posted: HostToView[] = [];
    const chat = new ChatController(engine, new Conversations(memento()), (m) => posted.push(m), () => true, settings());
    chat.attach(selection('x = 1'));
    chat.attach(selection('x = 1'));  // the same selection again is one chip
    chat.attach({ kind: 'problems', label: 'Problems (1)', text: '\n\nThe current problems:\n- a.py:1:1 error: boom' });
    chat.attach(selection('y = 2', 'b.py'));
    assert.deepEqual(lastState(posted).attachments.map((a) => [a.kind, a.label]),
      [['selection', 'a.py:1-1'], ['problems', 'Problems (1)'], ['selection', 'b.py:1-1']]);
    chat.detach(lastState(posted).attachments[1].id);
    assert.equal(lastState(posted).attachments[0].chars, codeBlock('x = 1', 'python', 'a.py').length);
    // Explain Selection brings its own attachment and leaves the chips for the question being written.
    await chat.ask('Explain', [selection('z = 3', 'c.py')]);
    assert.equal(calls[0].messages.at(-1)!.content, 'Explain\n\nFrom `c.py`:\n```python\nz = 3\n```');
    assert.equal(lastState(posted).attachments.length, 2);
    calls.length = 0;
    await chat.ask('Compare');
    assert.equal(calls[0].messages.at(-1)!.content, 'Compare\n\nFrom `a.py`:\n```python\nx = 1\n```\n\nFrom `b.py`:\n```python\ny = 2\n```');
    assert.deepEqual(lastState(posted).attachments, []);
    assert.deepEqual(chat.targetsOf(3).map((t) => t.label), ['a.py:1-1', 'b.py:1-1'], 'code in the answer goes where the attachments came from');
    assert.deepEqual(chat.targetsOf(1).map((t) => t.label), ['c.py:1-1']);
  });

  it('refuses attachments too long to send, before anything is sent or stored, keeping the chips', async () => {
    const { engine, calls } = scriptedEngine(['ok']);
    const posted: HostToView[] = [];
    const state = memento();
    const chat = new ChatController(engine, new Conversations(state), (m) => posted.push(m), () => true, settings());
    chat.attach({ kind: 'file', label: 'big.py', text: 'x'.repeat(MAX_ATTACHMENT_CHARS + 1) });
    await chat.ask('Explain');
    assert.equal(calls.length, 0);
    assert.deepEqual(new Conversations(state).list(), []);
    const last = lastState(posted);
    assert.match(last.error ?? '', /200,001 characters long; SmallThinker can take at most 200,000/);
    assert.equal(last.draft, 'Explain');
    assert.equal(last.attachments.length, 1, 'the user removes the chip, not the controller');
  });

  it("refuses a question whose attachments do not fit the model's context, saying by how much", async () => {
    const { engine, calls } = scriptedEngine(['ok']);
    const posted: HostToView[] = [];
    const chat = new ChatController(engine, new Conversations(memento()), (m) => posted.push(m), () => true,
      settings({ contextTokens: 4096, maxTokens: 1024 }));
    chat.attach({ kind: 'file', label: 'long.ts', text: 'x'.repeat(16_000) });
    await chat.ask('Summarise');
    assert.equal(calls.length, 0);
    assert.match(lastState(posted).error ?? '', /is 4,003 tokens; the model's context leaves room for 3,072 \(4,096 tokens, 1,024 kept for the answer\)/);
    chat.detach(lastState(posted).attachments[0].id);
    chat.attach({ kind: 'file', label: 'short.ts', text: 'x'.repeat(8_000) });
    await chat.ask('Summarise');
    assert.equal(calls.length, 1);
  });

  it('keeps the stored history under a million characters, dropping the oldest turns', async () => {
    const { engine } = scriptedEngine(['y'.repeat(50_000)]);
    const state = memento();
    const chat = new ChatController(engine, new Conversations(state), () => {}, () => true, settings());
    for (let i = 0; i < 15; i++) await chat.ask(`q${i} ${'x'.repeat(40_000)}`);
    const stored = new Conversations(state).load(chat.id)!.messages;
    assert.ok(stored.reduce((n, m) => n + m.content.length, 0) <= 1_000_000);
    assert.equal(stored.at(-1)!.role, 'assistant');
    assert.match(stored.at(-2)!.content, /^q14 /);
  });

  it('attaches code as a fenced block that its own backticks cannot break', () => {
    assert.equal(codeBlock('x = 1', 'python', 'a.py'), '\n\nFrom `a.py`:\n```python\nx = 1\n```');
    assert.match(codeBlock('see ```', 'markdown', ''), /^\n\n````markdown\nsee ```\n````$/);
    assert.match(codeBlock('see ```` and ```', 'markdown', ''), /^\n\n`````markdown\n/);
  });

  it('has the question being written evaluated ahead, as the request that sends it will begin', async () => {
    const { engine, calls } = scriptedEngine(['Because.']);
    const warmed: ChatParams[] = [];
    engine.warmChat = (params) => void warmed.push(params);
    let hasModel = false;
    const chat = new ChatController(engine, new Conversations(memento()), () => undefined, () => hasModel, settings());
    chat.typing('Why');
    assert.equal(warmed.length, 0, 'no model: nothing to warm');
    hasModel = true;
    await chat.ask('Hi');
    chat.attach(selection('x = 1'));
    chat.typing('Why is');
    chat.typing('Why is x one?');
    chat.typing('');
    await chat.ask('Why is x one?');
    assert.equal(warmed.length, 2);
    assert.deepEqual(warmed[1], calls[1], 'the warmed prompt is the one sent: system prompt, history, question and chip');
    assert.match(warmed[1].messages.at(-1)!.content, /^Why is x one\?[\s\S]*x = 1/);

    const slow = scriptedEngine(['...'], { waitForCancel: true });
    const slowWarmed: ChatParams[] = [];
    slow.engine.warmChat = (params) => void slowWarmed.push(params);
    const busy = new ChatController(slow.engine, new Conversations(memento()), () => undefined, () => true, settings());
    const asking = busy.ask('Tell me everything');
    busy.typing('And then?');
    busy.stop();
    await asking;
    assert.equal(slowWarmed.length, 0, 'nothing is warmed while an answer runs (it would rewind the slot the answer fills)');
  });

});
