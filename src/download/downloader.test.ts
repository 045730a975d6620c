// Model downloads against a local HTTP server on 127.0.0.1: progress, a redirect, resume after
// an interrupted transfer, and a corrupted file rejected by its checksum and never used; one
// download per destination, in this process and across processes (a lock file next to the part).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { downloadFile, isDownloading, type DownloadProgress } from './downloader';

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
    if (req.url !== '/model.gguf') {
      res.writeHead(404);
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

  it('downloads a destination once at a time in this process: a second download is refused while the first runs', async () => {
    const s = await serve({});
    try {
      const dest = path.join(dir, 'model.gguf');
      const first = downloadFile({ url: `${s.base}/model.gguf`, dest, sha256 });
      assert.ok(isDownloading(dest));
      await assert.rejects(downloadFile({ url: `${s.base}/model.gguf`, dest, sha256 }), /model\.gguf is already downloading/);
      await first;
      assert.ok(!isDownloading(dest));
      assert.ok(fs.readFileSync(dest).equals(body));
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
      await assert.rejects(downloadFile({ url: `${s.base}/model.gguf`, dest, sha256 }),
        new RegExp(`model\\.gguf is being downloaded by another process \\(pid ${other.pid}, since .*\\), probably another VS Code window; if none is running, delete .*model\\.gguf\\.part\\.lock`));
      assert.equal(fs.readFileSync(lock, 'utf8'), held, 'a live lock is left alone');
      assert.equal(s.requests.length, 0);

      other.kill();
      await once(other, 'exit');
      await downloadFile({ url: `${s.base}/model.gguf`, dest, sha256 });
      assert.ok(fs.readFileSync(dest).equals(body));
      assert.ok(!fs.existsSync(lock));
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
      assert.ok(fs.readFileSync(dest).equals(body));
      assert.ok(!fs.existsSync(lock));
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
      assert.ok(seen.length > 0 && seen.every((l) => l.pid === process.pid && !Number.isNaN(Date.parse(l.startedAt))));
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
        if (p.received === body.length) fs.writeFileSync(lock, theirs);
      };
      await assert.rejects(downloadFile({ url: `${s.base}/model.gguf`, dest, sha256, onProgress: takeOver }), /another process took over/);
      assert.ok(!fs.existsSync(dest));
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
        if (p.received === body.length) fs.appendFileSync(`${dest}.part`, 'trailing bytes');
      };
      await assert.rejects(downloadFile({ url: `${s.base}/model.gguf`, dest, onProgress: meddle }),
        /the file on disk is 3145742 bytes, not the 3145728 announced; the file was deleted/);
      assert.ok(!fs.existsSync(dest));
      assert.ok(!fs.existsSync(`${dest}.part`));
    } finally {
      await s.close();
    }
  });
});
