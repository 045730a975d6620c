// The extension host side: activation puts the parts together, each registered by the module that
// owns its job. It never loads the native addon: inference runs in the engine child process
// (README, "Where things live"), which the supervisor starts on first use, restarts after a crash
// and stops on deactivation, or on a remote server (smallthinker.engine): the features ask
// through one interface and do not know which.
import path from 'node:path';
import * as vscode from 'vscode';
import { registerChat } from './chat/register';
import { completionSettings, registerCompletions } from './completion/register';
import { registerDownloadCommand } from './download/command';
import { registerEdits } from './edits/register';
import { EngineChoice } from './inference';
import { LocalEngine } from './local-engine';
import { Model } from './model';
import { registerRemote } from './remote/register';
import { setting } from './settings';

let model: Model | undefined;

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('SmallThinker', { log: true });
  // The bundle lives in dist/, next to dist/engine.js.
  const loaded = new Model(log, path.join(__dirname, 'engine.js'), () => completionSettings().enabled);
  model = loaded;
  const remote = registerRemote(context, loaded.status, log, () => engine.changed());
  const engine = new EngineChoice(() => (setting('engine') === 'remote' ? 'remote' : 'local'), { local: new LocalEngine(loaded, log), remote: remote.engine });
  loaded.onLoaded(() => engine.changed());
  const edits = registerEdits(engine, log, () => engine.modelName !== undefined);
  context.subscriptions.push(
    log,
    loaded,
    ...loaded.commands(() => remote.start()),
    ...remote.disposables,
    registerDownloadCommand(context, log),
    ...registerCompletions(engine, log),
    ...edits.disposables,
    ...registerChat(context, engine, edits, log),
  );
  remote.start();
  void loaded.load();
  log.info(`SmallThinker ${context.extension.packageJSON.version as string} activated`);
}

export async function deactivate(): Promise<void> {
  const running = model;
  model = undefined;
  await running?.supervisor.dispose();
}
