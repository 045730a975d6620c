// The extension host side: activation wires the commands, the inline-completion provider and
// the status bar. It never loads the native addon: inference runs in the engine child process
// (SPEC §1), which the supervisor starts on first use, restarts after a crash and stops on
// deactivation.
import path from 'node:path';
import * as vscode from 'vscode';
import { CompletionRequest, StatsRequest } from '../engine/protocol';
import { CompletionPipeline, type CompletionSettings } from './completion/pipeline';
import { InlineProvider } from './completion/provider';
import { EngineSupervisor } from './engine-supervisor';
import { StatusBar } from './status';

let engine: EngineSupervisor | undefined;

function completionSettings(): CompletionSettings {
  const c = vscode.workspace.getConfiguration('smallthinker.inlineCompletion');
  return {
    enabled: c.get<boolean>('enabled', true),
    debounceMs: c.get<number>('debounceMs', 150),
    maxTokens: c.get<number>('maxTokens', 64),
    languages: c.get<Record<string, boolean>>('languages', { '*': true }),
  };
}

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('SmallThinker', { log: true });
  context.subscriptions.push(log);
  // The bundle lives in dist/, next to dist/engine.js.
  const supervisor = new EngineSupervisor({ enginePath: path.join(__dirname, 'engine.js'), log: (level, message) => log[level](message) });
  engine = supervisor;
  const status = new StatusBar('smallthinker.statusMenu');
  context.subscriptions.push(status);
  let readyModel: string | undefined;  // the loaded model's name

  const loadModel = async () => {
    const config = vscode.workspace.getConfiguration('smallthinker');
    const modelPath = config.get<string>('modelPath', '');
    readyModel = undefined;
    if (!modelPath) {
      status.set({ kind: 'no-model' });
      return;
    }
    status.set({ kind: 'loading', detail: `loading ${path.basename(modelPath)}` });
    try {
      const info = await supervisor.loadModel({
        modelPath, threads: config.get<number>('threads', 0), contextLength: config.get<number>('contextLength', 8192) || undefined,
      });
      log.info(`model ready: ${info.name} (${info.isa}, ${info.threads} threads, chat template: ${info.chatTemplate}, completions: ${info.completionFormat})`);
      readyModel = info.name;
      status.set(completionSettings().enabled ? { kind: 'ready', model: info.name } : { kind: 'disabled' });
      status.memory((await supervisor.request0(StatsRequest)).memory.rssBytes);
    } catch (err) {
      const message = (err as Error).message;
      log.error(`loading ${modelPath} failed: ${message}`);
      status.set({ kind: 'error', message });
      void vscode.window.showErrorMessage(`SmallThinker could not load the model: ${message}`, 'Select Model File…', 'Show Logs').then((pick) => {
        if (pick === 'Show Logs') log.show();
        else if (pick) void vscode.commands.executeCommand('smallthinker.selectModel');
      });
    }
  };

  supervisor.onStateChange((state, detail) => {
    log.info(`engine ${state}${detail ? `: ${detail}` : ''}`);
    if (state === 'failed') status.set({ kind: 'error', message: detail ?? 'the engine stopped' });
  });

  const pipeline = new CompletionPipeline(completionSettings,
    (params, token) => supervisor.request(CompletionRequest, params, token as never), (m) => log.debug(m));
  const provider = new InlineProvider(pipeline, log, (tps) => {
    status.speed(tps);
    supervisor.request0(StatsRequest).then((s) => status.memory(s.memory.rssBytes), () => undefined);
  });

  context.subscriptions.push(
    vscode.languages.registerInlineCompletionItemProvider({ pattern: '**' }, provider),
    vscode.commands.registerCommand('smallthinker.showLogs', () => log.show()),
    vscode.commands.registerCommand('smallthinker.restartEngine', () => {
      log.info('restarting the engine on request');
      supervisor.restart();
      void loadModel();
    }),
    vscode.commands.registerCommand('smallthinker.toggleInlineCompletions', async () => {
      const c = vscode.workspace.getConfiguration('smallthinker.inlineCompletion');
      await c.update('enabled', !c.get<boolean>('enabled', true), vscode.ConfigurationTarget.Global);
    }),
    vscode.commands.registerCommand('smallthinker.selectModel', async () => {
      const picked = await vscode.window.showOpenDialog({
        canSelectMany: false, openLabel: 'Use This Model', filters: { 'GGUF model': ['gguf'] }, title: 'Select a SmallThinker GGUF file',
      });
      if (picked?.[0]) await vscode.workspace.getConfiguration('smallthinker').update('modelPath', picked[0].fsPath, vscode.ConfigurationTarget.Global);
    }),
    vscode.commands.registerCommand('smallthinker.statusMenu', async () => {
      const enabled = completionSettings().enabled;
      const items = [
        { label: enabled ? '$(debug-pause) Turn Inline Completions Off' : '$(play) Turn Inline Completions On', command: 'smallthinker.toggleInlineCompletions' },
        { label: '$(file) Select Model File…', command: 'smallthinker.selectModel' },
        { label: '$(output) Show Logs', command: 'smallthinker.showLogs' },
        { label: '$(debug-restart) Restart Engine', command: 'smallthinker.restartEngine' },
      ];
      const pick = await vscode.window.showQuickPick(items, { title: 'SmallThinker' });
      if (pick) await vscode.commands.executeCommand(pick.command);
    }),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (['modelPath', 'threads', 'contextLength'].some((k) => e.affectsConfiguration(`smallthinker.${k}`))) void loadModel();
      else if (e.affectsConfiguration('smallthinker.inlineCompletion.enabled') && status.current.kind !== 'error') {
        if (!completionSettings().enabled) status.set({ kind: 'disabled' });
        else status.set(readyModel ? { kind: 'ready', model: readyModel } : { kind: 'no-model' });
      }
    }),
  );
  void loadModel();
  log.info(`SmallThinker ${context.extension.packageJSON.version as string} activated`);
}

export async function deactivate(): Promise<void> {
  const running = engine;
  engine = undefined;
  await running?.dispose();
}
