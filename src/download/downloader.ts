// Downloads a model file safely: into `<dest>.part`, resuming a previous partial transfer with
// an HTTP Range request, following redirects (Hugging Face sends files from a CDN), reporting
// progress, and checking the size, the SHA-256 and the GGUF magic of the file on disk before it
// is moved into place. The SHA-256 is the catalog's or, without one, the one the Hugging Face
// Hub names for LFS files (X-Linked-Etag, with X-Linked-Size, on its redirect to the CDN).
// A partial or corrupt file is never at `dest`. On any failure or cancellation the connection is
// closed and the file too; the part stays only where it can be resumed. One download per
// destination at a time: in this process (a set of destinations) and across processes (an
// exclusive lock file, `<dest>.part.lock`). No `vscode` import.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { FileLock, LockHeldError } from './lock';

/** While the bytes arrive, then while the file on disk is read back and hashed. */
export type DownloadProgress =
  | { phase: 'downloading'; received: number; total: number | undefined; bytesPerSecond: number }
  | { phase: 'verifying'; verified: number; total: number };

export interface DownloadOptions {
  url: string;
  dest: string;
  expectedBytes?: number;
  sha256?: string;
  onProgress?: (p: DownloadProgress) => void;
  signal?: AbortSignal;
  /** How long the server may send nothing before the attempt is given up (resumable); 60 s by default. */
  idleTimeoutMs?: number;
}

export class DownloadError extends Error {}

/** The download was cancelled through its signal; the part stays for a later resume where it can. */
export class DownloadCancelledError extends DownloadError {}

/** The destination is already being downloaded, by this process or another one. */
export class DownloadBusyError extends DownloadError {}

/** Another process took the destination's lock over: its part is not ours to touch. */
class LostLockError extends DownloadError {}

/** The part is not the file (a wrong checksum, more bytes than announced...): it is deleted. */
class RejectedFile extends DownloadError {
  constructor(why: string) {
    super(`${why}; the file was deleted`);
  }
}

/** A transfer that stopped early, which running the download again may resume: a closed
 * connection, a silent server, a failed write to the part (a full disk, a read-only folder). */
class Interrupted extends Error {}

const MAX_REDIRECTS = 5;

/** What the Hub says about an LFS file, on whichever response of the redirect chain said it. */
interface Linked {
  etag?: string;
  size?: string;
}

interface Response {
  res: http.IncomingMessage;
  linked: Linked;
}

/** GETs `url`, following redirects; `chain` is the URLs already visited on the way. */
function get(o: DownloadOptions, url: string, headers: Record<string, string>, chain: string[] = [], linked: Linked = {}): Promise<Response> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') return reject(new DownloadError(`unsupported URL ${url}`));
    const client = u.protocol === 'https:' ? https : http;
    const idleMs = o.idleTimeoutMs ?? 60_000;
    let response: http.IncomingMessage | undefined;
    const req = client.get(u, { headers: { 'user-agent': 'smallthinker-vscode', ...headers }, signal: o.signal }, (res) => {
      response = res;
      // The Hub names them on its 302 and the CDN's final response does not: the first wins.
      linked = { etag: linked.etag ?? (res.headers['x-linked-etag'] as string | undefined), size: linked.size ?? (res.headers['x-linked-size'] as string | undefined) };
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        const next = new URL(res.headers.location, u);
        const visited = [...chain, u.toString()];
        if (visited.includes(next.toString())) return reject(new DownloadError(`the redirects from ${visited[0]} loop back to ${next}`));
        if (visited.length > MAX_REDIRECTS) return reject(new DownloadError(`too many redirects from ${visited[0]}`));
        // http to http stays allowed (a mirror or a test server on the local network).
        if (u.protocol === 'https:' && next.protocol === 'http:') {
          return reject(new DownloadError(`refused the redirect from ${url} to ${next}: it would drop the encryption`));
        }
        resolve(get(o, next.toString(), headers, visited, linked));
        return;
      }
      resolve({ res, linked });
    });
    req.on('error', reject);
    // A connection that stays silent (a stalled server or network) would otherwise wait forever.
    req.setTimeout(idleMs, () => {
      const err = new Interrupted(`the server sent nothing for ${idleMs / 1000} s`);
      // Once the body streams, its reader must see this error, not a bare reset.
      if (response) response.destroy(err);
      else req.destroy(err);
    });
  });
}

