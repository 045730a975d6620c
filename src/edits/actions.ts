// The actions that change code with the model: inline edit (an instruction for the selection or
// the cursor), Fix (a diagnostic), Document, Write Tests, and Apply from the chat. Each edit is
// streamed into a proposal (./proposals.ts) that the user accepts, rejects or retries; Escape or
// the notification's Cancel stops the engine request at once. Write Tests streams into a new
// untitled editor instead.
import * as vscode from 'vscode';
import { EngineErrorCodes } from '../../engine/protocol';
import type { ChatEngine } from '../chat/controller';
import type { EditTarget } from '../chat/conversations';
import { setting } from '../settings';
import { locateTarget, type OffsetRange, type RangeTracker } from './locate';
import { CONTEXT_LINES, editMessages, extractCode, fitReplacement, type EditKind, type EditPromptInput } from './prompts';
import type { Proposals } from './proposals';

/** Edits want the likeliest code, not variety. */
export const EDIT_TEMPERATURE = 0.2;
/** Context key: an edit request is running (Escape cancels it). */
const RUNNING_KEY = 'smallthinker.editRunning';
/** How often streamed text is shown, at most. */
const STREAM_REFRESH_MS = 250;

export interface EditJob {
  kind: EditKind;
  document: vscode.TextDocument;
  range: OffsetRange;
  instruction?: string;
  diagnostic?: EditPromptInput['diagnostic'];
}

const relative = (doc: vscode.TextDocument) => vscode.workspace.asRelativePath(doc.uri, false);
/** `line 3` or `lines 3-9` (a range ending at the start of a line does not take that line). */
const lineSpan = (doc: vscode.TextDocument, r: OffsetRange) => {
  const a = doc.positionAt(r.start).line + 1;
  const end = doc.positionAt(r.end);
  const b = end.line + (end.character === 0 && end.line + 1 > a ? 0 : 1);
  return a === b ? `line ${a}` : `lines ${a}-${b}`;
};

export class EditActions {
  private running: { cancel(): void } | undefined;
  private chats = 0;

  constructor(private readonly engine: ChatEngine, private readonly proposals: Proposals, private readonly tracker: RangeTracker,
    private readonly log: vscode.LogOutputChannel, private readonly hasModel: () => boolean) {}

  /** Stops the running edit request (Escape). */
  cancel(): void {
    if (!this.running) return;
    this.log.info('edit request cancelled');
    this.running.cancel();
  }

  /** The prompt's input for a job: the code, and whole lines around it for context. */
  promptInput(job: EditJob): EditPromptInput {
    const { document: doc, range } = job;
    const text = doc.getText();
    const startLine = doc.positionAt(range.start).line;
    const endLine = doc.positionAt(range.end).line;
    const before = text.slice(doc.offsetAt(new vscode.Position(Math.max(0, startLine - CONTEXT_LINES), 0)), range.start);
    const after = text.slice(range.end, doc.offsetAt(new vscode.Position(endLine + CONTEXT_LINES + 1, 0)));
    return {
      kind: job.kind, instruction: job.instruction, diagnostic: job.diagnostic, code: text.slice(range.start, range.end),
      languageId: doc.languageId, filePath: relative(doc), before: job.kind === 'tests' ? '' : before, after: job.kind === 'tests' ? '' : after,
    };
  }

  /** Streams the model's change into a proposal, then offers Accept, Reject and Retry. */
  async edit(job: EditJob): Promise<void> {
    if (!this.ready()) return;
    const input = this.promptInput(job);
    const original = input.code;
    const what = `${relative(job.document)}, ${lineSpan(job.document, job.range)}`;
    const proposal = await this.proposals.propose(job.document, job.range, original, `SmallThinker: ${job.kind === 'edit' ? 'edit' : job.kind} ${what}`);
    // Closing the diff (or a newer proposal) while the model writes stops it.
    const answer = await this.stream(input, `SmallThinker: ${job.kind === 'edit' ? 'editing' : job.kind === 'fix' ? 'fixing' : 'documenting'} ${what}…`,
      (text) => this.proposals.update(proposal, fitReplacement(extractCode(text), original)), proposal.settled);
    if (this.proposals.active !== proposal) return;  // closed meanwhile
    const code = extractCode(answer.text);
    if (answer.outcome !== 'done' || !code.trim()) {
      // Cancelled (Escape) or failed: nothing half-written is offered.
      this.proposals.reject();
      if (answer.outcome === 'done') void vscode.window.showInformationMessage('SmallThinker did not propose any code. Try again or rephrase.');
      return;
    }
    this.proposals.update(proposal, fitReplacement(code, original));
    const pick = await Promise.race([
      vscode.window.showInformationMessage(`SmallThinker proposes a change to ${what}.`, 'Accept', 'Reject', 'Retry'),
      proposal.settled.then(() => undefined),  // accepted or rejected from the diff editor's title bar
    ]);
    if (pick === 'Accept') await this.proposals.accept();
    else if (pick === 'Reject') this.proposals.reject();
    else if (pick === 'Retry') {
      this.proposals.reject();
      await this.edit(job);
    }
  }

