// Runs the engine child process for the extension host and keeps it running: it forks
// dist/engine.js, talks JSON-RPC over the child's stdio, restarts it after a crash (with
// backoff, reloading the model it had), gives up after 5 crashes in 3 minutes with a clear
// message, keeps the last 200 stderr lines for the log, fails pending requests instead of
// leaving them hanging, kills an engine that stops making progress, and shuts the child down.
// It does not import `vscode`, so it is tested in plain Node against the real engine.
//
// Progress, not time, decides a stall: while it works the engine sends a heartbeat every
// second carrying its native work counter (layers computed, tensors loaded), and every other
// message it sends (a reply, a streamed delta) counts as progress too. A long answer or a long
// prompt evaluation is never killed; an engine whose event loop is blocked (no heartbeat) or
// whose native work is stuck (the counter does not move) is, after the stall timeout.
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import {
  CancellationTokenSource, createMessageConnection, ErrorCodes, ResponseError, StreamMessageReader, StreamMessageWriter,
  type CancellationToken, type MessageConnection, type NotificationType, type RequestType, type RequestType0,
} from 'vscode-jsonrpc/node';
import {
  HeartbeatNotification, LoadModelRequest, MODEL_FILE_CHANGED_EXIT_CODE, ShutdownRequest, type LoadModelParams, type ModelInfo,
} from '../engine/protocol';

export type EngineState = 'stopped' | 'starting' | 'ready' | 'restarting' | 'failed';

export interface SupervisorOptions {
  enginePath: string;
  /** Where engine stderr and lifecycle events go (the LogOutputChannel). */
  log: (level: 'info' | 'warn' | 'error', message: string) => void;
  /**
   * A request during which the engine shows no progress for this long (no heartbeat whose
   * work counter moved, no reply, no other message) fails, and the engine is restarted.
   */
  stallTimeoutMs?: number;
  /** Loading a model may go this long without progress (default: the larger of 120 s and the stall timeout). */
  loadStallTimeoutMs?: number;
  maxCrashes?: number;
  crashWindowMs?: number;
  /** First restart delay; doubles per crash in the window, up to 8 s. */
  restartDelayMs?: number;
  env?: NodeJS.ProcessEnv;
  /** The program that runs the engine (default: this Node); a wrapper that ends by exec'ing Node works too. */
  execPath?: string;
}

export class EngineError extends Error {
  constructor(message: string, readonly kind: 'crashed' | 'stalled' | 'failed' | 'stopped') {
    super(message);
  }
}

interface Pending {
  reject: (e: Error) => void;
  /** The engine made progress: the request's stall timer starts again. */
  progressed: () => void;
}

const STDERR_LINES = 200;
/** How long a crash report waits for the rest of the engine's stderr after it exited. */
const STDERR_DRAIN_MS = 250;

/** Size, modification time and inode of a file ('' when it cannot be read): what changes when it is fixed. */
function fileStamp(file: string): string {
  try {
    const st = fs.statSync(file);
    return `${st.size}:${st.mtimeMs}:${st.ino}`;
  } catch {
    return '';
  }
}

export class EngineSupervisor {
  private child: ChildProcess | undefined;
  private connection: MessageConnection | undefined;
  private stateValue: EngineState = 'stopped';
  private readonly crashes: number[] = [];
  private readonly stderrLines: string[] = [];
  private readonly pending = new Set<Pending>();
  private readonly notificationHandlers: Array<{ type: NotificationType<unknown>; handler: (p: unknown) => void }> = [];
  private readonly stateListeners: Array<(state: EngineState, detail?: string) => void> = [];
  private modelParams: LoadModelParams | undefined;
  private modelReady: Promise<ModelInfo> | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  /** Settles when the backoff after a crash is over; requests wait for it instead of forking at once. */
  private restartDue: Promise<void> | undefined;
  private endBackoff: (() => void) | undefined;
  /** After a failed (re)load: the model file as it was then; a request retries once it has changed. */
  private failedLoadFile: string | undefined;
  private lastWork = -1;
  /** The connection until its stream closes (which can come before the child's exit event). */
  private openConnection: MessageConnection | undefined;
  private stalledChild: ChildProcess | undefined;
  private failure: string | undefined;
  private disposed = false;
  /** The engine that unload() is stopping: its exit is no crash. */
  private unloading: ChildProcess | undefined;
  /** The model was unloaded to free memory; the next request loads it again. */
  private unloadedModel = false;
  /** Calls of request() not yet settled (some still wait for a restart or the model). */
  private requestsInFlight = 0;

  constructor(private readonly options: SupervisorOptions) {}

  get state(): EngineState {
    return this.stateValue;
  }