/** The SHA-256 an X-Linked-Etag names (`"<hex>"`, maybe `W/`-prefixed), if it names one. */
function linkedSha256(etag: string | undefined): string | undefined {
  return /^(?:W\/)?"?([0-9a-fA-F]{64})"?$/.exec(etag ?? '')?.[1].toLowerCase();
}

/** Reads the file back from the disk and hashes it, reporting progress. */
async function sha256OnDisk(file: string, size: number, o: DownloadOptions): Promise<string> {
  const report = reporter(o);
  const hash = createHash('sha256');
  let verified = 0;
  let lastReport = 0;
  for await (const chunk of fs.createReadStream(file, { signal: o.signal })) {
    hash.update(chunk as Buffer);
    verified += (chunk as Buffer).length;
    const now = Date.now();
    if (now - lastReport >= 100) {
      lastReport = now;
      report({ phase: 'verifying', verified, total: size });
    }
  }
  report({ phase: 'verifying', verified, total: size });
  return hash.digest('hex');
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
    if (!(err instanceof LockHeldError)) throw new DownloadError(`could not lock ${file}: ${(err as Error).message}`, { cause: err });
    const who = err.owner ? `pid ${err.owner.pid}${err.owner.host === os.hostname() ? '' : ` on ${err.owner.host}`}, since ${err.owner.startedAt}` : 'unknown';
    throw new DownloadBusyError(`${path.basename(dest)} is being downloaded by another process (${who}), probably another VS Code window; ` +
      `if none is running, delete ${file}`);
  }
}

