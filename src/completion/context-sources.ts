// Where the completion context comes from in VS Code: text around edits (once the user pauses
// in that document), what other editors show, a selection copied in the editor (the clipboard
// read when the user pauses, kept only if it is text a selection held), and the current file's
// imports resolved in the workspace. The chunks go into ./context.ts's ring.
import * as vscode from 'vscode';
import type { ContextChunk } from '../../engine/protocol';
import {
  CHUNK_CHARS, CHUNK_LINES, chunkAround, ContextRing, ContextSnapshots, declarationsChunk, importCandidates, importSpecifiers, type Chunk,
} from './context';

/** Documents whose text is the user's code (not output panels, settings or git views). */
const CODE_SCHEMES = new Set(['file', 'untitled', 'vscode-remote', 'vscode-vfs']);
/** Selections remembered to recognise a copy (the clipboard holding one of them). */
const SELECTIONS_KEPT = 8;

export class CompletionContextSources implements vscode.Disposable {
  private readonly ring = new ContextRing();
  private readonly snapshots = new ContextSnapshots(this.ring);
  private readonly disposables: vscode.Disposable[] = [];
  private readonly editTimers = new Map<string, NodeJS.Timeout>();
  private readonly recentSelections: Array<{ path: string; text: string }> = [];
  private readonly imports = new Map<string, { version: number; key: string; chunks: Chunk[] }>();
  private lastEditAt = 0;
  private scrollTimer: NodeJS.Timeout | undefined;
  private clipboardChecked = '';

  constructor(private readonly enabled: () => boolean) {
    this.disposables.push(
      vscode.workspace.onDidChangeTextDocument((e) => this.edited(e)),
      vscode.window.onDidChangeTextEditorVisibleRanges((e) => this.scrolled(e.textEditor)),
      vscode.window.onDidChangeActiveTextEditor((e) => e && this.viewed(e)),
      vscode.window.onDidChangeTextEditorSelection((e) => this.selected(e.textEditor)),
      vscode.workspace.onDidDeleteFiles((e) => e.files.forEach((f) => this.ring.forget(vscode.workspace.asRelativePath(f, false)))),
    );
  }

  /** The chunks a completion request in `document` carries (empty when the setting is off). */
  async forDocument(document: vscode.TextDocument): Promise<ContextChunk[]> {
    if (!this.enabled()) return [];
    const path = vscode.workspace.asRelativePath(document.uri, false);
    if (Date.now() - this.lastEditAt >= 1000) await this.checkClipboard();
    return this.snapshots.get(path, this.lastEditAt, await this.importsOf(document));
  }

  private relative(document: vscode.TextDocument): string | undefined {
    return CODE_SCHEMES.has(document.uri.scheme) ? vscode.workspace.asRelativePath(document.uri, false) : undefined;
  }

  private edited(e: vscode.TextDocumentChangeEvent): void {
    const path = this.relative(e.document);
    if (!path || e.contentChanges.length === 0) return;
    this.lastEditAt = Date.now();
    // The chunk around the edit, once typing in this document pauses.
    const line = e.contentChanges[0].range.start.line;
    const key = e.document.uri.toString();
    clearTimeout(this.editTimers.get(key));
    this.editTimers.set(key, setTimeout(() => {
      this.editTimers.delete(key);
      const around = chunkAround(e.document.getText(), line);
      this.ring.add({ path, kind: 'edited', ...around });
    }, 500));
  }

  /** Scrolling fires many events: the chunk is taken once it stops for a moment. */
  private scrolled(editor: vscode.TextEditor): void {
    clearTimeout(this.scrollTimer);
    this.scrollTimer = setTimeout(() => this.viewed(editor), 300);
  }

  private viewed(editor: vscode.TextEditor): void {
    const path = this.relative(editor.document);
    const range = editor.visibleRanges?.[0];
    if (!path || !range) return;
    const middle = Math.floor((range.start.line + range.end.line) / 2);
    this.ring.add({ path, kind: 'viewed', ...chunkAround(editor.document.getText(), middle, Math.min(CHUNK_LINES, range.end.line - range.start.line + 1)) });
  }

  private selected(editor: vscode.TextEditor): void {
    const path = this.relative(editor.document);
    if (!path || editor.selection.isEmpty) return;
    const text = editor.document.getText(editor.selection);
    if (text.length > CHUNK_CHARS || text.trim().length < 8) return;
    this.recentSelections.push({ path, text });
    if (this.recentSelections.length > SELECTIONS_KEPT) this.recentSelections.shift();
  }

  /** Code copied in the editor: the clipboard holds what a recent selection held. */
  private async checkClipboard(): Promise<void> {
    // In a browser (code-server, vscode.dev) reading the clipboard shows the user a permission
    // error; only the desktop app reads it quietly. And with no recent selection nothing can match.
    if (vscode.env.uiKind !== vscode.UIKind.Desktop || this.recentSelections.length === 0) return;
    let text: string;
    try {
      text = await vscode.env.clipboard.readText();
    } catch {
      return;
    }
    if (!text || text === this.clipboardChecked) return;
    this.clipboardChecked = text;
    const source = this.recentSelections.find((s) => s.text === text);
    if (source) this.ring.add({ path: source.path, text, kind: 'copied', startLine: -1, endLine: -1 });
  }

  /** The declarations of the workspace files this document imports (read once per import list). */
  private async importsOf(document: vscode.TextDocument): Promise<Chunk[]> {
    const held = this.imports.get(document.uri.toString());
    // The same text as last time (between keystrokes the version moves, the import list rarely).
    if (held && held.version === document.version) return held.chunks;
    const specifiers = importSpecifiers(document.languageId, document.getText());
    const key = specifiers.map((s) => s.specifier).join('|');
    if (held?.key === key) {
      held.version = document.version;
      return held.chunks;
    }
    const folder = vscode.workspace.getWorkspaceFolder(document.uri)?.uri;
    const chunks: Chunk[] = [];
    for (const { specifier, relativeTo } of specifiers) {
      const base = relativeTo === 'document' ? vscode.Uri.joinPath(document.uri, '..') : folder;
      if (!base) continue;
      for (const candidate of importCandidates(document.languageId, specifier)) {
        const uri = vscode.Uri.joinPath(base, candidate);
        try {
          const bytes = await vscode.workspace.fs.readFile(uri);
          if (bytes.byteLength > 1_000_000) break;
          chunks.push({ path: vscode.workspace.asRelativePath(uri, false), text: declarationsChunk(new TextDecoder().decode(bytes)),
            kind: 'imported', startLine: -1, endLine: -1 });
          break;
        } catch {
          // not this candidate
        }
      }
      if (chunks.length >= 4) break;
    }
    this.imports.set(document.uri.toString(), { version: document.version, key, chunks });
    if (this.imports.size > 64) this.imports.delete(this.imports.keys().next().value as string);
    return chunks;
  }

  dispose(): void {
    for (const t of this.editTimers.values()) clearTimeout(t);
    clearTimeout(this.scrollTimer);
    for (const d of this.disposables) d.dispose();
  }
}
