// The chat in the sidebar: its view, its conversations, what can be attached to a question
// (selection, file, other files, problems) and the commands that open it, start a new one,
// switch between conversations and explain a selection.
import * as vscode from 'vscode';
import type { EditActions } from '../edits/actions';
import type { RangeTracker } from '../edits/locate';
import type { EngineChoice } from '../inference';
import { setting } from '../settings';
import { codeBlock, ChatController, type Attachment } from './controller';
import { Conversations } from './conversations';
import { ChatViewProvider } from './view';

/** At most this many problems go into a Problems attachment. */
const MAX_PROBLEMS = 100;
/** Files the Files… picker lists, at most. */
const MAX_PICKER_FILES = 2000;

function codeAttachment(document: vscode.TextDocument, range: vscode.Range | undefined, tracker: RangeTracker): Attachment {
  const path = vscode.workspace.asRelativePath(document.uri, false);
  const text = document.getText();
  const start = range ? document.offsetAt(range.start) : 0;
  const end = range ? document.offsetAt(range.end) : text.length;
  const code = text.slice(start, end);
  // A selection that ends at the start of a line does not take that line.
  const lastLine = range && range.end.character === 0 && range.end.line > range.start.line ? range.end.line - 1 : range?.end.line ?? 0;
  const label = range ? `${path}:${range.start.line + 1}${lastLine > range.start.line ? `-${lastLine + 1}` : ''}` : path;
  return {
    kind: range ? 'selection' : 'file', label, text: codeBlock(code, document.languageId, path),
    target: {
      uri: document.uri.toString(), start, end, original: range ? code : '', label, ...(range ? {} : { wholeFile: true }),
      trackId: tracker.track(document.uri.toString(), { start, end }),
    },
  };
}

function problemsAttachment(): Attachment | undefined {
  const severity = ['error', 'warning', 'info', 'hint'];
  const lines: string[] = [];
  for (const [uri, diagnostics] of vscode.languages.getDiagnostics()) {
    for (const d of diagnostics) {
      if (d.severity > vscode.DiagnosticSeverity.Warning) continue;
      lines.push(`- ${vscode.workspace.asRelativePath(uri, false)}:${d.range.start.line + 1}:${d.range.start.character + 1} ` +
        `${severity[d.severity]}${d.source ? ` (${d.source})` : ''}: ${d.message.split('\n')[0]}`);
    }
  }
  if (!lines.length) return undefined;
  const shown = lines.slice(0, MAX_PROBLEMS);
  const more = lines.length > shown.length ? `\n(and ${lines.length - shown.length} more)` : '';
  return { kind: 'problems', label: `Problems (${lines.length})`, text: `\n\nThe current problems in the workspace:\n${shown.join('\n')}${more}` };
}

