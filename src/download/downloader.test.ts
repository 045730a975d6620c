// Model downloads against a local HTTP server on 127.0.0.1: progress, a redirect, resume after
// an interrupted transfer, and a corrupted file rejected by its checksum and never used.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { downloadFile, type DownloadProgress } from './downloader';

// A fake model: GGUF magic and 3 MiB of deterministic bytes.
const body = Buffer.alloc(3 << 20);
body.write('GGUF', 0, 'latin1');
for (let i = 4; i < body.length; i++) body[i] = (i * 2654435761) >>> 24;
const sha256 = createHash('sha256').update(body).digest('hex');

interface ServerOptions { cutAfter?: number; corrupt?: boolean; noRange?: boolean }

async function serve(options: ServerOptions) {
  const requests: Array<{ url: string; range?: string }> = [];
  let served = 0;
  const server = http.createServer((req, res) => {
    requests.push({ url: req.url!, range: req.headers.range });
    if (req.url === '/redirect') {
      res.writeHead(302, { location: '/model.gguf' });
      res.end();
      return;
    }
    let start = 0;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (m && !options.noRange) start = Number(m[1]);
    const data = Buffer.from(body.subarray(start));
    if (options.corrupt) data[data.length - 10] ^= 0xff;
    res.writeHead(start > 0 ? 206 : 200, { 'content-length': data.length, ...(start > 0 ? { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` } : {}) });
    const first = served++ === 0;
    if (first && options.cutAfter !== undefined) {
      // The first transfer dies half way.
      res.write(data.subarray(0, options.cutAfter), () => res.destroy());
      return;
    }
    res.end(data);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { base, requests, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('model download', function () {
  this.timeout(30_000);
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'st-download-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('downloads through a redirect with progress, checks size and SHA-256, then moves the file into place', async () => {
    const s = await serve({});
    try {
      const progress: DownloadProgress[] = [];
      const dest = path.join(dir, 'model.gguf');
      await downloadFile({ url: `${s.base}/redirect`, dest, expectedBytes: body.length, sha256, onProgress: (p) => progress.push(p) });
      assert.ok(fs.readFileSync(dest).equals(body));
      assert.ok(!fs.existsSync(`${dest}.part`));
      assert.equal(progress.at(-1)!.received, body.length);
      assert.equal(progress.at(-1)!.total, body.length);
      assert.ok(progress.every((p, i) => i === 0 || p.received >= progress[i - 1].received));
      assert.ok(progress.at(-1)!.bytesPerSecond > 0);
    } finally {
      await s.close();
    }
  });

  it('resumes an interrupted transfer with a Range request; the partial file is never the model', async () => {
    const s = await serve({ cutAfter: 1 << 20 });
    try {
      const dest = path.join(dir, 'model.gguf');
      await assert.rejects(downloadFile({ url: `${s.base}/model.gguf`, dest, sha256 }), /closed before the end of the file.*resume/);
      assert.ok(!fs.existsSync(dest), 'nothing at the destination');
      const partial = fs.statSync(`${dest}.part`).size;
      assert.ok(partial > 0 && partial < body.length);
      await downloadFile({ url: `${s.base}/model.gguf`, dest, sha256 });
      assert.equal(s.requests.at(-1)!.range, `bytes=${partial}-`);
      assert.ok(fs.readFileSync(dest).equals(body));
    } finally {
      await s.close();
    }
  });

  it('starts over when the server ignores Range', async () => {
    const s = await serve({ noRange: true });
    try {
      const dest = path.join(dir, 'model.gguf');
      fs.writeFileSync(`${dest}.part`, Buffer.from('GGUF-stale-bytes'));
      await downloadFile({ url: `${s.base}/model.gguf`, dest, sha256 });
      assert.ok(fs.readFileSync(dest).equals(body));
    } finally {
      await s.close();
    }
  });

  it('rejects a corrupted file by its checksum and deletes it', async () => {
    const s = await serve({ corrupt: true });
    try {
      const dest = path.join(dir, 'model.gguf');
      await assert.rejects(downloadFile({ url: `${s.base}/model.gguf`, dest, sha256 }), /SHA-256 is [0-9a-f]{64}, not the expected .*deleted/);
      assert.ok(!fs.existsSync(dest));
      assert.ok(!fs.existsSync(`${dest}.part`));
    } finally {
      await s.close();
    }
  });

  it('refuses a wrong size and a server error clearly', async () => {
    const s = await serve({});
    try {
      const dest = path.join(dir, 'model.gguf');
      await assert.rejects(downloadFile({ url: `${s.base}/model.gguf`, dest, expectedBytes: 123 }), /offers 3145728 bytes but the model is 123/);
      const server = http.createServer((_q, r) => { r.writeHead(404); r.end(); });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/x.gguf`;
      await assert.rejects(downloadFile({ url, dest }), /answered 404/);
      server.close();
    } finally {
      await s.close();
    }
  });

  it('can be cancelled, keeping the part for a later resume', async () => {
    const s = await serve({});
    try {
      const dest = path.join(dir, 'model.gguf');
      const abort = new AbortController();
      const running = downloadFile({ url: `${s.base}/model.gguf`, dest, signal: abort.signal, onProgress: () => abort.abort() });
      await assert.rejects(running);
      assert.ok(!fs.existsSync(dest));
    } finally {
      await s.close();
    }
  });
});