/** Resolves with `dest` once the verified file is in place. */
export async function downloadFile(o: DownloadOptions): Promise<string> {
  // Checked and claimed before the first await, so two calls in the same tick cannot both pass.
  const key = path.resolve(o.dest);
  if (downloading.has(key)) throw new DownloadBusyError(`${path.basename(o.dest)} is already downloading`);
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

/**
 * What the first response said about the file, kept next to the part (`<dest>.part.json`) so a
 * later attempt resumes only the same file: the same URL, the same version (the validator sent
 * as If-Range) and the same length.
 */
interface Sidecar {
  url: string;
  /** A strong ETag, or a Last-Modified date. */
  validator: string;
  total: number;
}

function readSidecar(file: string): Sidecar | undefined {
  try {
    const s = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<Sidecar>;
    if (typeof s.url === 'string' && typeof s.validator === 'string' && s.validator && Number.isSafeInteger(s.total)) return s as Sidecar;
  } catch {
    // Missing or unreadable: the part cannot be resumed.
  }
  return undefined;
}

/** The response's validator for If-Range, which takes only a strong ETag or a date. */
function validatorOf(res: http.IncomingMessage): string | undefined {
  const etag = res.headers.etag;
  if (etag && !etag.startsWith('W/')) return etag;
  return res.headers['last-modified'];
}

/** `Content-Range: bytes <start>-<end>/<total>`, or `bytes *\/<total>` on a 416 (start and end -1). */
function contentRange(res: http.IncomingMessage): { start: number; end: number; total: number } | undefined {
  const m = /^bytes (?:(\d+)-(\d+)|\*)\/(\d+)$/.exec(res.headers['content-range'] ?? '');
  if (!m) return undefined;
  return { start: m[1] === undefined ? -1 : Number(m[1]), end: m[2] === undefined ? -1 : Number(m[2]), total: Number(m[3]) };
}

function contentLength(res: http.IncomingMessage): number | undefined {
  const header = res.headers['content-length'];
  return header !== undefined && /^\d+$/.test(header) ? Number(header) : undefined;
}

/** A throw from the caller's progress callback, told apart from the download's own failures. */
class ProgressCallbackError extends Error {}

function reporter(o: DownloadOptions): (p: DownloadProgress) => void {
  return (p) => {
    try {
      o.onProgress?.(p);
    } catch (err) {
      throw new ProgressCallbackError((err as Error).message, { cause: err });
    }
  };
}

interface Answer extends Response {
  /** The bytes of the part this answer continues (0: a fresh start). */
  have: number;
  total: number | undefined;
  /** The part on disk is already the whole file: nothing left to receive. */
  whole: boolean;
}

/** Asks for the rest of the part, or for the whole file, until an answer can be written. */
async function request(o: DownloadOptions, part: string, sidecarFile: string, onResponse: (res: http.IncomingMessage) => void): Promise<Answer> {
  // Resume only a part whose sidecar names this URL and a length the part has not passed.
  const sidecar = readSidecar(sidecarFile);
  const partSize = fs.existsSync(part) ? fs.statSync(part).size : 0;
  let resume = sidecar && sidecar.url === o.url && partSize > 0 && partSize <= sidecar.total ? { have: partSize, sidecar } : undefined;
  // At most two requests: a ranged one, then, if its answer cannot be appended, the whole file.
  while (true) {
    const { res, linked } = await get(o, o.url, resume ? { range: `bytes=${resume.have}-`, 'if-range': resume.sidecar.validator } : {});
    onResponse(res);
    const status = res.statusCode ?? 0;
    const range = contentRange(res);
    if (resume && status === 206) {
      // Appended only when it continues exactly the bytes on disk, of a file of the same length.
      const length = contentLength(res);
      if (range && range.start === resume.have && range.total === resume.sidecar.total && range.end === range.total - 1 &&
          (length === undefined || length === range.end - range.start + 1)) {
        return { res, linked, have: resume.have, total: range.total, whole: false };
      }
    } else if (resume && status === 416 && range?.total === resume.sidecar.total && resume.have === range.total) {
      // Nothing left to send: an earlier run received it all and stopped before moving it into place.
      res.resume();
      return { res, linked, have: resume.have, total: range.total, whole: true };
    } else if (status === 200) {
      // A 200 to a ranged request: the file changed upstream (If-Range) or ranges are not
      // supported. Either way it starts over from byte 0.
      return { res, linked, have: 0, total: contentLength(res), whole: false };
    }
    res.destroy();
    if (!resume) throw new DownloadError(`the server answered ${status} for ${o.url}`);
    resume = undefined;  // an answer that cannot continue the part: ask for the whole file
  }
}

/** Streams the response onto the end of the part; resolves with `have` plus the bytes received. */
async function receive(o: DownloadOptions, res: http.IncomingMessage, part: string, have: number, total: number | undefined): Promise<number> {
  const report = reporter(o);
  let received = have;
  const t0 = Date.now();
  let lastReport = 0;
  const speed = () => ((received - have) * 1000) / Math.max(1, Date.now() - t0);
  const out = fs.createWriteStream(part, { flags: 'a' });
  let writeError: Error | undefined;
  out.on('error', (err) => (writeError = err));
  try {
    // On any failure (the connection, the disk, the progress callback) or cancellation, pipeline
    // destroys the response, which closes the connection, and the file.
    await pipeline(res, async function* (chunks: AsyncIterable<Buffer>) {
      for await (const chunk of chunks) {
        received += chunk.length;
        // Without a Content-Length (chunked), nothing else stops a server that sends too much.
        if (total !== undefined && received > total) throw new RejectedFile(`the server sent more than the ${total} bytes announced`);
        const now = Date.now();
        if (now - lastReport >= 100) {
          lastReport = now;
          report({ phase: 'downloading', received, total, bytesPerSecond: speed() });
        }
        yield chunk;
      }
    }, out, { signal: o.signal });
  } catch (err) {
    throw writeError ? new Interrupted(`could not write ${part}: ${writeError.message}`) : err;
  } finally {
    // Closed before anything else touches the part (a check, a rename, a delete, a resume).
    if (!out.closed) await new Promise<void>((resolve) => out.once('close', () => resolve()));
  }
  if (!res.complete) throw new Interrupted('the connection was closed before the end of the file');
  report({ phase: 'downloading', received, total, bytesPerSecond: speed() });
  return received;
}

async function transfer(o: DownloadOptions, lock: FileLock): Promise<string> {
  const part = `${o.dest}.part`;
  const sidecarFile = `${part}.json`;
  const current: { res?: http.IncomingMessage } = {};
  try {
    const answer = await request(o, part, sidecarFile, (r) => {
      current.res = r;
      // Failures are reported by the pipeline or the checks; one after the download ended (the
      // connection reset after a cancellation) has nowhere to go and must not crash the host.
      r.on('error', () => undefined);
    });
    const { linked, have, whole } = answer;
    const linkedSize = /^\d+$/.test(linked.size ?? '') ? Number(linked.size) : undefined;
    const total = answer.total ?? o.expectedBytes ?? linkedSize;
    if (o.expectedBytes !== undefined && total !== undefined && total !== o.expectedBytes) {
      throw new DownloadError(`the server offers ${total} bytes but the model is ${o.expectedBytes}`);
    }
    if (linkedSize !== undefined && total !== undefined && total !== linkedSize) {
      throw new DownloadError(`the server offers ${total} bytes but X-Linked-Size says ${linkedSize}`);
    }
    const sha256 = o.sha256?.toLowerCase() ?? linkedSha256(linked.etag);
    const sha256From = o.sha256 ? 'the catalog' : 'X-Linked-Etag';
    if (have === 0) {
      // A fresh start: the old sidecar goes before the part is truncated, the new one is written
      // before any byte, so a sidecar never describes bytes of another version.
      fs.rmSync(sidecarFile, { force: true });
      fs.writeFileSync(part, '');
      const validator = validatorOf(answer.res);
      if (validator && total !== undefined) fs.writeFileSync(sidecarFile, JSON.stringify({ url: o.url, validator, total } satisfies Sidecar));
    }
    const received = whole ? have : await receive(o, answer.res, part, have, total);

    if (total !== undefined && received !== total) throw new Interrupted(`received ${received} of ${total} bytes`);
    // What counts is the file that will be moved into place, not what went through this process.
    const onDisk = fs.statSync(part).size;
    if (onDisk !== (total ?? received)) throw new RejectedFile(`the file on disk is ${onDisk} bytes, not the ${total ?? received} ${total !== undefined ? 'announced' : 'received'}`);
    if (sha256) {
      const digest = await sha256OnDisk(part, onDisk, o);
      if (digest !== sha256) throw new RejectedFile(`the file's SHA-256 is ${digest}, not the expected ${sha256} (${sha256From})`);
    }
    const fd = fs.openSync(part, 'r');
    const magic = Buffer.alloc(4);
    fs.readSync(fd, magic, 0, 4, 0);
    fs.closeSync(fd);
    if (magic.toString('latin1') !== 'GGUF') throw new RejectedFile('the downloaded file is not a GGUF model');
    if (!lock.held()) throw new LostLockError(`another process took over the download of ${path.basename(o.dest)}; its file was left to it`);
    fs.renameSync(part, o.dest);
    fs.rmSync(sidecarFile, { force: true });
    return o.dest;
  } catch (err) {
    // Never read on in the background.
    current.res?.destroy();
    if (err instanceof LostLockError) throw err;  // the part is someone else's now
    if (err instanceof RejectedFile) {
      fs.rmSync(part, { force: true });
      fs.rmSync(sidecarFile, { force: true });
    }
    // A part is kept only to be resumed, which takes its sidecar.
    const resumable = fs.existsSync(sidecarFile) && fs.existsSync(part);
    if (!resumable) fs.rmSync(part, { force: true });
    throw failure(err, o, resumable);
  }
}

/** What the user reads: what went wrong, then what running the download again will do. */
function failure(err: unknown, o: DownloadOptions, resumable: boolean): DownloadError {
  const again = resumable ? 'run the download again to resume' : 'run the download again to start over';
  if (o.signal?.aborted) return new DownloadCancelledError(`the download was cancelled${resumable ? '; run it again to resume' : ''}`);
  if (err instanceof DownloadError) return err;  // says all there is to say
  if (err instanceof ProgressCallbackError) return new DownloadError(`the progress callback failed: ${err.message}; ${again}`, { cause: err.cause });
  const code = (err as NodeJS.ErrnoException).code;
  const what = code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' ? 'the connection was closed before the end of the file' : (err as Error).message;
  return new DownloadError(`${what}; ${again}`, { cause: err });
}
