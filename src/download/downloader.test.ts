// Model downloads against local HTTP(S) servers on 127.0.0.1, real files and real connections:
// progress, redirects (the Hub's, a loop, https to http), resume after an interrupted transfer
// (only of the same file: sidecar, If-Range, Content-Range), a file that is not the model
// (checksum, the Hub's X-Linked-* headers, sizes) rejected and never used, failures and
// cancellation that hang up and close the file, and one download per destination, in this
// process and across processes (a lock file next to the part).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { DownloadBusyError, DownloadCancelledError, downloadFile, isDownloading, type DownloadProgress } from './downloader';

// A fake model: GGUF magic and 3 MiB of deterministic bytes.
const body = Buffer.alloc(3 << 20);
body.write('GGUF', 0, 'latin1');
for (let i = 4; i < body.length; i++) body[i] = (i * 2654435761) >>> 24;
const sha256 = createHash('sha256').update(body).digest('hex');

// A second version of the model, as if it changed upstream between two attempts: other bytes
// from the start, and another length.
const body2 = Buffer.concat([body.subarray(0, 4096), Buffer.alloc(5000, 7), body.subarray(4096)]);
body2.write('v2', 100, 'latin1');

/** `file` holds exactly `expected` (a failed assert.ok without a message is slow to report: it parses the test's source). */
function assertFile(file: string, expected: Buffer, what = 'the expected bytes'): void {
  const digest = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  assert.equal(digest(fs.readFileSync(file)), digest(expected), `${file} does not hold ${what}`);
}

function etagOf(file: Buffer): string {
  return `"${createHash('sha256').update(file).digest('hex').slice(0, 16)}"`;
}

/** How the Hub names an LFS file's SHA-256: a quoted hex ETag, sometimes weak. */
const linkedEtag = (file: Buffer, weak = false) => `${weak ? 'W/' : ''}"${createHash('sha256').update(file).digest('hex')}"`;

interface ServerOptions {
  cutAfter?: number;  // the first transfer dies after this many bytes
  corrupt?: boolean;  // a byte near the end flipped
  noRange?: boolean;  // Range ignored: always the whole file
  ignoreIfRange?: boolean;  // Range honoured even when If-Range names another version
  rangeStartsEarlier?: number;  // a proxy that answers a range from this many bytes before the one asked for
  linked?: { etag?: string; size?: string };  // the Hub's X-Linked-* headers, if not those of the file served
  stallAfter?: number;  // the first transfer stops sending after this many bytes, the connection left open
  shortRanges?: number;  // a 206's Content-Length (and body) this many bytes short of its Content-Range
}

