// The HTTP client against a small in-process server that answers as OpenAI-compatible servers
// do (the real llama-server is in llama-server.test.ts, slow): streamed chats cut anywhere,
// cancellation, the errors a user can meet, and the key never shown.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { EngineErrorCodes } from '../../engine/protocol';
import { remoteFailure } from '../../test/support/remote-error';
import { RemoteClient, serverBase, type Abort } from './client';

type Handler = (req: http.IncomingMessage, body: string, res: http.ServerResponse) => void;

async function serve(handler: Handler): Promise<{ url: string; close(): Promise<void>; requests: string[] }> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      requests.push(`${req.method} ${req.url}`);
      handler(req, body, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`, requests,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

const never: Abort = { aborted: false, onAbort: () => undefined };

function abortable(): Abort & { abort(): void } {
  const listeners: Array<() => void> = [];
  const a = { aborted: false, onAbort: (l: () => void) => void listeners.push(l), abort: () => { a.aborted = true; listeners.forEach((l) => l()); } };
  return a;
}

function sse(res: http.ServerResponse, events: unknown[]): string {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  return events.map((e) => `data: ${typeof e === 'string' ? e : JSON.stringify(e)}\n\n`).join('');
}

describe('remote client', () => {
  it('accepts a base URL with or without /v1 and refuses what is not http', () => {
    assert.equal(serverBase('http://box:8080/v1/').href, 'http://box:8080/');
    assert.equal(serverBase('https://h/api/v1').href, 'https://h/api');
    assert.throws(() => serverBase('file:///etc/passwd'), /use http:\/\/ or https:\/\//);
    assert.throws(() => serverBase('not a url'), /is not a URL/);
  });

  it('lists the models and names them when the one asked for is not served', async () => {
    const server = await serve((_req, _body, res) => res.end(JSON.stringify({ object: 'list', data: [{ id: 'smallthinker-4b' }, { id: 'qwen' }] })));
    try {
      const listed = await new RemoteClient({ url: server.url, timeoutMs: 5000 }).models();
      assert.deepEqual(listed.ids, ['smallthinker-4b', 'qwen']);
      const wrong = await remoteFailure(new RemoteClient({ url: server.url, model: 'gpt-4', timeoutMs: 5000 }).models());
      assert.equal(wrong.kind, 'model');
      assert.match(wrong.message, /has no model named "gpt-4"; it serves "smallthinker-4b", "qwen"/);
    } finally {
      await server.close();
    }
  });

  it('streams a chat answer whose events arrive cut at every byte, in order, with the usage as timings', async () => {
    const server = await serve((req, body, res) => {
      const asked = JSON.parse(body);
      assert.equal(asked.stream, true);
      assert.equal(asked.model, 'm');
      assert.equal(req.headers.authorization, 'Bearer k3y-secret');
      const text = sse(res, [
        { choices: [{ delta: { role: 'assistant' } }] },
        { choices: [{ delta: { content: 'Hel' } }] },
        { choices: [{ delta: { content: 'lo, ' } }] },
        { choices: [{ delta: { content: 'wörld' } }] },
        { choices: [{ delta: {}, finish_reason: 'length' }] },
        { choices: [], usage: { prompt_tokens: 12, completion_tokens: 3 } },
        '[DONE]',
      ]).replace(/\n\n/g, '\r\n\r\n');
      const bytes = Buffer.from(text);
      let i = 0;
      const next = () => (i < bytes.length ? res.write(bytes.subarray(i, ++i), () => setImmediate(next)) : res.end());
      next();
    });
    try {
      const deltas: string[] = [];
      const result = await new RemoteClient({ url: server.url, apiKey: 'k3y-secret', model: 'm', timeoutMs: 5000 })
        .chat([{ role: 'user', content: 'hi' }], 16, 0, never, (d) => deltas.push(d));
      assert.equal(deltas.join(''), 'Hello, wörld');
      assert.equal(result.text, 'Hello, wörld');
      assert.equal(result.stopReason, 'length');
      assert.equal(result.timings.generatedTokens, 3);
      assert.equal(result.timings.promptTokens, 12);
    } finally {
      await server.close();
    }
  });

  it('stops a streamed answer at once when cancelled, as the local engine does (RequestCancelled)', async () => {
    let closed = false;
    const server = await serve((req, _body, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const timer = setInterval(() => res.write(`data: ${JSON.stringify({ choices: [{ delta: { content: 'x' } }] })}\n\n`), 20);
      req.socket.on('close', () => {
        closed = true;
        clearInterval(timer);
      });
    });
    try {
      const abort = abortable();
      const t0 = Date.now();
      let got = '';
      const err = await remoteFailure(new RemoteClient({ url: server.url, timeoutMs: 5000 }).chat([{ role: 'user', content: 'go on' }], 1000, 0, abort, (d) => {
        got += d;
        if (got.length === 3) abort.abort();
      }));
      assert.equal(err.code, EngineErrorCodes.RequestCancelled);
      assert.ok(Date.now() - t0 < 2000);
      for (let i = 0; i < 50 && !closed; i++) await new Promise((r) => setTimeout(r, 20));
      assert.ok(closed, 'the server saw the connection closed');
    } finally {
      await server.close();
    }
  });

  it('says the server refused the key, with what it answered, and never shows the key', async () => {
    const server = await serve((req, _body, res) => {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `Invalid API Key: ${String(req.headers.authorization)}`, code: 401 } }));
    });
    try {
      const err = await remoteFailure(new RemoteClient({ url: server.url, apiKey: 'sk-very-secret', timeoutMs: 5000 }).models());
      assert.equal(err.kind, 'auth');
      assert.match(err.message, /refused the API key \(401: Invalid API Key: Bearer \[key\]\)/);
      assert.doesNotMatch(err.message, /sk-very-secret/);
    } finally {
      await server.close();
    }
  });

  it('says when nothing listens, when the server is silent, and when it has no such endpoint', async () => {
    const closed = await serve(() => undefined);
    const url = closed.url;
    await closed.close();
    const refused = await remoteFailure(new RemoteClient({ url, timeoutMs: 5000 }).models());
    assert.equal(refused.kind, 'refused');
    assert.match(refused.message, /could not connect to http:\/\/127\.0\.0\.1:\d+: the connection was refused/);

    const silent = await serve(() => undefined);
    try {
      const t0 = Date.now();
      const timeout = await remoteFailure(new RemoteClient({ url: silent.url, timeoutMs: 300 }).chat([{ role: 'user', content: 'hi' }], 8, 0, never, () => undefined));
      assert.equal(timeout.kind, 'timeout');
      assert.match(timeout.message, /did not answer \/v1\/chat\/completions within 0 s/);
      assert.ok(Date.now() - t0 < 3000);
    } finally {
      await silent.close();
    }

    const html = await serve((_req, _body, res) => {
      res.writeHead(404);
      res.end('<html>Not Found</html>');
    });
    try {
      const missing = await remoteFailure(new RemoteClient({ url: html.url, timeoutMs: 5000 }).models());
      assert.equal(missing.kind, 'not-found');
      assert.match(missing.message, /has no \/v1\/models \(404: <html>Not Found<\/html>\): is it an OpenAI-compatible server\?/);
    } finally {
      await html.close();
    }
  });

  it('uses /infill where the server has it, and /v1/completions from the first 404 on', async () => {
    let infill = true;
    const server = await serve((req, body, res) => {
      const asked = JSON.parse(body);
      if (req.url === '/infill') {
        if (!infill) {
          res.writeHead(404);
          return res.end(JSON.stringify({ error: { message: 'File Not Found' } }));
        }
        assert.deepEqual(asked.input_extra, [{ filename: 'lib/a.ts', text: 'export const a = 1;' }]);
        return res.end(JSON.stringify({ content: 'x + 1', stop_type: 'limit', timings: { prompt_n: 9, predicted_n: 4, predicted_ms: 30, prompt_ms: 5 } }));
      }
      assert.equal(req.url, '/v1/completions');
      assert.equal(asked.prompt, 'PROMPT');
      assert.deepEqual(asked.stop, ['\n']);
      res.end(JSON.stringify({ choices: [{ text: 'y;', finish_reason: 'stop' }], usage: { prompt_tokens: 5, completion_tokens: 2 } }));
    });
    try {
      const client = new RemoteClient({ url: server.url, timeoutMs: 5000 });
      const ask = { prompt: 'PROMPT', maxTokens: 8, stop: ['\n'], temperature: 0, infill: { prefix: 'f(', suffix: ')', extra: [{ filename: 'lib/a.ts', text: 'export const a = 1;' }] } };
      const first = await client.complete(ask, never);
      assert.deepEqual([first.endpoint, first.text, first.stopReason, first.timings.promptTokens, first.timings.generatedTokens], ['/infill', 'x + 1', 'length', 9, 4]);
      infill = false;
      const second = await client.complete(ask, never);
      assert.deepEqual([second.endpoint, second.text, second.stopReason], ['/v1/completions', 'y;', 'eog']);
      await client.complete(ask, never);
      assert.deepEqual(server.requests, ['POST /infill', 'POST /infill', 'POST /v1/completions', 'POST /v1/completions']);
    } finally {
      await server.close();
    }
  });

  it('reports an error the server streams instead of an answer', async () => {
    const server = await serve((_req, _body, res) => res.end(sse(res, [{ error: { message: 'the request exceeds the available context size' } }])));
    try {
      const err = await remoteFailure(new RemoteClient({ url: server.url, timeoutMs: 5000 }).chat([{ role: 'user', content: 'hi' }], 8, 0, never, () => undefined));
      assert.equal(err.kind, 'server');
      assert.match(err.message, /stopped the answer: the request exceeds the available context size/);
    } finally {
      await server.close();
    }
  });
});