  /** Streams tests into a new untitled editor of the code's language. */
  async writeTests(job: EditJob): Promise<void> {
    if (!this.ready()) return;
    const input = this.promptInput(job);
    const doc = await vscode.workspace.openTextDocument({ language: job.document.languageId, content: '' });
    const editor = await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.Beside, preview: false });
    let shown = '';
    let writing = Promise.resolve();
    const show = (code: string) => {
      writing = writing.then(async () => {
        if (code === shown || editor.document.isClosed) return;
        const all = new vscode.Range(new vscode.Position(0, 0), editor.document.positionAt(editor.document.getText().length));
        if (await editor.edit((b) => b.replace(all, code), { undoStopBefore: false, undoStopAfter: false })) shown = code;
      });
    };
    const answer = await this.stream(input, `SmallThinker: writing tests for ${relative(job.document)}…`, (text) => show(extractCode(text)));
    show(extractCode(answer.text));  // a cancelled answer keeps what was written
    await writing;
  }

  /** Code from a chat answer as a proposal: at its question's target, or at the active editor's selection or cursor. */
  async apply(code: string, targets: EditTarget[], editor: vscode.TextEditor | undefined): Promise<void> {
    let target = targets[0];
    if (targets.length > 1) {
      const pick = await vscode.window.showQuickPick(targets.map((t) => ({ label: t.label, target: t })), { title: 'Apply the code to…' });
      if (!pick) return;
      target = pick.target;
    }
    let document: vscode.TextDocument;
    let range: OffsetRange | undefined;
    if (target) {
      document = await vscode.workspace.openTextDocument(vscode.Uri.parse(target.uri));
      range = locateTarget(document.getText(), target, this.tracker);
      if (!range) {
        void vscode.window.showWarningMessage(`The code attached from ${target.label} is no longer in the file. ` +
          'Select where the code should go, and Apply again with nothing attached.');
        return;
      }
    } else {
      if (!editor) return void vscode.window.showInformationMessage('Open the file to apply the code to, and select what it replaces.');
      document = editor.document;
      range = { start: document.offsetAt(editor.selection.start), end: document.offsetAt(editor.selection.end) };
    }
    const original = document.getText().slice(range.start, range.end);
    const replacement = target?.wholeFile ? code : fitReplacement(code, original);
    const proposal = await this.proposals.propose(document, range, replacement, `SmallThinker: apply to ${relative(document)}`);
    const pick = await Promise.race([
      vscode.window.showInformationMessage(`Apply this change to ${relative(document)}, ${lineSpan(document, range)}?`, 'Accept', 'Reject'),
      proposal.settled.then(() => undefined),
    ]);
    if (pick === 'Accept') await this.proposals.accept();
    else if (pick === 'Reject') this.proposals.reject();
  }

  private ready(): boolean {
    if (this.hasModel()) return true;
    void vscode.window.showInformationMessage('SmallThinker has no model loaded yet.', 'Select Model File…', 'Download Model…').then((pick) => {
      if (pick) void vscode.commands.executeCommand(pick.startsWith('Select') ? 'smallthinker.selectModel' : 'smallthinker.downloadModel');
    });
    return false;
  }

  /** One engine chat request with a notification that can cancel it: the text it gave and how it ended. */
  private async stream(input: EditPromptInput, title: string, onText: (text: string) => void, stopWhen?: Promise<unknown>):
    Promise<{ text: string; outcome: 'done' | 'cancelled' | 'failed' }> {
    this.cancel();
    const listeners: Array<() => void> = [];
    const signal = { cancel: () => listeners.splice(0).forEach((cb) => cb()), onCancel: (cb: () => void) => listeners.push(cb) };
    void stopWhen?.then(() => {
      if (this.running === signal) signal.cancel();
    });
    this.running = signal;
    await vscode.commands.executeCommand('setContext', RUNNING_KEY, true);
    let text = '';
    let timer: NodeJS.Timeout | undefined;
    try {
      return await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, async (_progress, token) => {
        token.onCancellationRequested(() => signal.cancel());
        try {
          const result = await this.engine.chat({
            chatId: `edit-${++this.chats}`, messages: editMessages(input), maxTokens: setting('chat.maxTokens'), temperature: EDIT_TEMPERATURE,
          }, signal, (delta) => {
            text += delta;
            timer ??= setTimeout(() => {
              timer = undefined;
              onText(text);
            }, STREAM_REFRESH_MS);
          });
          return { text: result.text, outcome: 'done' as const };
        } catch (err) {
          if ((err as { code?: number }).code === EngineErrorCodes.RequestCancelled) return { text, outcome: 'cancelled' as const };
          this.log.warn(`${input.kind} request failed: ${(err as Error).message}`);
          void vscode.window.showErrorMessage(`SmallThinker could not answer: ${(err as Error).message}`);
          return { text, outcome: 'failed' as const };
        }
      });
    } finally {
      clearTimeout(timer);
      if (this.running === signal) {
        this.running = undefined;
        await vscode.commands.executeCommand('setContext', RUNNING_KEY, false);
      }
    }
  }
}
