// The extension host side: activation puts the parts together, each registered by the module that
// owns its job. It never loads the native addon: inference runs in the engine child process
// (README, "Where things live"), which the supervisor starts on first use, restarts after a crash
// and stops on deactivation.
import path from 'node:path';
import * as vscode from 'vscode';
import { createChatEngine } from './chat-engine';
import { registerChat } from './chat/register';
import { completionSettings, registerCompletions } from './completion/register';
import { registerDownloadCommand } from './download/command';
import { registerEdits } from './edits/register';
import { Model } from './model';

let model: Model | undefined;

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('SmallThinker', { log: true });
  // The bundle lives in dist/, next to dist/engine.js.
  const loaded = new Model(log, path.join(__dirname, 'engine.js'), () => completionSettings().enabled);
  model = loaded;
  const engine = createChatEngine(loaded, log);
  const edits = registerEdits(engine, log, () => loaded.name !== undefined);
  context.subscriptions.push(
    log,
    loaded,
    ...loaded.commands(),
    registerDownloadCommand(context, log),
    ...registerCompletions(loaded, log),
    ...edits.disposables,
    ...registerChat(context, loaded, engine, edits, log),
  );
  void loaded.load();
  log.info(`SmallThinker ${context.extension.packageJSON.version as string} activated`);
}

export async function deactivate(): Promise<void> {
  const running = model;
  model = undefined;
  await running?.supervisor.dispose();
}
