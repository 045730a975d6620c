// What the chat webview may send: exactly the known messages with well-typed fields; anything
// else (a script in the view gone wrong, model output that got out) is ignored.
import assert from 'node:assert/strict';
import { MAX_VIEW_TEXT_CHARS, parseViewMessage } from './messages';

describe('chat view messages', () => {
  it('takes the known messages, keeping only their own fields', () => {
    assert.deepEqual(parseViewMessage({ type: 'ask', text: 'Why?', attachFile: true, extra: 1 }), { type: 'ask', text: 'Why?' });
    assert.deepEqual(parseViewMessage({ type: 'typing', text: 'Why is', extra: 1 }), { type: 'typing', text: 'Why is' });
    assert.deepEqual(parseViewMessage({ type: 'apply', code: 'x = 1', message: 3 }), { type: 'apply', code: 'x = 1', message: 3 });
    assert.deepEqual(parseViewMessage({ type: 'attach', what: 'problems' }), { type: 'attach', what: 'problems' });
    assert.deepEqual(parseViewMessage({ type: 'detach', id: 'a1' }), { type: 'detach', id: 'a1' });
    assert.deepEqual(parseViewMessage({ type: 'stop', text: 'ignored' }), { type: 'stop' });
    for (const type of ['ready', 'newChat', 'conversations', 'selectModel', 'downloadModel']) assert.deepEqual(parseViewMessage({ type }), { type });
  });

  it('refuses unknown types, missing or mistyped fields, and oversized text', () => {
    const refused: unknown[] = [
      null, 'ask', 42, [], {}, { type: 'eval', code: '1' }, { type: '__proto__' }, { type: 'ask' }, { type: 'ask', text: 7 }, { type: 'typing', text: null },
      { type: 'copy', code: { toString: () => 'x' } }, { type: 'apply', code: 'x' }, { type: 'apply', code: 'x', message: -1 },
      { type: 'apply', code: 'x', message: 1.5 }, { type: 'apply', code: 'x', message: '2' }, { type: 'attach', what: 'everything' },
      { type: 'attach', what: 'toString' }, { type: 'detach', id: 'x'.repeat(101) }, { type: 'ask', text: 'x'.repeat(MAX_VIEW_TEXT_CHARS + 1) },
    ];
    for (const m of refused) assert.equal(parseViewMessage(m), undefined, JSON.stringify(m)?.slice(0, 80));
  });
});
