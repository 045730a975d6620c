// The completion pipeline with a scripted engine: skip rules, the cache, cancellation while
// waiting, single- versus multi-line requests, and filtered results.
import assert from 'node:assert/strict';
import type { CompletionParams, CompletionResult } from '../../engine/protocol';
import { CompletionPipeline, insideString, skipReason, type Cancellation, type CompletionInput, type CompletionSettings } from './pipeline';

const settings: CompletionSettings = { enabled: true, debounceMs: 5, maxTokens: 32, languages: { '*': true, markdown: false }, promptFormat: 'prefix',
  pausedOnBattery: false };

function input(doc: string, extra: Partial<CompletionInput> = {}): CompletionInput {
  const i = doc.indexOf('║');
  return {
    documentId: 'file:///a.ts', languageId: 'typescript', filePath: 'a.ts', prefix: doc.slice(0, i), suffix: doc.slice(i + 1),
    documentChars: doc.trim().length, hasSelection: false, explicit: false, ...extra,
  };
}

const never: Cancellation = { isCancellationRequested: false, onCancellationRequested: () => ({ dispose() {} }) };

function scripted(text: string) {
  const calls: CompletionParams[] = [];
  const engine = async (p: CompletionParams): Promise<CompletionResult> => {
    calls.push(p);
    return { text, stopReason: 'eog', timings: { promptTokens: 10, reusedTokens: 0, generatedTokens: 3, promptMs: 1, generateMs: 1, decodeTokensPerSecond: 0 } };
  };
  return { engine, calls };
}

describe('completion pipeline', () => {
  it('asks for several lines at a line end and one line inside a line', async () => {
    const { engine, calls } = scripted('x');
    const p = new CompletionPipeline(() => settings, engine, () => {});
    await p.provide(input('function f() {\n  ║\n}'), never);
    await p.provide(input('call(║)'), never);
    assert.equal(calls[0].maxLines, 8);
    assert.equal(calls[1].maxLines, 1);
    assert.equal(calls[0].prefix, 'function f() {\n  ');
  });

  it('asks in the prompt format of the settings, read at each request', async () => {
    const { engine, calls } = scripted('x');
    let format: CompletionSettings['promptFormat'] = 'prefix';
    const p = new CompletionPipeline(() => ({ ...settings, promptFormat: format }), engine, () => {});
    await p.provide(input('let a = ║'), never);
    format = 'fim-psm';
    await p.provide(input('let b = ║'), never);
    assert.deepEqual(calls.map((c) => c.format), ['prefix', 'fim-psm']);
  });

  it('serves a repeat from the cache without asking the engine', async () => {
    const { engine, calls } = scripted('return 1;');
    const p = new CompletionPipeline(() => settings, engine, () => {});
    assert.deepEqual(await p.provide(input('function f() {\n  ║\n}'), never), { text: 'return 1;', source: 'engine', result: (await engine({} as never)) });
    calls.length = 0;
    assert.deepEqual(await p.provide(input('function f() {\n  ret║\n}'), never), { text: 'urn 1;', source: 'cache' });
    assert.equal(calls.length, 0);
  });

  it('filters what the engine says and logs why a suggestion is dropped', async () => {
    const logs: string[] = [];
    const p = new CompletionPipeline(() => settings, scripted('   ').engine, (m) => logs.push(m));
    assert.deepEqual(await p.provide(input('let a = ║'), never), { skipped: 'dropped by dropBlank: blank' });
    assert.match(logs[0], /completion dropped \(dropBlank: blank\)/);
  });

  it('does not ask the engine when typing goes on during the debounce', async () => {
    const { engine, calls } = scripted('x');
    const p = new CompletionPipeline(() => ({ ...settings, debounceMs: 200 }), engine, () => {});
    let cancel: () => void = () => {};
    const token: Cancellation = { isCancellationRequested: false, onCancellationRequested: (cb) => (cancel = cb) };
    const pending = p.provide(input('let a = ║'), token);
    setTimeout(() => cancel(), 20);
    assert.deepEqual(await pending, { skipped: 'cancelled while waiting (typing went on)' });
    assert.equal(calls.length, 0);
  });

  it('skips where a suggestion would only hurt, unless asked explicitly', () => {
    assert.equal(skipReason(input('let a = ║'), { ...settings, enabled: false }), 'inline completions are turned off');
    assert.equal(skipReason(input('# T║', { languageId: 'markdown' }), settings), 'turned off for markdown');
    assert.equal(skipReason(input('let a = ║', { hasSelection: true }), settings), 'text is selected');
    assert.equal(skipReason(input('x║'), settings), 'the file is almost empty');
    assert.equal(skipReason(input('let total = su║m + 1;'), settings), 'the cursor is inside a word');
    assert.equal(skipReason(input('const s = "hello ║ world";'), settings), 'inside a string, before more of it');
    assert.equal(skipReason(input('const s = "hello ║";'), settings), undefined, 'at the end of a string is fine');
    assert.equal(skipReason(input('let total = su║m + 1;', { explicit: true }), settings), undefined);
    assert.equal(skipReason(input('let a = ║'), { ...settings, pausedOnBattery: true }), 'paused on battery power');
    assert.equal(skipReason(input('let a = ║', { explicit: true }), { ...settings, pausedOnBattery: true }), undefined);
  });

  it('knows when the cursor is inside a string literal', () => {
    assert.equal(insideString('const s = "abc'), true);
    assert.equal(insideString('const s = "a\\"b'), true);
    assert.equal(insideString("f('x', 'y"), true);
    assert.equal(insideString('f("x") + '), false);
    assert.equal(insideString('`template ${'), true);
  });
});
