// The chat webview view (`smallthinker.chat`): its HTML with a strict Content-Security-Policy
// (a fresh nonce per load, no remote resources, scripts and styles only from the extension),
// and the bridge between the webview's messages and the ChatController.
import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import type { Attachment, ChatController } from './controller';
import type { EditTarget } from './conversations';
import { parseViewMessage, type HostToView, type ViewToHost } from './messages';

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
<div id="conversation-bar" class="conversation-bar" hidden>
  <button id="conversations" type="button" class="conversation-title" title="Conversations…"><span class="codicon codicon-history"></span> <span id="conversation-title"></span></button>
</div>
<div id="messages" class="messages" role="log" aria-live="polite" aria-label="Conversation"></div>
<div id="error" class="error" role="alert" hidden></div>
<form id="composer" class="composer" hidden>
  <div id="chips" class="chips" aria-label="Attached to the next question"></div>
  <label for="input" class="visually-hidden">Ask SmallThinker</label>
  <textarea id="input" rows="3" placeholder="Ask about your code (Enter to send, Shift+Enter for a new line)"></textarea>
  <div class="composer-actions">
    <span class="attach" role="group" aria-label="Attach">
      <button id="attach-selection" type="button" class="chip-button" title="Attach the selection"><span class="codicon codicon-selection"></span> Selection</button>
      <button id="attach-file" type="button" class="chip-button" title="Attach the current file"><span class="codicon codicon-file"></span> File</button>
      <button id="attach-files" type="button" class="chip-button" title="Attach other files…"><span class="codicon codicon-files"></span> Files…</button>
      <button id="attach-problems" type="button" class="chip-button" title="Attach the current problems"><span class="codicon codicon-warning"></span> Problems</button>
    </span>
    <button id="send" type="submit" class="primary" aria-label="Send">Send</button>
    <button id="stop" type="button" class="secondary" aria-label="Stop generating" hidden><span class="codicon codicon-debug-stop"></span> Stop</button>
  </div>
</form>
<script nonce="${nonce}" src="${asset('dist/webview/chat.js')}"></script>
</body>
</html>`;
}

/** What the view asks of the editor. */
export interface WebviewRequests {
  selectModel(): void;
  downloadModel(): void;
  insert(code: string): void;
  /** Shows the code as a proposed change to one of the targets (or the active editor), in a diff. */
  apply(code: string, targets: EditTarget[]): void;
  /** The attachments for a chip button (the picker for `files`), none if there is nothing to attach. */
  attachments(what: 'selection' | 'file' | 'files' | 'problems'): Promise<Attachment[]>;
  /** The list of past conversations, to switch, rename or delete. */
  conversations(): void;
}

export class ChatViewProvider implements vscode.WebviewViewProvider {
  private view: vscode.WebviewView | undefined;
  private pending: HostToView[] = [];

  constructor(private readonly extensionUri: vscode.Uri, private readonly controller: () => ChatController,
    private readonly requests: WebviewRequests, private readonly log: (message: string) => void) {}

  /** Posts to the webview, or keeps the message until it is ready. */
  post(message: HostToView): void {
    if (this.view) void this.view.webview.postMessage(message);
    else if (message.type === 'state') this.pending = [message];
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    view.webview.options = { enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(this.extensionUri, 'dist'), vscode.Uri.joinPath(this.extensionUri, 'media')] };
    view.webview.html = chatHtml(view.webview, this.extensionUri, randomBytes(16).toString('base64'));
    view.onDidDispose(() => (this.view = undefined));
    view.webview.onDidReceiveMessage((raw: unknown) => {
      const m = parseViewMessage(raw);
      if (!m) return this.log(`ignored a malformed message from the chat view: ${JSON.stringify(raw)?.slice(0, 200)}`);
      this.handle(view, m).catch((err: unknown) => this.log(`the chat view's ${m.type} failed: ${(err as Error).message}`));
    });
  }

  private async handle(view: vscode.WebviewView, m: ViewToHost): Promise<void> {
    const c = this.controller();
    switch (m.type) {
      case 'ready':
        for (const p of this.pending.splice(0)) void view.webview.postMessage(p);
        c.show();
        break;
      case 'ask': void c.ask(m.text); break;
      case 'typing': c.typing(m.text); break;
      case 'stop': c.stop(); break;
      case 'newChat': c.newChat(); break;
      case 'conversations': this.requests.conversations(); break;
      case 'copy': void vscode.env.clipboard.writeText(m.code); break;
      case 'insert': this.requests.insert(m.code); break;
      case 'apply': this.requests.apply(m.code, c.targetsOf(m.message)); break;
      case 'attach':
        for (const a of await this.requests.attachments(m.what)) c.attach(a);
        break;
      case 'detach': c.detach(m.id); break;
      case 'selectModel': this.requests.selectModel(); break;
      case 'downloadModel': this.requests.downloadModel(); break;
    }
  }
}
