// The engine choice: every call goes to the engine chosen at that moment, and while the
// built-in engine is chosen the remote one is never asked anything.
import assert from 'node:assert/strict';
import type { CompletionResult } from '../engine/protocol';
import { EngineChoice, type EngineKind, type Inference } from './inference';

function recording(name: string, calls: string[]): Inference {
  const timings = { promptTokens: 0, reusedTokens: 0, generatedTokens: 0, promptMs: 0, generateMs: 0, decodeTokensPerSecond: 0 };
  return {
    modelName: `${name} model`, chatContext: name === 'local' ? 8192 : 0,
    complete: async () => (calls.push(`${name} complete`), { text: name, stopReason: 'eog', timings }),
    warm: () => void calls.push(`${name} warm`),
    warmChat: () => void calls.push(`${name} warmChat`),
    chat: async () => (calls.push(`${name} chat`), { text: name, stopReason: 'eog', timings }),
    countTokens: async () => (calls.push(`${name} count`), 1),
    completed: () => void calls.push(`${name} completed`),
  };
}

describe('engine choice', () => {
  it('asks the engine chosen when the call is made, and only that one', async () => {
    const calls: string[] = [];
    let kind: EngineKind = 'local';
    const choice = new EngineChoice(() => kind, { local: recording('local', calls), remote: recording('remote', calls) });
    const token = { isCancellationRequested: false, onCancellationRequested: () => undefined };
    const signal = { cancel: () => undefined, onCancel: () => undefined };
    const params = { documentId: 'd', prefix: 'a', suffix: '', languageId: 'ts', filePath: 'a.ts', maxTokens: 4 };

    assert.equal(choice.modelName, 'local model');
    assert.equal(choice.chatContext, 8192);
    await choice.complete(params, token);
    choice.warm(params);
    choice.warmChat({ chatId: 'c', messages: [], maxTokens: 4, temperature: 0 });
    await choice.chat({ chatId: 'c', messages: [], maxTokens: 4, temperature: 0 }, signal, () => undefined);
    await choice.countTokens('x');
    choice.completed({ text: '', stopReason: 'eog' } as unknown as CompletionResult);
    assert.ok(calls.every((c) => c.startsWith('local ')), `while local, nothing went to the remote engine: ${calls.join(', ')}`);

    kind = 'remote';
    calls.length = 0;
    assert.equal(choice.modelName, 'remote model');
    await choice.complete(params, token);
    await choice.chat({ chatId: 'c', messages: [], maxTokens: 4, temperature: 0 }, signal, () => undefined);
    choice.warmChat({ chatId: 'c', messages: [], maxTokens: 4, temperature: 0 });
    assert.deepEqual(calls, ['remote complete', 'remote chat', 'remote warmChat']);
  });

  it('tells its listeners when the answering model changes', () => {
    const choice = new EngineChoice(() => 'local', { local: recording('local', []), remote: recording('remote', []) });
    let heard = 0;
    choice.onChange(() => heard++);
    choice.changed();
    assert.equal(heard, 1);
  });
});
