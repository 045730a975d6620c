// The remote client against a real llama.cpp llama-server (built from the sources node-llama-cpp
// ships, test/support/llama-server.ts) serving a generated SmallThinker file: completions, a
// streamed chat, Stop in the middle of one, the server killed and started again, a wrong key
// and a wrong model name. Slow (SMALLTHINKER_SLOW=1): the first run builds the server.
import assert from 'node:assert/strict';
import { EngineErrorCodes } from '../../engine/protocol';
import { ensureModel } from '../../test/generator/index';
import { ensureLlamaServer, startLlamaServer, type RunningServer } from '../../test/support/llama-server';
import { remoteFailure } from '../../test/support/remote-error';
import { RemoteClient, type Abort } from './client';
import { remoteCompletionAsk } from './prompt';

const slow = process.env.SMALLTHINKER_SLOW === '1';
const never: Abort = { aborted: false, onAbort: () => undefined };

(slow ? describe : describe.skip)('remote engine against a real llama-server (slow)', function () {
  this.timeout(1_800_000);
  let binary: string;
  let model: string;
  let server: RunningServer | undefined;

  before(async () => {
    binary = ensureLlamaServer();
    model = await ensureModel({ preset: 'tiny', type: 'q4_0', vocab: 'qwen' });
  });

  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  it('lists its model, completes through /infill and /v1/completions, and streams a chat', async () => {
    server = await startLlamaServer(binary, model);
    const client = new RemoteClient({ url: server.url, timeoutMs: 30_000 });
    const models = await client.models();
    assert.equal(models.ids.length, 1, server.output());
    const params = {
      documentId: 'd', languageId: 'python', filePath: 'a.py', prefix: 'def add(a, b):\n    return ', suffix: '\n\nprint(add(1, 2))\n', maxTokens: 8,
      context: [{ path: 'lib/m.py', text: 'X = 1\n' }],
    };
    // The generated vocabulary has the three FIM tokens, so llama-server answers /infill.
    const infill = await client.complete(remoteCompletionAsk({ ...params, format: 'auto' }), never);
    assert.equal(infill.endpoint, '/infill');
    assert.equal(typeof infill.text, 'string');
    assert.ok(infill.timings.generatedTokens > 0 && infill.timings.generatedTokens <= 8, JSON.stringify(infill.timings));
    const plain = await client.complete(remoteCompletionAsk({ ...params, format: 'prefix', maxLines: 8 }), never);
    assert.equal(plain.endpoint, '/v1/completions');
    assert.ok(plain.timings.generatedTokens > 0 && plain.timings.generatedTokens <= 8, JSON.stringify(plain.timings));

    const deltas: string[] = [];
    const chat = await client.chat([{ role: 'user', content: 'Say hello.' }], 12, 0, never, (d) => deltas.push(d));
    assert.ok(deltas.length > 1, 'the answer came in pieces');
    assert.equal(deltas.join(''), chat.text);
    assert.ok(chat.timings.generatedTokens > 0 && chat.timings.generatedTokens <= 12);
    assert.ok(['eog', 'length'].includes(chat.stopReason));
  });

  it('stops a streamed chat at once when cancelled, and the server answers the next request', async () => {
    server = await startLlamaServer(binary, model);
    const client = new RemoteClient({ url: server.url, timeoutMs: 30_000 });
    const listeners: Array<() => void> = [];
    const abort = { aborted: false, onAbort: (l: () => void) => void listeners.push(l) };
    let pieces = 0;
    let stoppedAt = 0;
    const err = await remoteFailure(client.chat([{ role: 'user', content: 'Write a long story.' }], 3000, 0.8, abort, () => {
      if (++pieces === 3) {
        abort.aborted = true;
        stoppedAt = Date.now();
        listeners.forEach((l) => l());
      }
    }));
    assert.equal(err.code, EngineErrorCodes.RequestCancelled, `${err.kind}: ${err.message} (after ${pieces} pieces)`);
    assert.ok(Date.now() - stoppedAt < 1000, 'the request ended within a second of Stop');
    const t0 = Date.now();
    const next = await client.chat([{ role: 'user', content: 'Hi' }], 4, 0, never, () => undefined);
    assert.ok(next.timings.generatedTokens > 0);
    assert.ok(Date.now() - t0 < 20_000, 'the cancelled generation did not hold the server');
  });

  it('says the connection was refused while the server is down, and works again once it is back', async () => {
    server = await startLlamaServer(binary, model);
    const port = server.port;
    const client = new RemoteClient({ url: server.url, timeoutMs: 30_000 });
    await client.chat([{ role: 'user', content: 'Hi' }], 4, 0, never, () => undefined);
    await server.stop();
    const down = await remoteFailure(client.chat([{ role: 'user', content: 'Hi' }], 4, 0, never, () => undefined));
    assert.equal(down.kind, 'refused');
    assert.match(down.message, new RegExp(`could not connect to http://127\\.0\\.0\\.1:${port}: the connection was refused`));
    server = await startLlamaServer(binary, model, { port });
    const back = await client.chat([{ role: 'user', content: 'Hi' }], 4, 0, never, () => undefined);
    assert.ok(back.timings.generatedTokens > 0);
  });

  it('refuses a wrong key without showing it, and names the served model for a wrong model name', async () => {
    server = await startLlamaServer(binary, model, { apiKey: 'right-key-123' });
    const wrong = await remoteFailure(new RemoteClient({ url: server.url, apiKey: 'wrong-key-456', timeoutMs: 30_000 })
      .chat([{ role: 'user', content: 'Hi' }], 4, 0, never, () => undefined));
    assert.equal(wrong.kind, 'auth');
    assert.equal(wrong.status, 401);
    assert.match(wrong.message, /refused the API key \(401: Invalid API Key\)/);
    assert.doesNotMatch(wrong.message, /wrong-key-456|right-key-123/);
    const none = await remoteFailure(new RemoteClient({ url: server.url, timeoutMs: 30_000 }).models());
    assert.equal(none.kind, 'auth');

    const right = new RemoteClient({ url: server.url, apiKey: 'right-key-123', timeoutMs: 30_000 });
    const [served] = (await right.models()).ids;
    const misnamed = await remoteFailure(new RemoteClient({ url: server.url, apiKey: 'right-key-123', model: 'no-such-model', timeoutMs: 30_000 }).models());
    assert.equal(misnamed.kind, 'model');
    assert.ok(misnamed.message.includes(`has no model named "no-such-model"; it serves "${served}"`), misnamed.message);
  });
});