  /** The last stderr lines of the engine (at most 200). */
  get stderr(): readonly string[] {
    return this.stderrLines;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  onStateChange(listener: (state: EngineState, detail?: string) => void): void {
    this.stateListeners.push(listener);
  }

  /** Sends a notification if the engine is running with a model; dropped otherwise (it is only a hint). */
  notify<P>(type: NotificationType<P>, params: P): void {
    if (!this.connection || !this.modelReady) return;
    // A write queued behind a stopped engine fails once it is killed: a hint lost, nothing more
    // (unhandled, the rejection would reach the extension host's handler).
    this.connection.sendNotification(type.method, params).catch(() => undefined);
  }

  onNotification<P>(type: NotificationType<P>, handler: (params: P) => void): void {
    const entry = { type: type as NotificationType<unknown>, handler: handler as (p: unknown) => void };
    this.notificationHandlers.push(entry);
    this.connection?.onNotification(type, this.progressing(entry.handler));
  }

  /**
   * Loads (or replaces) the model; after a crash the restarted engine loads it again by itself,
   * and after a failed load the next request tries again (the file may have been fixed).
   */
  loadModel(params: LoadModelParams): Promise<ModelInfo> {
    this.modelParams = params;
    return this.startLoad(params);
  }

  /** Whether the model was unloaded (unload()) and not asked for since. */
  get unloaded(): boolean {
    return this.unloadedModel;
  }

  /**
   * Stops the engine process to give its memory back (after a long idle time) and remembers the
   * model: the next request starts the engine and loads it again. Refused (false) while a
   * request is in flight or nothing is loaded.
   */
  async unload(): Promise<boolean> {
    const child = this.child;
    const connection = this.connection;
    if (!child || !connection || !this.modelParams || this.requestsInFlight > 0 || this.pending.size > 0 || this.disposed) return false;
    this.unloading = child;
    this.unloadedModel = true;
    this.modelReady = undefined;
    await this.stopChild(child, connection);
    // Forget it now rather than at its exit event (which waits for stderr to end): a request
    // that comes in meanwhile starts a new engine instead of writing to this one's closed pipe.
    if (this.child === child) {
      connection.dispose();
      this.child = undefined;
      this.connection = undefined;
      this.unloading = undefined;
      this.options.log('info', 'the engine stopped: the model was unloaded while idle');
      this.setState('stopped', 'unloaded while idle');
    }
    return true;
  }

  /** Sends a request once the engine (and the model, if one was asked for) is ready. */
  async request<P, R>(type: RequestType<P, R, void>, params: P, token?: CancellationToken): Promise<R> {
    this.requestsInFlight++;
    try {
      return await this.requestNow(type, params, token);
    } finally {
      this.requestsInFlight--;
    }
  }

  private async requestNow<P, R>(type: RequestType<P, R, void>, params: P, token?: CancellationToken): Promise<R> {
    await this.restartDue;
    if (this.unloadedModel && this.modelParams) {
      this.unloadedModel = false;
      this.options.log('info', `loading ${this.modelParams.modelPath} again (it was unloaded while idle)`);
      void this.startLoad(this.modelParams).catch(() => undefined);
    }
    if (this.modelParams && this.failedLoadFile !== undefined && fileStamp(this.modelParams.modelPath) !== this.failedLoadFile) {
      void this.startLoad(this.modelParams).catch(() => undefined);
    }
    if (this.modelReady) await this.modelReady;
    return this.send(type, params, token, this.stallMs);
  }

  async request0<R>(type: RequestType0<R, void>, token?: CancellationToken): Promise<R> {
    await this.restartDue;
    const connection = this.ensureRunning();
    return this.track(connection, (source) => connection.sendRequest(type, source.token), token, this.stallMs);
  }

  /** Kills the engine now (the crash path restarts it): for "Restart Engine" and for tests. */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.child?.kill(signal);
  }

  /** Clears a give-up and starts again now, without waiting for a backoff (the "Restart Engine" command). */
  restart(): void {
    this.failure = undefined;
    this.crashes.length = 0;
    if (this.child) {
      this.kill();
    } else {
      this.finishBackoff();
      this.ensureRunning();
    }
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    this.finishBackoff();
    const child = this.child;
    const connection = this.connection;
    if (!child || !connection) return;
    await this.stopChild(child, connection);
    this.setState('stopped');
  }

