// The extension host side: activation wires the commands and views. It never loads the
// native addon: inference runs in the engine child process (SPEC §1).
import * as vscode from 'vscode';

let log: vscode.LogOutputChannel | undefined;

export function activate(context: vscode.ExtensionContext): void {
  log = vscode.window.createOutputChannel('SmallThinker', { log: true });
  context.subscriptions.push(log);
  context.subscriptions.push(
    vscode.commands.registerCommand('smallthinker.showLogs', () => log?.show()),
  );
  log.info(`SmallThinker ${context.extension.packageJSON.version as string} activated`);
}

export function deactivate(): void {
  log = undefined;
}
