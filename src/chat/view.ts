// The chat webview view (`smallthinker.chat`): its HTML with a strict Content-Security-Policy
// (a fresh nonce per load, no remote resources, scripts and styles only from the extension),
// and the bridge between the webview's messages and the ChatController.
import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import type { ChatController, ViewMessage } from './controller';

export function chatHtml(webview: Pick<vscode.Webview, 'cspSource' | 'asWebviewUri'>, extensionUri: vscode.Uri, nonce: string): string {
  const asset = (file: string) => webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, ...file.split('/'))).toString();
  const csp = [
    "default-src 'none'",
    `style-src ${webview.cspSource} 'nonce-${nonce}'`,
    `font-src ${webview.cspSource}`,
    `script-src 'nonce-${nonce}'`,
    `img-src ${webview.cspSource}`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" nonce="${nonce}" href="${asset('dist/webview/codicon.css')}">
<link rel="stylesheet" nonce="${nonce}" href="${asset('media/chat.css')}">
<title>SmallThinker Chat</title>
</head>
<body>
<div id="welcome" class="welcome" hidden>
  <p>SmallThinker runs a local model on your CPU. Choose a SmallThinker GGUF file to start.</p>
  <button id="select-model" type="button" class="primary">Select Model File…</button>
  <button id="download-model" type="button" class="secondary">Download Model…</button>
</div>
<div id="messages" class="messages" role="log" aria-live="polite" aria-label="Conversation"></div>
<div id="error" class="error" role="alert" hidden></div>
<form id="composer" class="composer" hidden>
  <label for="input" class="visually-hidden">Ask SmallThinker</label>
  <textarea id="input" rows="3" placeholder="Ask about your code (Enter to send, Shift+Enter for a new line)"></textarea>
  <div class="composer-actions">
    <span class="attach"><label><input id="attach" type="checkbox"> Attach the selection</label>
    <label><input id="attach-file" type="checkbox"> the file</label></span>
    <button id="send" type="submit" class="primary" aria-label="Send">Send</button>
    <button id="stop" type="button" class="secondary" aria-label="Stop generating" hidden><span class="codicon codicon-debug-stop"></span> Stop</button>
  </div>
</form>
<script nonce="${nonce}" src="${asset('dist/webview/chat.js')}"></script>
</body>
</html>`;
}

export interface WebviewRequests {
  selectModel(): void;
  downloadModel(): void;
  insert(code: string): void;
  selection(): { code: string; languageId: string; filePath: string } | undefined;
  file(): { code: string; languageId: string; filePath: string } | undefined;
}

export class ChatViewProvider implements vscode.WebviewViewProvider {
  private view: vscode.WebviewView | undefined;
  private pending: ViewMessage[] = [];

  constructor(private readonly extensionUri: vscode.Uri, private readonly controller: () => ChatController,
    private readonly requests: WebviewRequests) {}

  /** Posts to the webview, or keeps the message until it is ready. */
  post(message: ViewMessage): void {
    if (this.view) void this.view.webview.postMessage(message);
    else if (message.type === 'state') this.pending = [message];
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    view.webview.options = { enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(this.extensionUri, 'dist'), vscode.Uri.joinPath(this.extensionUri, 'media')] };
    view.webview.html = chatHtml(view.webview, this.extensionUri, randomBytes(16).toString('base64'));
    view.onDidDispose(() => (this.view = undefined));
    view.webview.onDidReceiveMessage((m: { type: string; text?: string; code?: string; attachSelection?: boolean; attachFile?: boolean }) => {
      const c = this.controller();
      switch (m.type) {
        case 'ready':
          for (const p of this.pending.splice(0)) void view.webview.postMessage(p);
          c.show();
          break;
        case 'ask':
          if (typeof m.text === 'string') {
            void c.ask(m.text, (m.attachSelection ? this.requests.selection() : undefined) ?? (m.attachFile ? this.requests.file() : undefined));
          }
          break;
        case 'stop': c.stop(); break;
        case 'newChat': c.newChat(); break;
        case 'copy': if (typeof m.code === 'string') void vscode.env.clipboard.writeText(m.code); break;
        case 'insert': if (typeof m.code === 'string') this.requests.insert(m.code); break;
        case 'selectModel': this.requests.selectModel(); break;
        case 'downloadModel': this.requests.downloadModel(); break;
      }
    });
  }
}
