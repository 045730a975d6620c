// The remote engine's place in the editor: the engine itself, the commands that choose an
// engine and set the server's API key, and reconnecting when its settings or key change.
import * as vscode from 'vscode';
import { setting, updateSetting } from '../settings';
import type { StatusBar } from '../status';
import { API_KEY_SECRET, askConsentInWindow, RemoteEngine } from './engine';

/** `start` connects when the remote engine is chosen: call it once the features are wired. */
export function registerRemote(context: vscode.ExtensionContext, status: StatusBar, log: vscode.LogOutputChannel, onChange: () => void):
  { engine: RemoteEngine; disposables: vscode.Disposable[]; start: () => void } {
  const engine = new RemoteEngine(context.secrets, context.globalState, status, log, askConsentInWindow, onChange);
  const activateIfChosen = () => {
    if (setting('engine') === 'remote') engine.activate();
  };
  const disposables: vscode.Disposable[] = [
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('smallthinker.engine') || e.affectsConfiguration('smallthinker.remote')) activateIfChosen();
    }),
    context.secrets.onDidChange((e) => {
      if (e.key === API_KEY_SECRET) activateIfChosen();
    }),
    vscode.commands.registerCommand('smallthinker.setRemoteApiKey', async () => {
      const key = await vscode.window.showInputBox({
        title: 'API key of the remote inference server', password: true, ignoreFocusOut: true,
        prompt: 'Sent as "Authorization: Bearer …" to smallthinker.remote.url, kept in the system\'s secret storage. Leave empty to remove it.',
      });
      if (key === undefined) return;
      if (key.trim()) await context.secrets.store(API_KEY_SECRET, key.trim());
      else await context.secrets.delete(API_KEY_SECRET);
      log.info(key.trim() ? 'the remote server\'s API key was set' : 'the remote server\'s API key was removed');
    }),
    vscode.commands.registerCommand('smallthinker.chooseEngine', async () => {
      const pick = await vscode.window.showQuickPick([
        { label: '$(device-desktop) Built-in Engine', description: 'the model file on this machine; no code leaves it', engine: 'local' as const },
        { label: '$(cloud) Remote Server…', description: setting('remote.url') || 'an OpenAI-compatible server (llama-server, vLLM, Ollama)', engine: 'remote' as const },
      ], { title: 'Which engine answers completions and chats?' });
      if (!pick) return;
      if (pick.engine === 'remote') {
        const url = await vscode.window.showInputBox({
          title: 'Address of the OpenAI-compatible server', value: setting('remote.url') || 'http://localhost:8080', ignoreFocusOut: true,
          prompt: 'e.g. http://gpu-box:8080 for llama-server. Set an API key with "SmallThinker: Set Remote Server API Key…" if it needs one.',
        });
        if (!url?.trim()) return;
        await updateSetting('remote.url', url.trim());
      }
      await updateSetting('engine', pick.engine);
    }),
  ];
  return { engine, disposables, start: activateIfChosen };
}
