// Downloads a model file safely: into `<dest>.part`, resuming a previous partial transfer with
// an HTTP Range request, following redirects (Hugging Face sends files from a CDN), reporting
// progress, and checking the size, the SHA-256 (when known) and the GGUF magic before the file
// is moved into place. A partial or corrupt file is never at `dest`. One download per
// destination at a time: in this process (a set of destinations) and across processes (an
// exclusive lock file, `<dest>.part.lock`). No `vscode` import.
import { createHash, type Hash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { FileLock, LockHeldError } from './lock';

export interface DownloadProgress {
  received: number;
  total: number | undefined;
  bytesPerSecond: number;
}

export interface DownloadOptions {
  url: string;
  dest: string;
  expectedBytes?: number;
  sha256?: string;
  onProgress?: (p: DownloadProgress) => void;
  signal?: AbortSignal;
}

export class DownloadError extends Error {}

const MAX_REDIRECTS = 5;

function get(url: string, headers: Record<string, string>, signal: AbortSignal | undefined, redirects = 0): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') return reject(new DownloadError(`unsupported URL ${url}`));
    const client = u.protocol === 'https:' ? https : http;
    const req = client.get(u, { headers: { 'user-agent': 'smallthinker-vscode', ...headers }, signal }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        if (redirects >= MAX_REDIRECTS) return reject(new DownloadError(`too many redirects from ${url}`));
        resolve(get(new URL(res.headers.location, u).toString(), headers, signal, redirects + 1));
        return;
      }
      resolve(res);
    });
    req.on('error', (err) => reject(signal?.aborted ? new DownloadError('the download was cancelled') : err));
  });
}

async function hashFile(file: string, hash: Hash): Promise<void> {
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
}

/** The destinations this process is downloading, as absolute paths. */
const downloading = new Set<string>();

export function isDownloading(dest: string): boolean {
  return downloading.has(path.resolve(dest));
}

function lockDestination(dest: string): FileLock {
  const file = `${dest}.part.lock`;
  try {
    return FileLock.acquire(file);
  } catch (err) {
    if (!(err instanceof LockHeldError)) throw err;
    const who = err.owner ? `pid ${err.owner.pid}${err.owner.host === os.hostname() ? '' : ` on ${err.owner.host}`}, since ${err.owner.startedAt}` : 'unknown';
    throw new DownloadError(`${path.basename(dest)} is being downloaded by another process (${who}), probably another VS Code window; ` +
      `if none is running, delete ${file}`);
  }
}

/** Resolves with `dest` once the verified file is in place. */
export async function downloadFile(o: DownloadOptions): Promise<string> {
  // Checked and claimed before the first await, so two calls in the same tick cannot both pass.
  const key = path.resolve(o.dest);
  if (downloading.has(key)) throw new DownloadError(`${path.basename(o.dest)} is already downloading`);
  downloading.add(key);
  try {
    const lock = lockDestination(o.dest);
    try {
      return await transfer(o, lock);
    } finally {
      lock.release();
    }
  } finally {
    downloading.delete(key);
  }
}

async function transfer(o: DownloadOptions, lock: FileLock): Promise<string> {
  const part = `${o.dest}.part`;
  let have = fs.existsSync(part) ? fs.statSync(part).size : 0;
  const res = await get(o.url, have > 0 ? { range: `bytes=${have}-` } : {}, o.signal);
  const status = res.statusCode ?? 0;
  if (status === 416 && have > 0) {
    // The part is already complete (or longer than the file): start over rather than guess.
    res.resume();
    fs.rmSync(part, { force: true });
    return transfer(o, lock);
  }
  if (status !== 200 && status !== 206) {
    res.resume();
    throw new DownloadError(`the server answered ${status} for ${o.url}`);
  }
  if (status === 200) have = 0;  // no resume support: start from the beginning
  const length = Number(res.headers['content-length'] ?? NaN);
  const total = Number.isFinite(length) ? have + length : o.expectedBytes;
  if (o.expectedBytes !== undefined && total !== undefined && total !== o.expectedBytes) {
    res.resume();
    throw new DownloadError(`the server offers ${total} bytes but the model is ${o.expectedBytes}`);
  }
  const hash = createHash('sha256');
  if (have > 0) await hashFile(part, hash);
  const out = fs.createWriteStream(part, { flags: have > 0 ? 'a' : 'w' });
  let received = have;
  const t0 = Date.now();
  let lastReport = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      res.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        received += chunk.length;
        if (!out.write(chunk)) {
          res.pause();
          out.once('drain', () => res.resume());
        }
        const now = Date.now();
        if (now - lastReport >= 100) {
          lastReport = now;
          o.onProgress?.({ received, total, bytesPerSecond: ((received - have) * 1000) / Math.max(1, now - t0) });
        }
      });
      res.on('end', resolve);
      res.on('aborted', () => reject(new DownloadError('the connection was closed before the end of the file; run the download again to resume')));
      res.on('error', (err) => reject(o.signal?.aborted ? new DownloadError('the download was cancelled') : err));
      out.on('error', reject);
    });
  } finally {
    await new Promise<void>((resolve) => out.end(resolve));
  }
  if (!res.complete) throw new DownloadError('the connection was closed before the end of the file; run the download again to resume');
  o.onProgress?.({ received, total, bytesPerSecond: ((received - have) * 1000) / Math.max(1, Date.now() - t0) });

  const reject = (why: string) => {
    fs.rmSync(part, { force: true });
    throw new DownloadError(`${why}; the file was deleted`);
  };
  if (total !== undefined && received !== total) {
    throw new DownloadError(`received ${received} of ${total} bytes; run the download again to resume`);
  }
  // What counts is the file that will be moved into place, not what went through this process.
  const onDisk = fs.statSync(part).size;
  if (onDisk !== (total ?? received)) reject(`the file on disk is ${onDisk} bytes, not the ${total ?? received} ${total !== undefined ? 'announced' : 'received'}`);
  const digest = hash.digest('hex');
  if (o.sha256 && digest !== o.sha256.toLowerCase()) reject(`the file's SHA-256 is ${digest}, not the expected ${o.sha256}`);
  const fd = fs.openSync(part, 'r');
  const magic = Buffer.alloc(4);
  fs.readSync(fd, magic, 0, 4, 0);
  fs.closeSync(fd);
  if (magic.toString('latin1') !== 'GGUF') reject('the downloaded file is not a GGUF model');
  if (!lock.held()) throw new DownloadError(`another process took over the download of ${path.basename(o.dest)}; its file was left to it`);
  fs.renameSync(part, o.dest);
  return o.dest;
}
