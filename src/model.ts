// The model's lifecycle on the extension side: the engine process (through the supervisor), the
// model it holds (loaded from the settings, again when they change, unloaded when idle), the status
// bar that says so, and the commands that manage them. Every feature sends its engine requests
// through `request`, which keeps the idle clock and says when the model has to load again.
import path from 'node:path';
import * as vscode from 'vscode';
import { StatsRequest, type ModelInfo } from '../engine/protocol';
import { EngineSupervisor } from './engine-supervisor';
import { IdleUnload } from './idle-unload';
import { setting } from './settings';
import { StatusBar, type StatusState } from './status';

export type Log = vscode.LogOutputChannel;

/** The settings whose change loads the model again. */
const MODEL_SETTINGS = ['engine', 'modelPath', 'threads', 'contextLength', 'memoryBudgetMiB'] as const;

/** Whether the built-in engine answers (smallthinker.engine); with a remote server this model stays unloaded. */
const localChosen = () => setting('engine') !== 'remote';

export class Model implements vscode.Disposable {
  readonly supervisor: EngineSupervisor;
  readonly status: StatusBar;
  private info: ModelInfo | undefined;
  private readonly idle: IdleUnload;
  private readonly loadedListeners: Array<() => void> = [];
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly log: Log, enginePath: string, private readonly completionsEnabled: () => boolean) {
    // The stall timeout counts time without progress (the engine's heartbeat shows its native
    // work advancing every second), so a long prompt or answer never reaches it; 30 s of none is
    // an engine that hangs.
    this.supervisor = new EngineSupervisor({ enginePath, log: (level, message) => log[level](message), stallTimeoutMs: 30_000 });
    this.status = new StatusBar('smallthinker.statusMenu');
    // After smallthinker.idleUnloadMinutes without a request the engine process ends and its
    // memory goes back to the system; the next completion or chat loads the model again.
    this.idle = new IdleUnload({
      minutes: () => setting('idleUnloadMinutes'),
      unload: () => this.supervisor.unload(),
      onUnloaded: (minutes) => {
        log.info(`model unloaded after ${minutes} minutes without a request; the next one loads it again`);
        if (this.info) this.status.set({ kind: 'unloaded', model: this.info.name, minutes });
        this.status.memory(0);
      },
    });
    this.supervisor.onStateChange((state, detail) => {
      log.info(`engine ${state}${detail ? `: ${detail}` : ''}`);
      if (state === 'failed' && localChosen()) this.status.set({ kind: 'error', message: detail ?? 'the engine stopped' });
    });
    this.disposables.push(this.status, { dispose: () => this.idle.stop() }, vscode.workspace.onDidChangeConfiguration((e) => {
      if (MODEL_SETTINGS.some((k) => e.affectsConfiguration(`smallthinker.${k}`))) void this.load();
      else if (e.affectsConfiguration('smallthinker.idleUnloadMinutes') && this.info && !this.supervisor.unloaded) this.idle.start();
      else if (e.affectsConfiguration('smallthinker.inlineCompletion.enabled') && localChosen() && this.status.current.kind !== 'error') this.status.set(this.readyStatus());
    }));
  }

  /** The loaded model's name, if one is loaded (or unloaded while idle, to be loaded on the next request). */
  get name(): string | undefined {
    return this.info?.name;
  }

  /** The chat context of the loaded model, in tokens (0 when none is loaded). */
  get chatContext(): number {
    return this.info?.chatContext ?? 0;
  }

  /** Called after every load, successful or not. */
  onLoaded(listener: () => void): void {
    this.loadedListeners.push(listener);
  }

  readyStatus(): StatusState {
    if (!this.info) return { kind: 'no-model' };
    return this.completionsEnabled() ? { kind: 'ready', model: this.info.name } : { kind: 'disabled' };
  }

  /** Loads the model the settings name (none: the status bar and the chat say how to choose one). */
  async load(): Promise<void> {
    const modelPath = setting('modelPath');
    this.info = undefined;
    this.idle.stop();
    this.notifyLoaded();
    if (!localChosen()) {
      // A remote server answers: the engine process gives its memory back (it starts again if the built-in engine is chosen).
      if (await this.supervisor.unload()) this.log.info('the built-in engine stopped: a remote server answers (smallthinker.engine)');
      return;
    }
    if (!modelPath) {
      this.status.set({ kind: 'no-model' });
      return;
    }
    this.status.set({ kind: 'loading', detail: `loading ${path.basename(modelPath)}` });
    try {
      const info = await this.supervisor.loadModel({
        modelPath, threads: setting('threads'), contextLength: setting('contextLength') || undefined, memoryBudgetMiB: setting('memoryBudgetMiB'),
      });
      this.log.info(`model ready: ${info.name} (${info.isa}, ${info.threads} threads, chat template: ${info.chatTemplate}, ` +
        `completion formats: ${info.completionFormats.join(', ')})`);
      if (info.fim) this.log.info(`fill-in-the-middle tokens ${info.fim.verdict}: ${info.fim.reason}; the auto prompt format is ${info.fim.autoFormat}`);
      if (info.memory.budgetPlan) this.log.info(info.memory.budgetPlan);
      this.info = info;
      this.notifyLoaded();
      this.status.set(this.readyStatus());
      this.idle.start();
      this.status.memory((await this.supervisor.request0(StatsRequest)).memory.rssBytes);
    } catch (err) {
      const message = (err as Error).message;
      this.log.error(`loading ${modelPath} failed: ${message}`);
      this.status.set({ kind: 'error', message });
      void vscode.window.showErrorMessage(`SmallThinker could not load the model: ${message}`, 'Select Model File…', 'Show Logs').then((pick) => {
        if (pick === 'Show Logs') this.log.show();
        else if (pick) void vscode.commands.executeCommand('smallthinker.selectModel');
      });
    }
  }

  /** Runs one engine request under the idle clock, saying in the status bar when the model has to load again. */
  async request<R>(run: () => Promise<R>): Promise<R> {
    const end = this.idle.begin();
    const reloading = this.supervisor.unloaded && this.info !== undefined;
    if (reloading) this.status.set({ kind: 'loading', detail: `loading ${this.info!.name} again` });
    try {
      return await run();
    } finally {
      end();
      if (reloading && this.status.current.kind === 'loading') this.status.set(this.readyStatus());
    }
  }

  /** The engine's resident memory into the status bar, after a request. */
  refreshMemory(): void {
    this.supervisor.request0(StatsRequest).then((s) => this.status.memory(s.memory.rssBytes), () => undefined);
  }

  /** Shows that a request is generating, until `done` is called. */
  generating(): () => void {
    if (this.info) this.status.set({ kind: 'generating', model: this.info.name });
    return () => {
      if (this.status.current.kind === 'generating') this.status.set(this.info ? { kind: 'ready', model: this.info.name } : { kind: 'no-model' });
    };
  }

  /** `reconnectRemote`: what Restart Engine does while a remote server answers (the engine process stays stopped). */
  commands(reconnectRemote: () => void): vscode.Disposable[] {
    return [
      vscode.commands.registerCommand('smallthinker.showLogs', () => this.log.show()),
      vscode.commands.registerCommand('smallthinker.restartEngine', () => {
        if (!localChosen()) {
          this.log.info('restart requested while a remote server answers: connecting to it again');
          reconnectRemote();
          return;
        }
        this.log.info('restarting the engine on request');
        this.supervisor.restart();
        void this.load();
      }),
      vscode.commands.registerCommand('smallthinker.selectModel', async () => {
        const picked = await vscode.window.showOpenDialog({
          canSelectMany: false, openLabel: 'Use This Model', filters: { 'GGUF model': ['gguf'] }, title: 'Select a SmallThinker GGUF file',
        });
        if (picked?.[0]) await vscode.workspace.getConfiguration('smallthinker').update('modelPath', picked[0].fsPath, vscode.ConfigurationTarget.Global);
      }),
      vscode.commands.registerCommand('smallthinker.statusMenu', async () => {
        const enabled = this.completionsEnabled();
        const items = [
          { label: '$(comment-discussion) Open Chat', command: 'smallthinker.openChat' },
          { label: enabled ? '$(debug-pause) Turn Inline Completions Off' : '$(play) Turn Inline Completions On', command: 'smallthinker.toggleInlineCompletions' },
          { label: '$(file) Select Model File…', command: 'smallthinker.selectModel' },
          { label: '$(cloud-download) Download Model…', command: 'smallthinker.downloadModel' },
          { label: localChosen() ? '$(cloud) Use a Remote Server…' : '$(device-desktop) Choose Engine…', command: 'smallthinker.chooseEngine' },
          { label: '$(output) Show Logs', command: 'smallthinker.showLogs' },
          { label: '$(debug-restart) Restart Engine', command: 'smallthinker.restartEngine' },
        ];
        const pick = await vscode.window.showQuickPick(items, { title: 'SmallThinker' });
        if (pick) await vscode.commands.executeCommand(pick.command);
      }),
    ];
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }

  private notifyLoaded(): void {
    for (const l of this.loadedListeners) l();
  }
}
