// The commands and lightbulb actions that change code: Inline Edit (Ctrl+I / Cmd+I), Fix on a
// diagnostic, Document, Write Tests, and Accept / Reject / Cancel for the proposal they show.
import * as vscode from 'vscode';
import type { ChatEngine } from '../chat/controller';
import { EditActions, type EditJob } from './actions';
import { RangeTracker, type OffsetRange } from './locate';
import { Proposals } from './proposals';

/** A function, method or class longer than this is not taken whole as the code to fix or document. */
const MAX_SYMBOL_LINES = 150;
/** Lines taken around a diagnostic outside any function. */
const DIAGNOSTIC_MARGIN_LINES = 3;
const CODE_SYMBOLS = new Set([vscode.SymbolKind.Function, vscode.SymbolKind.Method, vscode.SymbolKind.Constructor,
  vscode.SymbolKind.Class, vscode.SymbolKind.Interface, vscode.SymbolKind.Enum]);

// The lightbulb asks for code actions on every cursor move: the symbols of the last document
// version asked about are kept, so moving the cursor does not ask the language server again.
let symbolCache: { uri: string; version: number; symbols: Promise<vscode.DocumentSymbol[] | undefined> } | undefined;

function documentSymbols(document: vscode.TextDocument): Promise<vscode.DocumentSymbol[] | undefined> {
  const uri = document.uri.toString();
  if (symbolCache?.uri !== uri || symbolCache.version !== document.version) {
    const symbols = Promise.resolve(vscode.commands.executeCommand<vscode.DocumentSymbol[]>('vscode.executeDocumentSymbolProvider', document.uri))
      .catch(() => undefined);
    const entry = { uri, version: document.version, symbols };
    symbolCache = entry;
    // A language server still starting answers with nothing: ask again next time.
    void symbols.then((found) => {
      if (!found?.length && symbolCache === entry) symbolCache = undefined;
    });
  }
  return symbolCache.symbols;
}

/** The innermost function, method or class around a position, from the language's symbol provider. */
async function enclosingSymbol(document: vscode.TextDocument, position: vscode.Position): Promise<vscode.DocumentSymbol | undefined> {
  const symbols = await documentSymbols(document);
  let found: vscode.DocumentSymbol | undefined;
  let level = (symbols ?? []).filter((s) => 'children' in s);
  for (;;) {
    const inside = level.find((s) => s.range.contains(position));
    if (!inside) return found;
    if (CODE_SYMBOLS.has(inside.kind) && inside.range.end.line - inside.range.start.line < MAX_SYMBOL_LINES) found = inside;
    level = inside.children ?? [];
  }
}

/** Whole lines from `first` to `last`, as offsets (the last line with its newline when there is one). */
function lines(document: vscode.TextDocument, first: number, last: number): OffsetRange {
  const end = last + 1 < document.lineCount ? document.offsetAt(new vscode.Position(last + 1, 0)) : document.getText().length;
  return { start: document.offsetAt(new vscode.Position(Math.max(0, first), 0)), end };
}

const selectionRange = (editor: vscode.TextEditor): OffsetRange =>
  ({ start: editor.document.offsetAt(editor.selection.start), end: editor.document.offsetAt(editor.selection.end) });

/** The code an action works on: the selection, else the function or class around the cursor, else `fallback`. */
async function codeAt(editor: vscode.TextEditor, fallback: 'line' | 'file'): Promise<OffsetRange> {
  if (!editor.selection.isEmpty) return selectionRange(editor);
  const symbol = await enclosingSymbol(editor.document, editor.selection.active);
  if (symbol) return lines(editor.document, symbol.range.start.line, symbol.range.end.line);
  if (fallback === 'file') return { start: 0, end: editor.document.getText().length };
  return lines(editor.document, editor.selection.active.line, editor.selection.active.line);
}

/** Offers Fix on diagnostics, and Document and Write Tests on a selection or a declaration's name. */
class CodeActions implements vscode.CodeActionProvider {
  static readonly kinds = [vscode.CodeActionKind.QuickFix, vscode.CodeActionKind.RefactorRewrite];

  async provideCodeActions(document: vscode.TextDocument, range: vscode.Range | vscode.Selection, context: vscode.CodeActionContext):
    Promise<vscode.CodeAction[]> {
    const actions: vscode.CodeAction[] = [];
    for (const d of context.diagnostics.slice(0, 3)) {
      const message = d.message.split('\n')[0];
      const a = new vscode.CodeAction(`Fix with SmallThinker: ${message.length > 60 ? `${message.slice(0, 59)}…` : message}`, vscode.CodeActionKind.QuickFix);
      a.diagnostics = [d];
      a.command = { command: 'smallthinker.fix', title: 'Fix with SmallThinker', arguments: [document.uri, d.range, d.message, d.source] };
      actions.push(a);
    }
    // Document and Write Tests where they make sense: on a selection, or on a declaration's name
    // (not on every line, which would put a lightbulb everywhere).
    const onDeclaration = range.isEmpty && (await enclosingSymbol(document, range.start))?.selectionRange.contains(range.start);
    if (!range.isEmpty || onDeclaration) {
      for (const [command, title] of [['smallthinker.document', 'Document with SmallThinker'], ['smallthinker.writeTests', 'Write Tests with SmallThinker']]) {
        const a = new vscode.CodeAction(title, vscode.CodeActionKind.RefactorRewrite);
        a.command = { command, title };
        actions.push(a);
      }
    }
    return actions;
  }
}

