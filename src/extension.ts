// The extension host side: activation wires the commands and views. It never loads the
// native addon: inference runs in the engine child process (SPEC §1), which the supervisor
// starts on first use, restarts after a crash and stops on deactivation.
import path from 'node:path';
import * as vscode from 'vscode';
import { EngineSupervisor } from './engine-supervisor';

let engine: EngineSupervisor | undefined;

export function activate(context: vscode.ExtensionContext): void {
  const channel = vscode.window.createOutputChannel('SmallThinker', { log: true });
  context.subscriptions.push(channel);
  // The bundle lives in dist/, next to dist/engine.js.
  engine = new EngineSupervisor({ enginePath: path.join(__dirname, 'engine.js'), log: (level, message) => channel[level](message) });
  engine.onStateChange((state, detail) => channel.info(`engine ${state}${detail ? `: ${detail}` : ''}`));
  context.subscriptions.push(
    vscode.commands.registerCommand('smallthinker.showLogs', () => channel.show()),
    vscode.commands.registerCommand('smallthinker.restartEngine', () => {
      channel.info('restarting the engine on request');
      engine?.restart();
    }),
  );
  channel.info(`SmallThinker ${context.extension.packageJSON.version as string} activated`);
}

export async function deactivate(): Promise<void> {
  const running = engine;
  engine = undefined;
  await running?.dispose();
}