  /** Asks the engine to shut down, and kills it if it has not exited 2 s later. */
  private async stopChild(child: ChildProcess, connection: MessageConnection): Promise<void> {
    const exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
    try {
      await Promise.race([connection.sendRequest(ShutdownRequest), new Promise((r) => setTimeout(r, 1000))]);
    } catch {
      // It may already be gone.
    }
    const killer = setTimeout(() => child.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(killer);
  }

  // -------------------------------------------------------------------------------------------
  private get stallMs(): number {
    return this.options.stallTimeoutMs ?? 30_000;
  }

  private get loadStallMs(): number {
    return this.options.loadStallTimeoutMs ?? Math.max(this.stallMs, 120_000);
  }

  private startLoad(params: LoadModelParams): Promise<ModelInfo> {
    this.failedLoadFile = undefined;
    const ready = (async () => {
      await this.restartDue;
      return this.send(LoadModelRequest, params, undefined, this.loadStallMs);
    })();
    this.watchLoad(ready);
    return ready;
  }

  /** Remembers a failed load of the current model so that a request retries it once the file has changed. */
  private watchLoad(ready: Promise<ModelInfo>): void {
    this.modelReady = ready;
    const stamp = this.modelParams ? fileStamp(this.modelParams.modelPath) : '';
    ready.catch((err: unknown) => {
      if (this.modelReady !== ready || (err instanceof EngineError && err.kind === 'stopped')) return;
      this.failedLoadFile = stamp;
    });
  }

  /** Wraps a notification handler so that the message also counts as progress. */
  private progressing(handler: (p: unknown) => void): (p: unknown) => void {
    return (p) => {
      this.progressed();
      handler(p);
    };
  }

  private progressed(): void {
    for (const p of this.pending) p.progressed();
  }

  private finishBackoff(): void {
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    this.endBackoff?.();
    this.endBackoff = undefined;
    this.restartDue = undefined;
  }

  private send<P, R>(type: RequestType<P, R, void>, params: P, token: CancellationToken | undefined, stallMs: number): Promise<R> {
    let connection: MessageConnection;
    try {
      connection = this.ensureRunning();
    } catch (err) {
      return Promise.reject(err);
    }
    return this.track(connection, (source) => connection.sendRequest<R>(type.method, params, source.token), token, stallMs);
  }

  /** Runs a request with its own cancellation source, a stall timer and crash handling. */
  private track<R>(connection: MessageConnection, start: (source: CancellationTokenSource) => Promise<R>, token: CancellationToken | undefined,
    stallMs: number): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const source = new CancellationTokenSource();
      // A cancellation goes to the engine only while the connection the request went out on is
      // open (on a closed one vscode-jsonrpc throws from inside the cancel call, and logs it).
      const cancel = () => {
        if (this.openConnection === connection) source.cancel();
      };
      let timer: NodeJS.Timeout;
      const entry: Pending = {
        reject: (e) => finish(() => reject(e)),
        progressed: () => {
          clearTimeout(timer);
          timer = setTimeout(onStall, stallMs);
        },
      };
      const finish = (settle: () => void) => {
        if (!this.pending.delete(entry)) return;
        clearTimeout(timer);
        subscription?.dispose();
        settle();
      };
      const onStall = () => {
        finish(() => reject(new EngineError(`the engine made no progress for ${stallMs / 1000} s`, 'stalled')));
        cancel();
        // Requests that stall together (all waiting on one stuck engine) kill it once.
        if (this.child && this.stalledChild !== this.child) {
          this.options.log('error', `engine: no progress for ${stallMs / 1000} s; restarting it`);
          this.stalledChild = this.child;
          this.kill();
        }
      };
      const subscription = token?.onCancellationRequested(cancel);
      this.pending.add(entry);
      entry.progressed();
      let started: Promise<R>;
      try {
        started = start(source);
      } catch (e) {
        started = Promise.reject(e);  // a connection closed meanwhile throws from sendRequest itself
      }
      started.then((v) => finish(() => resolve(v)), (e) => finish(() => reject(this.answerError(connection, e))));
    });
  }

  /**
   * What a failed request tells the user. The engine's own errors pass through; a failure of
   * the pipe to it (the engine died while the request was being written, or closed its end)
   * means the engine is gone or unusable: it is killed if still running, and restarted.
   */
  private answerError(connection: MessageConnection, e: unknown): unknown {
    const transport = !(e instanceof ResponseError) || e.code === ErrorCodes.MessageWriteError ||
      e.code === ErrorCodes.MessageReadError || e.code === ErrorCodes.PendingResponseRejected || e.code === ErrorCodes.ConnectionInactive;
    if (!transport) return e;
    this.options.log('error', `engine connection failed: ${(e as Error).message}`);
    if (this.connection === connection && this.child) this.kill();
    return new EngineError('the engine stopped while answering; it is being restarted', 'crashed');
  }

  private ensureRunning(): MessageConnection {
    if (this.disposed) throw new EngineError('the engine has been shut down', 'stopped');
    if (this.failure) throw new EngineError(this.failure, 'failed');
    if (this.connection) return this.connection;
    this.setState(this.crashes.length ? 'restarting' : 'starting');
    const child = fork(this.options.enginePath, [], {
      stdio: ['pipe', 'pipe', 'pipe', 'ipc'], execArgv: [], env: this.options.env ?? process.env, execPath: this.options.execPath,
    });
    const connection = createMessageConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
    // vscode-jsonrpc gives a notification with its own handler only to that handler, so each
    // one is wrapped to count as progress; the catch-all sees the rest.
    for (const { type, handler } of this.notificationHandlers) connection.onNotification(type, this.progressing(handler));
    this.lastWork = -1;
    connection.onNotification(HeartbeatNotification, ({ work }) => {
      if (work === this.lastWork) return;  // alive but not advancing: the stall timers keep running
      this.lastWork = work;
      this.progressed();
    });
    connection.onNotification(() => this.progressed());
    let partial = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        this.stderrLines.push(line);
        this.options.log('info', `engine: ${line}`);
      }
      if (this.stderrLines.length > STDERR_LINES) this.stderrLines.splice(0, this.stderrLines.length - STDERR_LINES);
    });
    child.on('error', (err) => this.options.log('error', `engine: ${err.message}`));
    // The crash report quotes the engine's last stderr lines, which may still be in the pipe when
    // 'exit' fires: wait for stderr to end, but not for long (a grandchild could hold it open).
    const stderrEnded = new Promise<void>((resolve) => child.stderr!.once('close', () => resolve()));
    child.on('exit', (code, signal) => {
      const late = new Promise<void>((resolve) => setTimeout(resolve, STDERR_DRAIN_MS).unref());
      void Promise.race([stderrEnded, late]).then(() => this.onExit(child, code, signal));
    });
    // The stdin pipe errors (EPIPE) when the child dies mid-write; the exit handler deals with it.
    child.stdin!.on('error', () => {});
    connection.onError(([err]) => this.options.log('warn', `engine connection: ${err.message}`));
    connection.onClose(() => {
      if (this.openConnection === connection) this.openConnection = undefined;
    });
    connection.listen();
    this.openConnection = connection;
    this.child = child;
    this.connection = connection;
    this.setState('ready');
    if (this.crashes.length && this.modelParams) {
      // Reload what the crashed engine had, so the next request finds its model.
      const params = this.modelParams;
      const ready = this.track(connection, (s) => connection.sendRequest(LoadModelRequest, params, s.token), undefined, this.loadStallMs);
      this.watchLoad(ready);
      ready.catch((err) => this.options.log('error', `engine: reloading the model failed: ${(err as Error).message}`));
    }
    return connection;
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (child !== this.child) return;
    this.connection?.dispose();
    this.child = undefined;
    this.connection = undefined;
    if (this.disposed) return;
    if (child === this.unloading) {
      this.unloading = undefined;
      this.options.log('info', 'the engine stopped: the model was unloaded while idle');
      this.setState('stopped', 'unloaded while idle');
      return;
    }
    const how = code === MODEL_FILE_CHANGED_EXIT_CODE
      ? `stopped because the model file ${this.modelParams?.modelPath ?? ''} changed on disk while in use`
      : signal ? `was killed (${signal})` : `exited with code ${code}`;
    const lastLines = this.stderrLines.slice(-5).join('\n');
    const message = `the engine ${how}${lastLines ? `; its last output:\n${lastLines}` : ''}`;
    this.options.log('error', message);
    for (const p of [...this.pending]) p.reject(new EngineError(`the engine ${how} while answering; it is being restarted`, 'crashed'));
    const now = Date.now();
    const window = this.options.crashWindowMs ?? 180_000;
    this.crashes.push(now);
    while (this.crashes.length && now - this.crashes[0] > window) this.crashes.shift();
    const max = this.options.maxCrashes ?? 5;
    if (this.crashes.length >= max) {
      this.failure = `the engine stopped ${this.crashes.length} times in ${Math.round(window / 60_000)} minutes, so it is not restarted ` +
        `(last: it ${how}). See "SmallThinker: Show Logs", then run "SmallThinker: Restart Engine".`;
      this.modelReady = undefined;
      this.setState('failed', this.failure);
      return;
    }
    const delay = Math.min(8000, (this.options.restartDelayMs ?? 250) * 2 ** (this.crashes.length - 1));
    this.setState('restarting', `restarting in ${delay} ms`);
    // Requests that arrive meanwhile wait for the timer: a crash loop restarts the engine at
    // the backoff's pace, not on every keystroke.
    this.restartDue = new Promise<void>((resolve) => (this.endBackoff = resolve));
    this.restartTimer = setTimeout(() => {
      this.finishBackoff();
      try {
        this.ensureRunning();
      } catch (err) {
        this.options.log('error', (err as Error).message);
      }
    }, delay);
  }

  private setState(state: EngineState, detail?: string): void {
    this.stateValue = state;
    for (const l of this.stateListeners) l(state, detail);
  }
}