export function registerEdits(engine: ChatEngine, log: vscode.LogOutputChannel, hasModel: () => boolean):
  { actions: EditActions; tracker: RangeTracker; disposables: vscode.Disposable[] } {
  const tracker = new RangeTracker();
  const proposals = new Proposals(tracker);
  const actions = new EditActions(engine, proposals, tracker, log, hasModel);
  const editorFor = async (uri?: vscode.Uri): Promise<vscode.TextEditor | undefined> => {
    const active = vscode.window.activeTextEditor;
    if (!uri || active?.document.uri.toString() === uri.toString()) return active;
    return vscode.window.showTextDocument(await vscode.workspace.openTextDocument(uri));
  };
  const noEditor = () => void vscode.window.showInformationMessage('Open a file in the editor first.');

  const fix = async (uri?: vscode.Uri, range?: vscode.Range, message?: string, source?: string) => {
    const editor = await editorFor(uri);
    if (!editor) return noEditor();
    const doc = editor.document;
    if (!range || message === undefined) {
      // From the palette: the problem at the cursor, else the first one in the file.
      const all = vscode.languages.getDiagnostics(doc.uri);
      const d = all.find((x) => x.range.contains(editor.selection.active) || x.range.start.line === editor.selection.active.line) ?? all[0];
      if (!d) return void vscode.window.showInformationMessage(`There is no problem to fix in ${vscode.workspace.asRelativePath(doc.uri, false)}.`);
      ({ range, message, source } = d);
    }
    const symbol = await enclosingSymbol(doc, range.start);
    const target = symbol && symbol.range.contains(range)
      ? lines(doc, symbol.range.start.line, symbol.range.end.line)
      : lines(doc, range.start.line - DIAGNOSTIC_MARGIN_LINES, Math.min(doc.lineCount - 1, range.end.line + DIAGNOSTIC_MARGIN_LINES));
    await actions.edit({ kind: 'fix', document: doc, range: target, diagnostic: { message, line: range.start.line + 1, source } });
  };

  const onEditor = (kind: EditJob['kind'], fallback: 'line' | 'file') => async () => {
    const editor = vscode.window.activeTextEditor;
    if (!editor) return noEditor();
    const job = { kind, document: editor.document, range: await codeAt(editor, fallback) };
    await (kind === 'tests' ? actions.writeTests(job) : actions.edit(job));
  };

  return {
    actions, tracker,
    disposables: [
      proposals,
      // Every tracked range (chat attachments, open proposals) follows its document's changes.
      vscode.workspace.onDidChangeTextDocument((e) => tracker.onChange(e.document.uri.toString(),
        e.contentChanges.map((c) => ({ offset: c.rangeOffset, removed: c.rangeLength, inserted: c.text.length })))),
      vscode.languages.registerCodeActionsProvider({ pattern: '**' }, new CodeActions(), { providedCodeActionKinds: CodeActions.kinds }),
      vscode.commands.registerCommand('smallthinker.inlineEdit', async () => {
        const editor = vscode.window.activeTextEditor;
        if (!editor) return noEditor();
        const range = selectionRange(editor);
        const instruction = await vscode.window.showInputBox({
          title: 'SmallThinker: Inline Edit',
          prompt: range.start === range.end ? 'What should be written at the cursor?' : 'How should the selected code change?',
          placeHolder: range.start === range.end ? 'e.g. a function that parses an ISO date' : 'e.g. use async/await instead of callbacks',
          ignoreFocusOut: true,
        });
        if (!instruction?.trim()) return;
        await actions.edit({ kind: 'edit', document: editor.document, range, instruction: instruction.trim() });
      }),
      vscode.commands.registerCommand('smallthinker.fix', fix),
      vscode.commands.registerCommand('smallthinker.document', onEditor('document', 'line')),
      vscode.commands.registerCommand('smallthinker.writeTests', onEditor('tests', 'file')),
      vscode.commands.registerCommand('smallthinker.acceptProposal', () => proposals.accept()),
      vscode.commands.registerCommand('smallthinker.rejectProposal', () => proposals.reject()),
      vscode.commands.registerCommand('smallthinker.cancelEdit', () => actions.cancel()),
    ],
  };
}
