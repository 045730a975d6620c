// The supervisor against the real engine (dist/engine.js) and against engines that misbehave
// on purpose: crashes mid-request and recovery, a crash loop, a stall, stderr kept for the log.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { CancellationTokenSource, RequestType } from 'vscode-jsonrpc/node';
import { ChatDeltaNotification, ChatRequest, CompletionRequest, StatsRequest, WarmCompletionNotification } from '../engine/protocol';
import { ensureModel } from '../test/generator/index';
import { EngineError, EngineSupervisor, type EngineState } from './engine-supervisor';
import { tempDir } from '../test/support/temp-dir';

const engineBundle = path.resolve(__dirname, '..', 'dist', 'engine.js');

function fakeEngine(body: string): string {
  const dir = tempDir('st-fake-engine-');
  const file = path.join(dir, 'engine.js');
  fs.writeFileSync(file, body);
  return file;
}

describe('engine supervisor', function () {
  this.timeout(120_000);
  const supervisors: EngineSupervisor[] = [];
  const make = (enginePath: string, extra: Partial<ConstructorParameters<typeof EngineSupervisor>[0]> = {}) => {
    const logs: string[] = [];
    const s = new EngineSupervisor({ enginePath, log: (_l, m) => logs.push(m), restartDelayMs: 20, ...extra });
    supervisors.push(s);
    return { s, logs };
  };
  afterEach(async () => {
    for (const s of supervisors.splice(0)) await s.dispose();
  });

  it('recovers from a SIGKILL mid-request: the request fails clearly, the next one succeeds on the reloaded model', async () => {
    const model = await ensureModel({ preset: 'tiny', type: 'q4_0', vocab: 'qwen' });
    const { s } = make(engineBundle);
    const states: EngineState[] = [];
    s.onStateChange((st) => states.push(st));
    await s.loadModel({ modelPath: model, threads: 2 });
    const firstPid = s.pid;
    let killed = false;
    s.onNotification(ChatDeltaNotification, () => {
      if (!killed) {
        killed = true;
        s.kill('SIGKILL');
      }
    });
    await assert.rejects(
      s.request(ChatRequest, { chatId: 'c', maxTokens: 4000, temperature: 1, messages: [{ role: 'user', content: 'Tell a long story' }] }),
      (err: EngineError) => err.kind === 'crashed' && /killed \(SIGKILL\).*restarted/.test(err.message),
    );
    const next = await s.request(CompletionRequest, {
      documentId: 'd', prefix: 'function add(a, b) {\n', suffix: '', languageId: 'javascript', filePath: 'a.js', maxTokens: 4,
    });
    assert.equal(typeof next.text, 'string');
    assert.notEqual(s.pid, firstPid);
    assert.ok(states.includes('restarting'));
    assert.equal(s.state, 'ready');
  });

  it('forwards cancellation to the engine', async () => {
    const model = await ensureModel({ preset: 'tiny', type: 'q4_0', vocab: 'qwen' });
    const { s } = make(engineBundle);
    await s.loadModel({ modelPath: model, threads: 2 });
    const source = new CancellationTokenSource();
    const running = s.request(ChatRequest, { chatId: 'c', maxTokens: 4000, temperature: 1, messages: [{ role: 'user', content: 'Go' }] }, source.token);
    setTimeout(() => source.cancel(), 50);
    await assert.rejects(running, (err: { code: number }) => err.code === -32800);
    const stats = await s.request0(StatsRequest);
    assert.ok(stats.requests.cancelled >= 1);
  });

  it('gives up after 5 crashes in 3 minutes, with a message that says what to do', async () => {
    const { s } = make(fakeEngine('process.stderr.write("boom: cannot start\\n"); process.exit(3);'));
    const failed = new Promise<string>((resolve) => s.onStateChange((st, detail) => st === 'failed' && resolve(detail ?? '')));
    await assert.rejects(s.request0(StatsRequest), (err: EngineError) => err.kind === 'crashed');
    const detail = await failed;
    assert.match(detail, /stopped 5 times in 3 minutes.*exited with code 3.*Restart Engine/s);
    await assert.rejects(s.request0(StatsRequest), (err: EngineError) => err.kind === 'failed');
    assert.ok(s.stderr.includes('boom: cannot start'));
  });

  it('fails a request that gets no answer after the stall timeout, and restarts the engine', async () => {
    const { s, logs } = make(fakeEngine('process.stdin.resume(); setInterval(() => {}, 1000);'), { stallTimeoutMs: 300 });
    const t0 = Date.now();
    await assert.rejects(s.request0(StatsRequest), (err: EngineError) => err.kind === 'stalled' && /no progress for 0.3 s/.test(err.message));
    assert.ok(Date.now() - t0 < 2000);
    assert.ok(logs.some((l) => /no progress/.test(l)));
  });

  // A fake engine that answers one request after `ms`, sending `every` ms a message of the given kind meanwhile.
  const slowAnswer = (kind: 'delta' | 'heartbeat' | 'frozen-heartbeat', ms: number, every: number) => fakeEngine(`
    const { createMessageConnection, StreamMessageReader, StreamMessageWriter } = require(${JSON.stringify(require.resolve('vscode-jsonrpc/node'))});
    const c = createMessageConnection(new StreamMessageReader(process.stdin), new StreamMessageWriter(process.stdout));
    let work = 0;
    c.onRequest('smallthinker/chat', (p) => new Promise((resolve) => {
      const timer = setInterval(() => {
        if (${JSON.stringify(kind)} === 'delta') c.sendNotification('smallthinker/chatDelta', { chatId: p.chatId, text: 'x' });
        else c.sendNotification('smallthinker/heartbeat', { work: ${JSON.stringify(kind)} === 'heartbeat' ? ++work : 7 });
      }, ${every});
      setTimeout(() => { clearInterval(timer); resolve({ text: 'done', stopReason: 'eog' }); }, ${ms});
    }));
    c.listen();
  `);
  const chatParams = { chatId: 'c', maxTokens: 10, temperature: 0, messages: [{ role: 'user' as const, content: 'hi' }] };

  it('never kills an answer that keeps streaming, however long it takes', async () => {
    const { s } = make(slowAnswer('delta', 1500, 50), { stallTimeoutMs: 500 });
    let deltas = 0;
    s.onNotification(ChatDeltaNotification, () => deltas++);  // its own handler: it must still count as progress
    const result = await s.request(ChatRequest, chatParams);
    assert.equal(result.text, 'done');
    assert.ok(deltas > 15, `${deltas} deltas`);
  });

  it('never kills a long prompt evaluation whose heartbeat shows the native work advancing', async () => {
    const { s } = make(slowAnswer('heartbeat', 1500, 100), { stallTimeoutMs: 500 });
    assert.equal((await s.request(ChatRequest, chatParams)).text, 'done');
  });

  it('kills an engine whose heartbeat says it is alive but whose work does not advance', async () => {
    const { s } = make(slowAnswer('frozen-heartbeat', 5000, 50), { stallTimeoutMs: 400 });
    const t0 = Date.now();
    await assert.rejects(s.request(ChatRequest, chatParams), (err: EngineError) => err.kind === 'stalled');
    assert.ok(Date.now() - t0 < 1500);
  });

  it('restarts a crashing engine at the backoff\'s pace, not once per request', async () => {
    const starts = path.join(tempDir('st-starts-'), 'starts');
    const { s } = make(fakeEngine(`require('fs').appendFileSync(${JSON.stringify(starts)}, 'x'); setTimeout(() => process.exit(3), 50);`),
      { restartDelayMs: 400, maxCrashes: 100 });
    await assert.rejects(s.request0(StatsRequest));
    // The first crash happened; the engine is in its 400 ms backoff. A burst of requests meanwhile
    // (a user typing) must wait for it rather than fork an engine each.
    const burst = Array.from({ length: 10 }, () => s.request0(StatsRequest).catch(() => undefined));
    await new Promise((r) => setTimeout(r, 250));
    assert.equal(fs.readFileSync(starts, 'utf8').length, 1, 'no engine started during the backoff');
    await Promise.all(burst);
    assert.ok(fs.readFileSync(starts, 'utf8').length <= 3, `${fs.readFileSync(starts, 'utf8').length} starts`);
  });

  it('says which model file changed when the engine stops because of it', async () => {
    const { s, logs } = make(fakeEngine(`
      const { createMessageConnection, StreamMessageReader, StreamMessageWriter } = require(${JSON.stringify(require.resolve('vscode-jsonrpc/node'))});
      const c = createMessageConnection(new StreamMessageReader(process.stdin), new StreamMessageWriter(process.stdout));
      c.onRequest('smallthinker/loadModel', () => ({}));
      c.onRequest('smallthinker/stats', () => { process.stderr.write('smallthinker: the model file /m.gguf changed on disk\\n'); setTimeout(() => process.exit(75), 20); return new Promise(() => {}); });
      c.listen();
    `), { maxCrashes: 1 });
    await s.loadModel({ modelPath: '/models/my model.gguf' });
    await assert.rejects(s.request0(StatsRequest), (err: EngineError) => err.kind === 'crashed' &&
      /the model file \/models\/my model\.gguf changed on disk while in use/.test(err.message));
    assert.ok(logs.some((l) => /smallthinker: the model file \/m\.gguf changed on disk/.test(l)), 'its own line is in the log');
  });

  it('drops a notification the engine cannot take without an unhandled rejection (which would take the host down)', async () => {
    // An engine that stops reading (as a stopped one does: SIGSTOP), so that writes queue up,
    // and is then killed: the queued writes fail once its stdin is destroyed.
    const { s } = make(fakeEngine(`
      const { createMessageConnection, StreamMessageReader, StreamMessageWriter } = require(${JSON.stringify(require.resolve('vscode-jsonrpc/node'))});
      const c = createMessageConnection(new StreamMessageReader(process.stdin), new StreamMessageWriter(process.stdout));
      c.onRequest('smallthinker/loadModel', () => { setTimeout(() => process.stdin.pause(), 20); return {}; });
      c.listen();
      setInterval(() => {}, 1000);
    `));
    await s.loadModel({ modelPath: '/m.gguf' });
    await new Promise((r) => setTimeout(r, 100));
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const warm = { documentId: 'd', prefix: 'x'.repeat(100_000), suffix: '', languageId: 'js', filePath: 'a.js' };
      for (let i = 0; i < 20; i++) s.notify(WarmCompletionNotification, warm);
      await new Promise((r) => setTimeout(r, 100));
      s.kill('SIGKILL');
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(unhandled.map(String), []);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('loads a model again once its file has changed after a failed load, and not before', async () => {
    const dir = tempDir('st-reload-');
    const file = path.join(dir, 'model.gguf');
    fs.writeFileSync(file, 'broken');
    const loads = path.join(dir, 'loads');
    // Loading succeeds only once the file says "whole"; every load is counted.
    const { s } = make(fakeEngine(`
      const fs = require('fs');
      const { createMessageConnection, StreamMessageReader, StreamMessageWriter, ResponseError } = require(${JSON.stringify(require.resolve('vscode-jsonrpc/node'))});
      const c = createMessageConnection(new StreamMessageReader(process.stdin), new StreamMessageWriter(process.stdout));
      c.onRequest('smallthinker/loadModel', (p) => {
        fs.appendFileSync(${JSON.stringify(loads)}, 'x');
        if (fs.readFileSync(p.modelPath, 'utf8') !== 'whole') throw new ResponseError(-32001, p.modelPath + ': truncated');
        return {};
      });
      c.onRequest('smallthinker/stats', () => ({ ok: true }));
      c.listen();
    `));
    await assert.rejects(s.loadModel({ modelPath: file }), /model\.gguf: truncated/);
    // A request that needs the model (request, not request0, waits for it).
    const Ping = new RequestType<Record<string, never>, { ok: boolean }, void>('smallthinker/stats');
    await assert.rejects(s.request(Ping, {}), /truncated/);
    assert.equal(fs.readFileSync(loads, 'utf8').length, 1, 'an unchanged file is not loaded again');
    fs.writeFileSync(file, 'whole');
    assert.deepEqual(await s.request(Ping, {}), { ok: true });
    assert.equal(fs.readFileSync(loads, 'utf8').length, 2);
  });

  it('says the engine stopped, and restarts it, when the pipe to it breaks (not the pipe\'s own error)', async () => {
    // The moment between an engine's death and its exit event: the pipe to it is destroyed, so
    // writing the next request fails in the pipe ("Cannot call write after a stream was
    // destroyed"), which the soak run met after SIGKILLs.
    const { s, logs } = make(fakeEngine(`setInterval(() => {}, 1000);`));
    s.restart();  // starts the engine
    (s as unknown as { child: { stdin: { destroy(): void } } }).child.stdin.destroy();
    await assert.rejects(s.request0(StatsRequest), (e: unknown) => e instanceof EngineError && e.kind === 'crashed' &&
      /the engine stopped while answering; it is being restarted/.test(e.message));
    assert.ok(logs.some((l) => /engine connection failed/.test(l)), logs.join('\n'));
    for (let i = 0; i < 100 && !logs.some((l) => /was killed \(SIGKILL\)/.test(l)); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(logs.some((l) => /was killed \(SIGKILL\)/.test(l)), 'the engine with the broken pipe is killed');
  });

  it('unloads the model when asked (the engine process ends, not counted as a crash) and loads it again for the next request', async () => {
    const model = await ensureModel({ preset: 'tiny', type: 'q4_0', vocab: 'qwen' });
    const { s, logs } = make(engineBundle);
    const states: Array<[EngineState, string | undefined]> = [];
    s.onStateChange((st, detail) => states.push([st, detail]));
    await s.loadModel({ modelPath: model, threads: 2 });
    const pid = s.pid!;
    const request = { documentId: 'd', prefix: 'function add(a, b) {\n', suffix: '', languageId: 'javascript', filePath: 'a.js', maxTokens: 4 };
    const before = await s.request(CompletionRequest, request);
    assert.equal(await s.unload(), true);
    assert.equal(s.unloaded, true);
    assert.equal(s.pid, undefined);
    assert.throws(() => process.kill(pid, 0), 'the engine process is gone');
    assert.deepEqual(states.at(-1), ['stopped', 'unloaded while idle']);
    assert.equal(await s.unload(), false, 'nothing left to unload');
    // Hints are dropped while unloaded: a warm-up does not bring the model back.
    s.notify(WarmCompletionNotification, { ...request, maxTokens: undefined } as never);
    assert.equal(s.pid, undefined);
    const after = await s.request(CompletionRequest, request);
    assert.equal(after.text, before.text, 'the same model answers');
    assert.equal(s.unloaded, false);
    assert.notEqual(s.pid, pid);
    assert.ok(!logs.some((l) => /exited with code|was killed/.test(l)), logs.join('\n'));
    assert.ok(logs.some((l) => /loading .* again \(it was unloaded while idle\)/.test(l)));
  });

  it('does not unload while a request runs', async () => {
    const model = await ensureModel({ preset: 'tiny', type: 'q4_0', vocab: 'qwen' });
    const { s } = make(engineBundle);
    await s.loadModel({ modelPath: model, threads: 2 });
    const answer = s.request(ChatRequest, { chatId: 'c', maxTokens: 64, temperature: 0, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(await s.unload(), false);
    await answer;
    assert.equal(await s.unload(), true);
  });

  it('keeps only the last 200 stderr lines', async () => {
    const { s } = make(fakeEngine('for (let i = 0; i < 300; i++) process.stderr.write(`line ${i}\\n`); setTimeout(() => process.exit(1), 100);'),
      { maxCrashes: 1 });
    const failed = new Promise<void>((resolve) => s.onStateChange((st) => st === 'failed' && resolve()));
    await assert.rejects(s.request0(StatsRequest));
    await failed;
    assert.equal(s.stderr.length, 200);
    assert.equal(s.stderr[0], 'line 100');
    assert.equal(s.stderr[199], 'line 299');
  });
});