// A file server with what resuming relies on: an ETag per version of the file, Range answered
// with 206 and Content-Range, If-Range honoured (a changed file is sent whole, with 200), and
// 416 past the end. Like the Hugging Face Hub, /resolve/model.gguf redirects to a CDN
// (/cdn/model.gguf) and only that redirect names the file's SHA-256 and size (X-Linked-Etag,
// X-Linked-Size). The options make it misbehave the ways servers and proxies do.
async function serve(options: ServerOptions) {
  const requests: Array<{ url: string; range?: string; ifRange?: string; status?: number }> = [];
  let file: Buffer = body;
  let served = 0;
  const server = http.createServer((req, res) => {
    const request = { url: req.url!, range: req.headers.range, ifRange: req.headers['if-range'] as string | undefined, status: 0 };
    requests.push(request);
    const head = (status: number, headers: http.OutgoingHttpHeaders) => res.writeHead((request.status = status), headers);
    if (req.url === '/redirect') {
      head(302, { location: '/model.gguf' });
      res.end();
      return;
    }
    if (req.url === '/resolve/model.gguf') {
      head(302, {
        location: '/cdn/model.gguf', 'x-linked-etag': options.linked?.etag ?? linkedEtag(file), 'x-linked-size': options.linked?.size ?? file.length,
      });
      res.end();
      return;
    }
    const loop = /^\/loop\/(a|b)$/.exec(req.url!);
    if (loop) {
      head(302, { location: loop[1] === 'a' ? '/loop/b' : '/loop/a' });
      res.end();
      return;
    }
    if (req.url !== '/model.gguf' && req.url !== '/cdn/model.gguf') {
      head(404, {});
      res.end();
      return;
    }
    const etag = etagOf(file);
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const honoured = m !== null && !options.noRange && (options.ignoreIfRange || !request.ifRange || request.ifRange === etag);
    const start = honoured ? Math.max(0, Number(m[1]) - (options.rangeStartsEarlier ?? 0)) : 0;
    if (honoured && start >= file.length) {
      head(416, { 'content-range': `bytes */${file.length}`, etag });
      res.end();
      return;
    }
    let data = Buffer.from(file.subarray(start));
    if (options.corrupt) data[data.length - 10] ^= 0xff;
    if (honoured && options.shortRanges) data = data.subarray(0, data.length - options.shortRanges);
    head(honoured ? 206 : 200, {
      'content-length': data.length, etag, ...(honoured ? { 'content-range': `bytes ${start}-${file.length - 1}/${file.length}` } : {}),
    });
    const first = served++ === 0;
    if (first && options.cutAfter !== undefined) {
      // The first transfer dies part way.
      res.write(data.subarray(0, options.cutAfter), () => res.destroy());
      return;
    }
    if (first && options.stallAfter !== undefined) {
      res.write(data.subarray(0, options.stallAfter));
      return;
    }
    res.end(data);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base, requests,
    etag: () => etagOf(file),
    /** A new version of the file upstream. */
    publish: (next: Buffer) => (file = next),
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

// A server sending a file too big to finish (a GGUF header, then bytes for as long as the client
// reads them): does a failed download hang up, or keep reading in the background?
async function serveEndless(options: { chunked?: boolean } = {}) {
  const closed: Array<Promise<void>> = [];
  const chunk = Buffer.alloc(1 << 16, 1);
  const server = http.createServer((_req, res) => {
    closed.push(new Promise((r) => res.on('close', r)));
    res.writeHead(200, { ...(options.chunked ? {} : { 'content-length': 2 ** 40 }), etag: '"endless"' });
    res.write('GGUF');
    const pump = () => {
      while (!res.destroyed && res.write(chunk));
      if (!res.destroyed) res.once('drain', pump);
    };
    pump();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    /** Resolves once the client closed the last connection; rejects if it goes on reading. */
    hungUp: () => Promise.race([closed.at(-1)!, new Promise((_r, reject) => setTimeout(() => reject(new Error('still reading')), 2000))]),
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

// A self-signed certificate for 127.0.0.1 (valid until 2126), trusted by the one test that
// needs an https server.
const tlsKey = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgLfUGBf1kO+wlnurI
oj2cxjz6pzEF96ACmioSmOM5qEahRANCAASsV+9zYGukiguKoD+eGsFuVRk/R93j
nESpK3KQQiL42VWoUUwbs3wR4JvvjcwwLG39gVNUVRI19pIBWP5Ra4LO
-----END PRIVATE KEY-----`;
const tlsCert = `-----BEGIN CERTIFICATE-----
MIIBkDCCATagAwIBAgIUN5N5rsoPmn5hv5EiphwyxBhEszowCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJMTI3LjAuMC4xMCAXDTI2MTEzMDE0MDA1N1oYDzIxMjYxMTA2
MTQwMDU3WjAUMRIwEAYDVQQDDAkxMjcuMC4wLjEwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAASsV+9zYGukiguKoD+eGsFuVRk/R93jnESpK3KQQiL42VWoUUwbs3wR
4JvvjcwwLG39gVNUVRI19pIBWP5Ra4LOo2QwYjAdBgNVHQ4EFgQUVaFGOvLMZA+5
jsQ7kpTZXWWc+ywwHwYDVR0jBBgwFoAUVaFGOvLMZA+5jsQ7kpTZXWWc+ywwDwYD
VR0TAQH/BAUwAwEB/zAPBgNVHREECDAGhwR/AAABMAoGCCqGSM49BAMCA0gAMEUC
IQCKOwiqbLVEv7RxDyiMnLk81bGWuG23Z5iqQNUazudm+gIgbyW5pipKOtHeeS8X
BRbb6YUauX/qzBIYvxkrIpJX+8A=
-----END CERTIFICATE-----`;

/** `promise`, or a failure if it takes longer than `ms`: a download that never ends fails its test quickly. */
function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  return Promise.race([promise, new Promise<never>((_r, reject) => setTimeout(() => reject(new Error(`still running after ${ms} ms`)), ms))]);
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
      assertFile(dest, body);
      assert.ok(!fs.existsSync(`${dest}.part`), 'no part left');
      const received = progress.flatMap((p) => (p.phase === 'downloading' ? [p] : []));
      assert.equal(received.at(-1)!.received, body.length);
      assert.equal(received.at(-1)!.total, body.length);
      assert.ok(received.every((p, i) => i === 0 || p.received >= received[i - 1].received), 'progress only goes forward');
      assert.ok(received.at(-1)!.bytesPerSecond > 0, 'a speed');
      // Then the file is read back from the disk and hashed.
      assert.deepEqual(progress.at(-1), { phase: 'verifying', verified: body.length, total: body.length });
    } finally {
      await s.close();
    }
  });

  it('resumes an interrupted transfer with a Range request and If-Range; the partial file is never the model', async () => {
    const s = await serve({ cutAfter: 1 << 20 });
    try {
      const dest = path.join(dir, 'model.gguf');
      const url = `${s.base}/model.gguf`;
      await assert.rejects(downloadFile({ url, dest, sha256 }), /closed before the end of the file.*resume/);
      assert.ok(!fs.existsSync(dest), 'nothing at the destination');
      const partial = fs.statSync(`${dest}.part`).size;
      assert.ok(partial > 0 && partial < body.length, `a part of ${partial} bytes`);
      // What the first response said about the file, kept to resume only the same version.
      assert.deepEqual(JSON.parse(fs.readFileSync(`${dest}.part.json`, 'utf8')), { url, validator: s.etag(), total: body.length });
      await downloadFile({ url, dest, sha256 });
      assert.deepEqual(s.requests.at(-1), { url: '/model.gguf', range: `bytes=${partial}-`, ifRange: s.etag(), status: 206 });
      assertFile(dest, body);
      assert.ok(!fs.existsSync(`${dest}.part`) && !fs.existsSync(`${dest}.part.json`), 'no part or sidecar left');
    } finally {
      await s.close();
    }
  });

  it('starts over when the server ignores Range', async () => {
    const s = await serve({ noRange: true, cutAfter: 1 << 20 });
    try {
      const dest = path.join(dir, 'model.gguf');
      await assert.rejects(downloadFile({ url: `${s.base}/model.gguf`, dest, sha256 }), /closed before the end/);
      await downloadFile({ url: `${s.base}/model.gguf`, dest, sha256 });
      assert.match(s.requests.at(-1)!.range!, /^bytes=\d+-$/);
      assert.equal(s.requests.at(-1)!.status, 200);
      assertFile(dest, body);
    } finally {
      await s.close();
    }
  });

  it('rejects a corrupted file by its checksum and deletes it', async () => {
    const s = await serve({ corrupt: true });
    try {
      const dest = path.join(dir, 'model.gguf');
      await assert.rejects(downloadFile({ url: `${s.base}/model.gguf`, dest, sha256 }), /SHA-256 is [0-9a-f]{64}, not the expected .*deleted/);
      assert.ok(!fs.existsSync(dest), 'nothing at the destination');
      assert.ok(!fs.existsSync(`${dest}.part`), 'no part left');
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

  it('can be cancelled, while downloading or verifying, keeping the part and its sidecar for a later resume', async () => {
    const s = await serve({});
    try {
      const dest = path.join(dir, 'model.gguf');
      const url = `${s.base}/model.gguf`;
      const cancelled = (err: Error) => err instanceof DownloadCancelledError && /the download was cancelled; run it again to resume/.test(err.message);
      let abort = new AbortController();
      await assert.rejects(downloadFile({ url, dest, sha256, signal: abort.signal, onProgress: () => abort.abort() }), cancelled);
      assert.ok(!fs.existsSync(dest), 'nothing at the destination');
      assert.ok(fs.statSync(`${dest}.part`).size < body.length && fs.existsSync(`${dest}.part.json`), 'a part to resume');

      abort = new AbortController();
      const whileVerifying = (p: DownloadProgress) => p.phase === 'verifying' && abort.abort();
      await assert.rejects(downloadFile({ url, dest, sha256, signal: abort.signal, onProgress: whileVerifying }), cancelled);
      assert.equal(fs.statSync(`${dest}.part`).size, body.length, 'the whole file, to check again');
      await downloadFile({ url, dest, sha256 });
      assert.equal(s.requests.at(-1)!.status, 416, 'not downloaded a third time');
      assertFile(dest, body);
    } finally {
      await s.close();
    }
  });

  it('hangs up when a download fails or is cancelled, instead of reading the rest of the file in the background', async function () {
    const s = await serveEndless();
    try {
      const dest = path.join(dir, 'model.gguf');
      const url = `${s.base}/model.gguf`;
      await assert.rejects(downloadFile({ url, dest, expectedBytes: 123 }), /offers 1099511627776 bytes but the model is 123/);
      await s.hungUp();

      const abort = new AbortController();
      await assert.rejects(downloadFile({ url, dest, signal: abort.signal, onProgress: () => abort.abort() }), /cancelled/);
      await s.hungUp();

      const throwing = () => {
        throw new Error('the progress bar is gone');
      };
      await assert.rejects(downloadFile({ url, dest, onProgress: throwing }), /the progress callback failed: the progress bar is gone; run the download again to resume/);
      await s.hungUp();

      if (!fs.existsSync('/dev/full')) return;
      // A full disk: every write to /dev/full fails with ENOSPC.
      fs.rmSync(`${dest}.part`, { force: true });
      fs.symlinkSync('/dev/full', `${dest}.part`);
      await assert.rejects(downloadFile({ url, dest }), /could not write .*model\.gguf\.part: ENOSPC/);
      await s.hungUp();
      assert.ok(!fs.existsSync(`${dest}.part.lock`), 'the lock removed');
    } finally {
      await s.close();
    }
  });

  it('downloads a destination once at a time in this process: a second download is refused while the first runs', async () => {
    const s = await serve({});
    try {
      const dest = path.join(dir, 'model.gguf');
      const first = downloadFile({ url: `${s.base}/model.gguf`, dest, sha256 });
      assert.ok(isDownloading(dest), 'downloading');
      await assert.rejects(downloadFile({ url: `${s.base}/model.gguf`, dest, sha256 }), (err: Error) => err instanceof DownloadBusyError && /model\.gguf is already downloading/.test(err.message));
      await first;
      assert.ok(!isDownloading(dest), 'no longer downloading');
      assertFile(dest, body);
      assert.equal(s.requests.length, 1, 'the second download sent no request');
    } finally {
      await s.close();
    }
  });

  it('refuses a destination another live process holds the lock of, and takes the lock over once that process is gone', async () => {
    const s = await serve({});
    // Another VS Code window, as far as the lock can tell: a live process of this user.
    const other = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    try {
      const dest = path.join(dir, 'model.gguf');
      const lock = `${dest}.part.lock`;
      const held = JSON.stringify({ pid: other.pid, host: os.hostname(), startedAt: new Date().toISOString(), token: 'the other window' });
      fs.writeFileSync(lock, held);
      await assert.rejects(downloadFile({ url: `${s.base}/model.gguf`, dest, sha256 }), DownloadBusyError);
      await assert.rejects(downloadFile({ url: `${s.base}/model.gguf`, dest, sha256 }),
        new RegExp(`model\\.gguf is being downloaded by another process \\(pid ${other.pid}, since .*\\), probably another VS Code window; if none is running, delete .*model\\.gguf\\.part\\.lock`));
      assert.equal(fs.readFileSync(lock, 'utf8'), held, 'a live lock is left alone');
      assert.equal(s.requests.length, 0);

      other.kill();
      await once(other, 'exit');
      await downloadFile({ url: `${s.base}/model.gguf`, dest, sha256 });
      assertFile(dest, body);
      assert.ok(!fs.existsSync(lock), 'the lock removed');
    } finally {
      other.kill();
      await s.close();
    }
  });

  it('takes over a lock whose holder stopped touching it long ago, even if its pid is in use again', async () => {
    const s = await serve({});
    try {
      const dest = path.join(dir, 'model.gguf');
      const lock = `${dest}.part.lock`;
      // A pid reused after a crash: alive, but the lock's heartbeat (its mtime) stopped an hour ago.
      fs.writeFileSync(lock, JSON.stringify({ pid: process.pid, host: os.hostname(), startedAt: '2020-01-01T00:00:00.000Z', token: 'crashed' }));
      const anHourAgo = new Date(Date.now() - 3600_000);
      fs.utimesSync(lock, anHourAgo, anHourAgo);
      await downloadFile({ url: `${s.base}/model.gguf`, dest, sha256 });
      assertFile(dest, body);
      assert.ok(!fs.existsSync(lock), 'the lock removed');
    } finally {
      await s.close();
    }
  });

  it('holds an exclusive lock (pid and start time) while it downloads and removes it however the download ends', async () => {
    const s = await serve({});
    const bad = await serve({ corrupt: true });
    try {
      const dest = path.join(dir, 'model.gguf');
      const lock = `${dest}.part.lock`;
      const seen: Array<{ pid: number; startedAt: string }> = [];
      const look = () => seen.push(JSON.parse(fs.readFileSync(lock, 'utf8')));
      await downloadFile({ url: `${s.base}/model.gguf`, dest, sha256, onProgress: look });
      assert.ok(seen.length > 0 && seen.every((l) => l.pid === process.pid && !Number.isNaN(Date.parse(l.startedAt))), 'this process holds the lock');
      assert.ok(!fs.existsSync(lock), 'removed after success');
      fs.rmSync(dest);

      await assert.rejects(downloadFile({ url: `${s.base}/missing.gguf`, dest }), /answered 404/);
      assert.ok(!fs.existsSync(lock), 'removed after a server error');
      const abort = new AbortController();
      await assert.rejects(downloadFile({ url: `${s.base}/model.gguf`, dest, signal: abort.signal, onProgress: () => abort.abort() }));
      assert.ok(!fs.existsSync(lock), 'removed after cancellation');
      fs.rmSync(`${dest}.part`, { force: true });
      await assert.rejects(downloadFile({ url: `${bad.base}/model.gguf`, dest, sha256 }), /SHA-256/);
      assert.ok(!fs.existsSync(lock), 'removed after a checksum failure');
    } finally {
      await s.close();
      await bad.close();
    }
  });

  it('does not move the file into place after another process took its lock over', async () => {
    const s = await serve({});
    try {
      const dest = path.join(dir, 'model.gguf');
      const lock = `${dest}.part.lock`;
      const theirs = JSON.stringify({ pid: process.pid, host: os.hostname(), startedAt: new Date().toISOString(), token: 'theirs' });
      const takeOver = (p: DownloadProgress) => {
        if (p.phase === 'downloading' && p.received === body.length) fs.writeFileSync(lock, theirs);
      };
      await assert.rejects(downloadFile({ url: `${s.base}/model.gguf`, dest, sha256, onProgress: takeOver }), /another process took over/);
      assert.ok(!fs.existsSync(dest), 'nothing at the destination');
      assert.equal(fs.readFileSync(lock, 'utf8'), theirs, 'their lock is theirs to remove');
    } finally {
      await s.close();
    }
  });

  it('checks the size of the file on disk, not the count of bytes received', async () => {
    const s = await serve({});
    try {
      const dest = path.join(dir, 'model.gguf');
      // A writer that ignores the lock (an older version of the extension) appends to the part.
      const meddle = (p: DownloadProgress) => {
        if (p.phase === 'downloading' && p.received === body.length) fs.appendFileSync(`${dest}.part`, 'trailing bytes');
      };
      await assert.rejects(downloadFile({ url: `${s.base}/model.gguf`, dest, onProgress: meddle }),
        /the file on disk is 3145742 bytes, not the 3145728 announced; the file was deleted/);
      assert.ok(!fs.existsSync(dest), 'nothing at the destination');
      assert.ok(!fs.existsSync(`${dest}.part`), 'no part left');
    } finally {
      await s.close();
    }
  });

  it('starts over from byte 0 when the file changed upstream between two attempts (If-Range: the server sends it whole)', async () => {
    const s = await serve({ cutAfter: 1 << 20 });
    try {
      const dest = path.join(dir, 'model.gguf');
      const url = `${s.base}/model.gguf`;
      await assert.rejects(downloadFile({ url, dest }), /closed before the end/);
      const firstVersion = s.etag();
      s.publish(body2);
      await downloadFile({ url, dest });
      assert.equal(s.requests.at(-1)!.ifRange, firstVersion);
      assert.equal(s.requests.at(-1)!.status, 200);
      assertFile(dest, body2, 'the new version, not a splice of two');
    } finally {
      await s.close();
    }
  });

  it('accepts a 206 only when its Content-Range starts at the bytes on disk and names the same total; otherwise starts over', async () => {
    const url = (s: { base: string }) => `${s.base}/model.gguf`;
    // A proxy answering from another offset than the one asked for.
    const early = await serve({ cutAfter: 1 << 20, rangeStartsEarlier: 4096 });
    // A server without If-Range, while the file changed (and its length with it).
    const noIfRange = await serve({ cutAfter: 1 << 20, ignoreIfRange: true });
    try {
      const dest = path.join(dir, 'model.gguf');
      await assert.rejects(downloadFile({ url: url(early), dest }), /closed before the end/);
      await downloadFile({ url: url(early), dest });
      assertFile(dest, body);
      assert.equal(early.requests.at(-2)!.status, 206, 'a 206 from the wrong offset…');
      assert.equal(early.requests.at(-1)!.range, undefined, '…is refused and the file asked for whole');
      fs.rmSync(dest);

      await assert.rejects(downloadFile({ url: url(noIfRange), dest }), /closed before the end/);
      noIfRange.publish(body2);
      await downloadFile({ url: url(noIfRange), dest });
      assertFile(dest, body2);
      assert.match(noIfRange.requests.at(-2)!.range!, /^bytes=\d+-$/);
      assert.equal(noIfRange.requests.at(-1)!.range, undefined);
    } finally {
      await early.close();
      await noIfRange.close();
    }
  });

  it('does not resume a part without a sidecar, or with a sidecar for another URL', async () => {
    const s = await serve({});
    try {
      const dest = path.join(dir, 'model.gguf');
      const url = `${s.base}/model.gguf`;
      const stale = Buffer.from('GGUF and bytes of who knows what');
      fs.writeFileSync(`${dest}.part`, stale);
      await downloadFile({ url, dest });
      assert.equal(s.requests.at(-1)!.range, undefined);
      assertFile(dest, body);
      fs.rmSync(dest);

      fs.writeFileSync(`${dest}.part`, stale);
      fs.writeFileSync(`${dest}.part.json`, JSON.stringify({ url: `${s.base}/another.gguf`, validator: s.etag(), total: body.length }));
      await downloadFile({ url, dest });
      assert.equal(s.requests.at(-1)!.range, undefined);
      assertFile(dest, body);
    } finally {
      await s.close();
    }
  });

  it('checks a part that is already whole (the last run stopped while verifying it) without downloading it again', async () => {
    const s = await serve({});
    try {
      const dest = path.join(dir, 'model.gguf');
      const url = `${s.base}/model.gguf`;
      fs.writeFileSync(`${dest}.part`, body);
      fs.writeFileSync(`${dest}.part.json`, JSON.stringify({ url, validator: s.etag(), total: body.length }));
      await downloadFile({ url, dest, sha256 });
      assert.deepEqual(s.requests.map((r) => r.status), [416]);
      assertFile(dest, body);
    } finally {
      await s.close();
    }
  });

  it('ends with a clear error, not a loop, when the server answers 416 whatever it is asked', async () => {
    const server = http.createServer((_q, r) => {
      r.writeHead(416, { 'content-range': 'bytes */10' });
      r.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const dest = path.join(dir, 'model.gguf');
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/model.gguf`;
      fs.writeFileSync(`${dest}.part`, 'GGUF');
      fs.writeFileSync(`${dest}.part.json`, JSON.stringify({ url, validator: '"v1"', total: 10 }));
      await assert.rejects(downloadFile({ url, dest }), /the server answered 416/);
    } finally {
      server.close();
    }
  });

  it('without a pinned SHA-256, checks the file against the SHA-256 and size the Hub names on its redirect (X-Linked-Etag, X-Linked-Size)', async () => {
    const corrupt = await serve({ corrupt: true });
    const weak = await serve({ linked: { etag: linkedEtag(body, true) } });
    const wrongSize = await serve({ linked: { size: String(body.length + 1) } });
    try {
      const dest = path.join(dir, 'model.gguf');
      await assert.rejects(downloadFile({ url: `${corrupt.base}/resolve/model.gguf`, dest }),
        new RegExp(`the file's SHA-256 is [0-9a-f]{64}, not the expected ${sha256} \\(X-Linked-Etag\\); the file was deleted`));
      assert.ok(!fs.existsSync(`${dest}.part`) && !fs.existsSync(`${dest}.part.json`), 'no part or sidecar left');

      const progress: DownloadProgress[] = [];
      await downloadFile({ url: `${weak.base}/resolve/model.gguf`, dest, onProgress: (p) => progress.push(p) });
      assertFile(dest, body);
      assert.deepEqual(progress.at(-1), { phase: 'verifying', verified: body.length, total: body.length }, 'a W/ prefix is still a SHA-256');
      fs.rmSync(dest);

      await assert.rejects(downloadFile({ url: `${wrongSize.base}/resolve/model.gguf`, dest }),
        /the server offers 3145728 bytes but X-Linked-Size says 3145729/);
      assert.ok(!fs.existsSync(dest), 'nothing at the destination');
    } finally {
      await corrupt.close();
      await weak.close();
      await wrongSize.close();
    }
  });

  it('ignores an X-Linked-Etag that is not a SHA-256 (a git blob id)', async () => {
    const s = await serve({ linked: { etag: '"0123456789abcdef0123456789abcdef01234567"' } });
    try {
      const dest = path.join(dir, 'model.gguf');
      const progress: DownloadProgress[] = [];
      await downloadFile({ url: `${s.base}/resolve/model.gguf`, dest, onProgress: (p) => progress.push(p) });
      assertFile(dest, body);
      assert.ok(progress.every((p) => p.phase === 'downloading'), 'nothing to verify against');
    } finally {
      await s.close();
    }
  });

  it('hashes the file on disk, not the bytes it received', async () => {
    const s = await serve({});
    try {
      const dest = path.join(dir, 'model.gguf');
      // A byte flipped on disk after it was written (a bad sector, another writer).
      const flip = (p: DownloadProgress) => {
        if (p.phase !== 'downloading' || p.received !== body.length) return;
        const fd = fs.openSync(`${dest}.part`, 'r+');
        fs.writeSync(fd, Buffer.from([body[1000] ^ 0xff]), 0, 1, 1000);
        fs.closeSync(fd);
      };
      await assert.rejects(downloadFile({ url: `${s.base}/model.gguf`, dest, sha256, onProgress: flip }),
        new RegExp(`SHA-256 is [0-9a-f]{64}, not the expected ${sha256} \\(the catalog\\); the file was deleted`));
      assert.ok(!fs.existsSync(dest) && !fs.existsSync(`${dest}.part`), 'neither the model nor the part');
    } finally {
      await s.close();
    }
  });

  it('refuses a redirect from https to http', async () => {
    const plain = await serve({});
    const secure = https.createServer({ key: tlsKey, cert: tlsCert }, (_req, res) => {
      res.writeHead(302, { location: `${plain.base}/model.gguf` });
      res.end();
    });
    await new Promise<void>((r) => secure.listen(0, '127.0.0.1', r));
    const trusted = https.globalAgent.options.ca;
    https.globalAgent.options.ca = tlsCert;
    try {
      const dest = path.join(dir, 'model.gguf');
      const url = `https://127.0.0.1:${(secure.address() as AddressInfo).port}/model.gguf`;
      await assert.rejects(downloadFile({ url, dest }), new RegExp(`refused the redirect from ${url} to ${plain.base}/model.gguf: it would drop the encryption`));
      assert.equal(plain.requests.length, 0, 'the http URL was never asked');
      assert.ok(!fs.existsSync(`${dest}.part.lock`), 'the lock removed');
    } finally {
      https.globalAgent.options.ca = trusted;
      secure.closeAllConnections();
      secure.close();
      await plain.close();
    }
  });

  it('stops reading when the server sends more than the size announced, and deletes the part', async () => {
    // Chunked: no Content-Length to stop the HTTP parser, only the size the catalog announced.
    const s = await serveEndless({ chunked: true });
    try {
      const dest = path.join(dir, 'model.gguf');
      await assert.rejects(within(2000, downloadFile({ url: `${s.base}/model.gguf`, dest, expectedBytes: 1 << 20 })),
        /the server sent more than the 1048576 bytes announced; the file was deleted/);
      await s.hungUp();
      assert.ok(!fs.existsSync(`${dest}.part`) && !fs.existsSync(`${dest}.part.json`), 'no part or sidecar left');
    } finally {
      await s.close();
    }
  });

  it('refuses a 206 whose Content-Length disagrees with its Content-Range, and asks for the whole file', async () => {
    const s = await serve({ cutAfter: 1 << 20, shortRanges: 10 });
    try {
      const dest = path.join(dir, 'model.gguf');
      await assert.rejects(downloadFile({ url: `${s.base}/model.gguf`, dest }), /closed before the end/);
      await downloadFile({ url: `${s.base}/model.gguf`, dest });
      assert.deepEqual(s.requests.map((r) => r.status), [200, 206, 200]);
      assertFile(dest, body);
    } finally {
      await s.close();
    }
  });

  it('names a redirect loop', async () => {
    const s = await serve({});
    try {
      await assert.rejects(downloadFile({ url: `${s.base}/loop/a`, dest: path.join(dir, 'model.gguf') }), /the redirects from .*\/loop\/a loop back to .*\/loop\/a/);
      assert.equal(s.requests.length, 2, 'stopped as soon as a URL came back');
    } finally {
      await s.close();
    }
  });

  it('gives up on a connection that stalls, keeping the part to resume', async () => {
    const s = await serve({ stallAfter: 1 << 20 });
    try {
      const dest = path.join(dir, 'model.gguf');
      await assert.rejects(within(2000, downloadFile({ url: `${s.base}/model.gguf`, dest, idleTimeoutMs: 200 })),
        /the server sent nothing for 0\.2 s; run the download again to resume/);
      assert.ok(fs.existsSync(`${dest}.part`) && fs.existsSync(`${dest}.part.json`), 'a part to resume');
      await downloadFile({ url: `${s.base}/model.gguf`, dest, sha256, idleTimeoutMs: 200 });
      assert.equal(s.requests.at(-1)!.status, 206);
      assertFile(dest, body);
    } finally {
      await s.close();
    }
  });
});
