// Runs the engine child process for the extension host and keeps it running: it forks
// dist/engine.js, talks JSON-RPC over the child's stdio, restarts it after a crash (with
// backoff, reloading the model it had), gives up after 5 crashes in 3 minutes with a clear
// message, keeps the last 200 stderr lines for the log, fails pending requests instead of
// leaving them hanging, applies a stall timeout to every request, and shuts the child down.
// It does not import `vscode`, so it is tested in plain Node against the real engine.
import { fork, type ChildProcess } from 'node:child_process';
import {
  CancellationTokenSource, createMessageConnection, StreamMessageReader, StreamMessageWriter,
  type CancellationToken, type MessageConnection, type NotificationType, type RequestType, type RequestType0,
} from 'vscode-jsonrpc/node';
import { LoadModelRequest, ShutdownRequest, type LoadModelParams, type ModelInfo } from '../engine/protocol';

export type EngineState = 'stopped' | 'starting' | 'ready' | 'restarting' | 'failed';

export interface SupervisorOptions {
  enginePath: string;
  /** Where engine stderr and lifecycle events go (the LogOutputChannel). */
  log: (level: 'info' | 'warn' | 'error', message: string) => void;
  /** A request that sees no reply and no engine message for this long fails (and the engine is restarted). */
  stallTimeoutMs?: number;
  maxCrashes?: number;
  crashWindowMs?: number;
  /** First restart delay; doubles per crash in the window, up to 8 s. */
  restartDelayMs?: number;
  env?: NodeJS.ProcessEnv;
}

export class EngineError extends Error {
  constructor(message: string, readonly kind: 'crashed' | 'stalled' | 'failed' | 'stopped') {
    super(message);
  }
}

interface Pending {
  reject: (e: Error) => void;
  stall: () => void;
}

const STDERR_LINES = 200;

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
  private failure: string | undefined;
  private disposed = false;

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
    void this.connection.sendNotification(type.method, params);
  }

  onNotification<P>(type: NotificationType<P>, handler: (params: P) => void): void {
    this.notificationHandlers.push({ type: type as NotificationType<unknown>, handler: handler as (p: unknown) => void });
    this.connection?.onNotification(type, handler);
  }

  /** Loads (or replaces) the model; after a crash the restarted engine loads it again by itself. */
  loadModel(params: LoadModelParams): Promise<ModelInfo> {
    this.modelParams = params;
    this.modelReady = this.send(LoadModelRequest, params, undefined, Math.max(this.stallMs, 120_000));
    return this.modelReady;
  }

  /** Sends a request once the engine (and the model, if one was asked for) is ready. */
  async request<P, R>(type: RequestType<P, R, void>, params: P, token?: CancellationToken): Promise<R> {
    if (this.modelReady && type.method !== LoadModelRequest.method) await this.modelReady;
    return this.send(type, params, token, this.stallMs);
  }

  async request0<R>(type: RequestType0<R, void>, token?: CancellationToken): Promise<R> {
    const connection = this.ensureRunning();
    return this.track((source) => connection.sendRequest(type, source.token), token, this.stallMs);
  }

  /** Kills the engine now (the crash path restarts it): for "Restart Engine" and for tests. */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.child?.kill(signal);
  }

  /** Clears a give-up and starts again (the "Restart Engine" command). */
  restart(): void {
    this.failure = undefined;
    this.crashes.length = 0;
    if (this.child) this.kill();
    else this.ensureRunning();
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    clearTimeout(this.restartTimer);
    const child = this.child;
    const connection = this.connection;
    if (!child || !connection) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      await Promise.race([connection.sendRequest(ShutdownRequest), new Promise((r) => setTimeout(r, 1000))]);
    } catch {
      // It may already be gone.
    }
    const killer = setTimeout(() => child.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(killer);
    this.setState('stopped');
  }

  // -------------------------------------------------------------------------------------------
  private get stallMs(): number {
    return this.options.stallTimeoutMs ?? 30_000;
  }

  private send<P, R>(type: RequestType<P, R, void>, params: P, token: CancellationToken | undefined, stallMs: number): Promise<R> {
    let connection: MessageConnection;
    try {
      connection = this.ensureRunning();
    } catch (err) {
      return Promise.reject(err);
    }
    return this.track((source) => connection.sendRequest<R>(type.method, params, source.token), token, stallMs);
  }

  /** Runs a request with its own cancellation source, a stall timer and crash handling. */
  private track<R>(start: (source: CancellationTokenSource) => Promise<R>, token: CancellationToken | undefined, stallMs: number): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const source = new CancellationTokenSource();
      let timer: NodeJS.Timeout;
      const entry: Pending = {
        reject: (e) => finish(() => reject(e)),
        stall: () => {
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
        this.options.log('error', `engine: no answer for ${stallMs / 1000} s; restarting it`);
        finish(() => reject(new EngineError(`the engine did not answer within ${stallMs / 1000} s`, 'stalled')));
        source.cancel();
        this.kill();
      };
      const subscription = token?.onCancellationRequested(() => source.cancel());
      this.pending.add(entry);
      entry.stall();
      start(source).then((v) => finish(() => resolve(v)), (e) => finish(() => reject(e)));
    });
  }

  private ensureRunning(): MessageConnection {
    if (this.disposed) throw new EngineError('the engine has been shut down', 'stopped');
    if (this.failure) throw new EngineError(this.failure, 'failed');
    if (this.connection) return this.connection;
    this.setState(this.crashes.length ? 'restarting' : 'starting');
    const child = fork(this.options.enginePath, [], {
      stdio: ['pipe', 'pipe', 'pipe', 'ipc'], execArgv: [], env: this.options.env ?? process.env,
    });
    const connection = createMessageConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
    for (const { type, handler } of this.notificationHandlers) connection.onNotification(type, handler);
    // Any message from the engine shows it is alive: it resets every request's stall timer.
    connection.onNotification(() => {
      for (const p of this.pending) p.stall();
    });
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
    child.on('exit', (code, signal) => this.onExit(child, code, signal));
    // The stdin pipe errors (EPIPE) when the child dies mid-write; the exit handler deals with it.
    child.stdin!.on('error', () => {});
    connection.onError(([err]) => this.options.log('warn', `engine connection: ${err.message}`));
    connection.listen();
    this.child = child;
    this.connection = connection;
    this.setState('ready');
    if (this.crashes.length && this.modelParams) {
      // Reload what the crashed engine had, so the next request finds its model.
      const params = this.modelParams;
      this.modelReady = this.track((s) => connection.sendRequest(LoadModelRequest, params, s.token), undefined, Math.max(this.stallMs, 120_000));
      this.modelReady.catch((err) => this.options.log('error', `engine: reloading the model failed: ${(err as Error).message}`));
    }
    return connection;
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (child !== this.child) return;
    this.connection?.dispose();
    this.child = undefined;
    this.connection = undefined;
    if (this.disposed) return;
    const how = signal ? `was killed (${signal})` : `exited with code ${code}`;
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
    this.restartTimer = setTimeout(() => {
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
