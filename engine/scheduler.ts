// Runs the engine's native work one job at a time (all slots share one thread pool), with a
// bounded queue, cancellation of queued and running jobs, and completions that replace older
// ones for the same document (typing makes each earlier request stale).
import { ResponseError, type CancellationToken } from 'vscode-jsonrpc';
import { EngineErrorCodes } from './protocol';

export interface JobSpec<T> {
  /** Completions for one document replace each other; warm-ups give way to everything. */
  kind: 'completion' | 'chat' | 'warm';
  documentId?: string;
  /** Starts the work; `running.cancel` is wired before it is called. */
  run: (running: RunningJob) => Promise<T>;
  token?: CancellationToken;
}

/** What a running job exposes so that it can be stopped. */
export interface RunningJob {
  /** Set by the job: stops its native work (slot.cancel()). */
  onCancel?: () => void;
  readonly cancelled: boolean;
}

interface Entry {
  spec: JobSpec<unknown>;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  running?: RunningJob & { cancelled: boolean };
  settled: boolean;
}

export const cancelledError = () => new ResponseError(EngineErrorCodes.RequestCancelled, 'request cancelled');

export class Scheduler {
  private readonly queue: Entry[] = [];
  private current: Entry | undefined;
  private counts = { completed: 0, cancelled: 0, failed: 0 };

  constructor(readonly limit = 32) {}

  get stats() {
    return { running: this.current ? 1 : 0, queued: this.queue.length, limit: this.limit, ...this.counts };
  }

  get idle(): boolean {
    return !this.current && this.queue.length === 0;
  }

  submit<T>(spec: JobSpec<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry: Entry = { spec: spec as JobSpec<unknown>, resolve: resolve as (v: unknown) => void, reject, settled: false };
      if (spec.token?.isCancellationRequested) return this.finishCancelled(entry);
      // Newer work replaces warm-ups, and a newer completion replaces older ones for its document.
      for (const other of [...this.queue, ...(this.current ? [this.current] : [])]) {
        const o = other.spec;
        const replaced = o.kind === 'warm' ||
          (spec.kind === 'completion' && o.kind === 'completion' && o.documentId === spec.documentId);
        if (replaced) this.cancel(other, o.kind === 'warm' ? undefined : EngineErrorCodes.Superseded);
      }
      if (this.queue.length >= this.limit) {
        reject(new ResponseError(EngineErrorCodes.QueueFull, `the engine has ${this.limit} requests waiting; try again`));
        return;
      }
      spec.token?.onCancellationRequested(() => this.cancel(entry));
      this.queue.push(entry);
      this.pump();
    });
  }

  private cancel(entry: Entry, code?: number): void {
    if (entry.settled) return;
    if (entry.running) {
      // Running: stop the native work; the job settles (cancelled) within a token step.
      entry.running.cancelled = true;
      entry.running.onCancel?.();
      return;
    }
    const i = this.queue.indexOf(entry);
    if (i >= 0) this.queue.splice(i, 1);
    if (code === EngineErrorCodes.Superseded) {
      entry.settled = true;
      this.counts.cancelled++;
      entry.reject(new ResponseError(code, 'replaced by a newer completion for the same document'));
    } else {
      this.finishCancelled(entry);
    }
  }

  private finishCancelled(entry: Entry): void {
    entry.settled = true;
    this.counts.cancelled++;
    // A warm-up has nobody waiting for an error.
    if (entry.spec.kind === 'warm') entry.resolve(undefined);
    else entry.reject(cancelledError());
  }

  private pump(): void {
    if (this.current || this.queue.length === 0) return;
    const entry = this.queue.shift()!;
    const running = { cancelled: false } as RunningJob & { cancelled: boolean };
    entry.running = running;
    this.current = entry;
    const done = () => {
      this.current = undefined;
      // Let the promise's callbacks run first, then start the next job.
      setImmediate(() => this.pump());
    };
    let promise: Promise<unknown>;
    try {
      promise = entry.spec.run(running);
    } catch (err) {
      promise = Promise.reject(err);
    }
    promise.then(
      (value) => {
        if (running.cancelled) {
          this.finishCancelled(entry);
        } else {
          entry.settled = true;
          this.counts.completed++;
          entry.resolve(value);
        }
        done();
      },
      (err) => {
        entry.settled = true;
        this.counts.failed++;
        entry.reject(err);
        done();
      },
    );
  }
}