export function registerChat(context: vscode.ExtensionContext, engine: EngineChoice, edits: { actions: EditActions; tracker: RangeTracker },
  log: vscode.LogOutputChannel): vscode.Disposable[] {
  let lastEditor = vscode.window.activeTextEditor;
  const editor = () => vscode.window.activeTextEditor ?? lastEditor;
  const attachments = async (what: 'selection' | 'file' | 'files' | 'problems'): Promise<Attachment[]> => {
    const e = editor();
    switch (what) {
      case 'selection':
        if (!e || e.selection.isEmpty) return void vscode.window.showInformationMessage('Select some code in the editor to attach it.'), [];
        return [codeAttachment(e.document, e.selection, edits.tracker)];
      case 'file':
        if (!e) return void vscode.window.showInformationMessage('Open a file in the editor to attach it.'), [];
        return [codeAttachment(e.document, undefined, edits.tracker)];
      case 'files': {
        const files = await vscode.workspace.findFiles('**/*', '**/{node_modules,.git}/**', MAX_PICKER_FILES);
        const picks = await vscode.window.showQuickPick(
          files.map((uri) => ({ label: vscode.workspace.asRelativePath(uri, false), uri })).sort((a, b) => a.label.localeCompare(b.label)),
          { canPickMany: true, title: 'Attach files to the next question', matchOnDescription: true });
        const out: Attachment[] = [];
        for (const p of picks ?? []) {
          try {
            out.push(codeAttachment(await vscode.workspace.openTextDocument(p.uri), undefined, edits.tracker));
          } catch (err) {
            // A binary file, or one VS Code will not open as text.
            void vscode.window.showWarningMessage(`${p.label} cannot be attached: ${(err as Error).message}`);
          }
        }
        return out;
      }
      case 'problems': {
        const a = problemsAttachment();
        if (!a) void vscode.window.showInformationMessage('There are no errors or warnings in the workspace.');
        return a ? [a] : [];
      }
    }
  };

  const chatView = new ChatViewProvider(context.extensionUri, () => chat, {
    selectModel: () => void vscode.commands.executeCommand('smallthinker.selectModel'),
    downloadModel: () => void vscode.commands.executeCommand('smallthinker.downloadModel'),
    insert: (code) => {
      const e = editor();
      if (!e) return void vscode.window.showInformationMessage('Open an editor to insert the code into.');
      void e.edit((b) => b.replace(e.selection, code));
    },
    apply: (code, targets) => void edits.actions.apply(code, targets, editor()),
    attachments,
    conversations: () => void vscode.commands.executeCommand('smallthinker.conversations'),
  }, (m) => log.warn(m));
  const chat = new ChatController(engine, new Conversations(context.workspaceState), (m) => chatView.post(m), () => engine.modelName !== undefined, () => ({
    maxTokens: setting('chat.maxTokens'), temperature: setting('chat.temperature'), contextTokens: engine.chatContext,
  }));
  engine.onChange(() => chat.show());

  const conversations = async () => {
    const rename = { iconPath: new vscode.ThemeIcon('edit'), tooltip: 'Rename' };
    const remove = { iconPath: new vscode.ThemeIcon('trash'), tooltip: 'Delete' };
    const quickPick = vscode.window.createQuickPick<vscode.QuickPickItem & { id?: string }>();
    const refresh = () => {
      quickPick.items = [
        { label: '$(add) New Chat', alwaysShow: true },
        ...chat.list().map((c) => ({ label: c.title, id: c.id, description: c.id === chat.id ? 'open' : undefined, buttons: [rename, remove] })),
      ];
    };
    quickPick.title = 'SmallThinker conversations';
    quickPick.placeholder = 'Switch to a conversation';
    refresh();
    quickPick.onDidTriggerItemButton(async ({ item, button }) => {
      if (!item.id) return;
      if (button === remove) {
        chat.delete(item.id);
        refresh();
        return;
      }
      quickPick.hide();
      const title = await vscode.window.showInputBox({ title: 'Rename the conversation', value: item.label });
      if (title?.trim()) chat.rename(item.id, title);
    });
    quickPick.onDidAccept(() => {
      const item = quickPick.selectedItems[0];
      quickPick.hide();
      if (!item) return;
      if (item.id) chat.switchTo(item.id);
      else chat.newChat();
      void vscode.commands.executeCommand('smallthinker.chat.focus');
    });
    quickPick.onDidHide(() => quickPick.dispose());
    quickPick.show();
  };

  return [
    vscode.window.registerWebviewViewProvider('smallthinker.chat', chatView, { webviewOptions: { retainContextWhenHidden: true } }),
    vscode.window.onDidChangeActiveTextEditor((e) => {
      if (e) lastEditor = e;
    }),
    vscode.commands.registerCommand('smallthinker.openChat', () => vscode.commands.executeCommand('smallthinker.chat.focus')),
    vscode.commands.registerCommand('smallthinker.newChat', async () => {
      await vscode.commands.executeCommand('smallthinker.chat.focus');
      chat.newChat();
    }),
    vscode.commands.registerCommand('smallthinker.conversations', conversations),
    vscode.commands.registerCommand('smallthinker.stopGeneration', () => chat.stop()),
    vscode.commands.registerCommand('smallthinker.explainSelection', async () => {
      const e = editor();
      if (!e || e.selection.isEmpty) return void vscode.window.showInformationMessage('Select some code to explain first.');
      const attachment = codeAttachment(e.document, e.selection, edits.tracker);
      await vscode.commands.executeCommand('smallthinker.chat.focus');
      void chat.ask(`Explain what this ${e.document.languageId} code does.`, [attachment]);
    }),
  ];
}
