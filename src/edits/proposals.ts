// A proposed change to a file, shown in VS Code's diff editor before anything changes: the file
// on the left, the file with the change on the right (a read-only document of our own scheme,
// updated as the model streams), Accept and Reject in the editor's title bar and in the
// palette. Accepting is one edit (one undo) at the range the change was proposed for, followed
// through every change made to the file meanwhile; a change that cut into that range is refused.
import path from 'node:path';
import * as vscode from 'vscode';
import { RangeTracker, type OffsetRange } from './locate';

export const PROPOSAL_SCHEME = 'smallthinker-proposal';
/** Context key: a proposal is open (the Accept and Reject buttons show). */
const OPEN_KEY = 'smallthinker.proposalOpen';

export interface Proposal {
  readonly uri: vscode.Uri;
  readonly document: vscode.TextDocument;
  replacement: string;
  /** Called once, when it is accepted (true) or rejected or replaced by another (false). */
  settled: Promise<boolean>;
}

interface OpenProposal extends Proposal {
  trackId: string;
  settle(accepted: boolean): void;
}

export class Proposals implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  private current: OpenProposal | undefined;
  private next = 0;
  private readonly disposables: vscode.Disposable[];

  constructor(private readonly tracker: RangeTracker) {
    this.disposables = [
      this.changed,
      vscode.workspace.registerTextDocumentContentProvider(PROPOSAL_SCHEME, this),
      vscode.workspace.onDidChangeTextDocument((e) => {
        // The tracker follows every document's changes (registered once, in ./register.ts); the
        // right side follows its file.
        if (this.current && e.document === this.current.document) this.changed.fire(this.current.uri);
      }),
      vscode.window.tabGroups.onDidChangeTabs((e) => {
        // Closing the diff editor is rejecting the proposal.
        const p = this.current;
        if (p && e.closed.some((t) => t.input instanceof vscode.TabInputTextDiff && t.input.modified.toString() === p.uri.toString())) {
          this.finish(p, false);
        }
      }),
    ];
  }

  get active(): Proposal | undefined {
    return this.current;
  }

  /** The file as it would be with the change (the file as it is if the change's range was lost). */
  provideTextDocumentContent(uri: vscode.Uri): string {
    const p = this.current;
    if (!p || p.uri.toString() !== uri.toString()) return '';
    const text = p.document.getText();
    const r = this.tracker.get(p.trackId);
    return r ? text.slice(0, r.start) + p.replacement + text.slice(r.end) : text;
  }

  /** Opens the diff of `replacement` at `range` of the document; an open proposal is rejected first. */
  async propose(document: vscode.TextDocument, range: OffsetRange, replacement: string, title: string): Promise<Proposal> {
    if (this.current) this.finish(this.current, false);
    const uri = vscode.Uri.from({ scheme: PROPOSAL_SCHEME, path: `/${++this.next}/${path.posix.basename(document.uri.path)}` });
    let settle!: (accepted: boolean) => void;
    const settled = new Promise<boolean>((resolve) => (settle = resolve));
    const p: OpenProposal = { uri, document, replacement, settled, settle, trackId: this.tracker.track(document.uri.toString(), range) };
    this.current = p;
    await vscode.commands.executeCommand('setContext', OPEN_KEY, true);
    await vscode.commands.executeCommand('vscode.diff', document.uri, uri, title, { preview: false, preserveFocus: false });
    return p;
  }

  /** Shows new text for the open proposal (streaming). */
  update(p: Proposal, replacement: string): void {
    if (p !== this.current || replacement === p.replacement) return;
    p.replacement = replacement;
    this.changed.fire(p.uri);
  }

  /** Applies the open proposal as one edit; false (and a message) if its range was lost. */
  async accept(): Promise<boolean> {
    const p = this.current;
    if (!p) return false;
    const r = this.tracker.get(p.trackId);
    if (!r) {
      void vscode.window.showWarningMessage('The code this change replaces was edited meanwhile, so the change was not applied. Ask again.');
      this.finish(p, false);
      return false;
    }
    const doc = p.document;
    const edit = new vscode.WorkspaceEdit();
    edit.replace(doc.uri, new vscode.Range(doc.positionAt(r.start), doc.positionAt(r.end)), p.replacement);
    const applied = await vscode.workspace.applyEdit(edit);
    this.finish(p, applied);
    if (!applied) {
      void vscode.window.showWarningMessage(`The change could not be applied to ${vscode.workspace.asRelativePath(doc.uri, false)}.`);
      return false;
    }
    const end = doc.positionAt(r.start + p.replacement.length);
    await vscode.window.showTextDocument(doc, { selection: new vscode.Range(doc.positionAt(r.start), end), preview: false });
    return true;
  }

  reject(): void {
    if (this.current) this.finish(this.current, false);
  }

  dispose(): void {
    if (this.current) this.finish(this.current, false);
    for (const d of this.disposables) d.dispose();
  }

  private finish(p: OpenProposal, accepted: boolean): void {
    if (this.current !== p) return;
    this.current = undefined;
    this.tracker.forget(p.trackId);
    p.settle(accepted);
    void vscode.commands.executeCommand('setContext', OPEN_KEY, false);
    const tabs = vscode.window.tabGroups.all.flatMap((g) => g.tabs)
      .filter((t) => t.input instanceof vscode.TabInputTextDiff && t.input.modified.toString() === p.uri.toString());
    if (tabs.length) void vscode.window.tabGroups.close(tabs);
  }
}
