// An exclusive lock file shared by processes (two VS Code windows share the global storage folder
// where models are downloaded). It is created with the `wx` flag, so exactly one process creates
// it, and holds who holds it: pid, host, start time and a random token. While held, its mtime is
// touched (a heartbeat). A lock whose process is gone (checked on this host only), or whose
// heartbeat stopped long ago (a crashed holder whose pid is in use again, or another host), is
// stale and is taken over; a live one is refused. No `vscode` import.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';

export interface LockOwner {
  pid: number;
  host: string;
  startedAt: string;
  token: string;
}

/** How often a held lock's mtime is touched, and after how long without a touch it is stale. */
const HEARTBEAT_MS = 30_000;
const STALE_AFTER_MS = 10 * 60_000;
/** A takeover guard older than this was left by a process that died in the middle of a takeover. */
const GUARD_STALE_AFTER_MS = 10_000;

export class LockHeldError extends Error {
  constructor(readonly file: string, readonly owner: LockOwner | undefined) {
    super(`${file} is held by ${owner ? `pid ${owner.pid} on ${owner.host} since ${owner.startedAt}` : 'another process'}`);
  }
}

interface FoundLock {
  text: string;
  owner: LockOwner | undefined;  // undefined: being written this instant, or not a lock we wrote
  mtimeMs: number;
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

function readLock(file: string): FoundLock | undefined {
  try {
    const text = fs.readFileSync(file, 'utf8');
    const mtimeMs = fs.statSync(file).mtimeMs;
    let owner: LockOwner | undefined;
    try {
      const parsed = JSON.parse(text) as LockOwner;
      if (Number.isInteger(parsed.pid) && typeof parsed.host === 'string') owner = parsed;
    } catch {
      owner = undefined;
    }
    return { text, owner, mtimeMs };
  } catch (err) {
    if (errno(err) === 'ENOENT') return undefined;
    throw err;
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);  // signal 0: only checks that the process exists
    return true;
  } catch (err) {
    return errno(err) === 'EPERM';  // it exists but belongs to someone else
  }
}

function isStale(found: FoundLock): boolean {
  if (Date.now() - found.mtimeMs > STALE_AFTER_MS) return true;
  if (!found.owner) return false;
  return found.owner.host === os.hostname() && !processAlive(found.owner.pid);
}

/**
 * Removes the stale lock `staleText` was read from, unless another process got there first.
 * Two processes can judge the same lock stale at once; without the guard, the second could
 * delete the fresh lock the first has just created in its place.
 */
function removeStale(file: string, staleText: string): void {
  const guard = `${file}.takeover`;
  try {
    fs.writeFileSync(guard, String(process.pid), { flag: 'wx' });
  } catch (err) {
    if (errno(err) !== 'EEXIST') throw err;
    try {
      if (Date.now() - fs.statSync(guard).mtimeMs > GUARD_STALE_AFTER_MS) fs.rmSync(guard, { force: true });
    } catch {
      // Gone already: the other takeover finished.
    }
    return;
  }
  try {
    if (readLock(file)?.text === staleText) fs.rmSync(file, { force: true });
  } finally {
    fs.rmSync(guard, { force: true });
  }
}

export class FileLock {
  private readonly heartbeat: NodeJS.Timeout;

  private constructor(readonly file: string, private readonly text: string) {
    this.heartbeat = setInterval(() => {
      const now = new Date();
      fs.utimes(file, now, now, () => undefined);  // a lost lock is noticed by held()
    }, HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  /** Creates `file` exclusively, taking over a stale lock; throws LockHeldError for a live one. */
  static acquire(file: string): FileLock {
    const owner: LockOwner = { pid: process.pid, host: os.hostname(), startedAt: new Date().toISOString(), token: randomUUID() };
    const text = JSON.stringify(owner);
    let found: FoundLock | undefined;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        fs.writeFileSync(file, text, { flag: 'wx' });
        return new FileLock(file, text);
      } catch (err) {
        if (errno(err) !== 'EEXIST') throw err;
      }
      found = readLock(file);
      if (!found) continue;  // released in the meantime
      if (!isStale(found)) throw new LockHeldError(file, found.owner);
      removeStale(file, found.text);
    }
    // Still contended after a takeover: someone else won it.
    throw new LockHeldError(file, readLock(file)?.owner ?? found?.owner);
  }

  /** Whether the lock file is still this one (nobody judged it stale and took it over). */
  held(): boolean {
    return readLock(this.file)?.text === this.text;
  }

  /** Never throws: it runs in `finally` blocks, where it would hide the error that got there. */
  release(): void {
    clearInterval(this.heartbeat);
    try {
      if (this.held()) fs.rmSync(this.file, { force: true });
    } catch {
      // Unreadable now: left for a later download to judge stale.
    }
  }
}
