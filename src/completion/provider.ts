// The VS Code side of inline completions: turns a document and a position into the pipeline's
// input, forwards VS Code's cancellation, and returns ghost text at the cursor.
import * as vscode from 'vscode';
import { EngineErrorCodes, type CompletionResult, type ContextChunk } from '../../engine/protocol';
import type { CompletionPipeline, CompletionInput } from './pipeline';

/** Text the request carries around the cursor; the engine trims it to its token budget. */
const PREFIX_CHARS = 24_000;
const SUFFIX_CHARS = 6_000;

/** The completion request's text for a cursor position (also what a warm-up evaluates). */
export function cursorText(document: vscode.TextDocument, position: vscode.Position): { prefix: string; suffix: string; documentChars: number } {
  const offset = document.offsetAt(position);
  const text = document.getText();
  return { prefix: text.slice(Math.max(0, offset - PREFIX_CHARS), offset), suffix: text.slice(offset, offset + SUFFIX_CHARS), documentChars: text.trim().length };
}

export class InlineProvider implements vscode.InlineCompletionItemProvider {
  constructor(private readonly pipeline: CompletionPipeline, private readonly log: vscode.LogOutputChannel,
    private readonly onResult: (result: CompletionResult) => void, private readonly modelReady: () => boolean,
    private readonly context: (document: vscode.TextDocument) => Promise<ContextChunk[]> = async () => []) {}

  async provideInlineCompletionItems(
    document: vscode.TextDocument, position: vscode.Position, context: vscode.InlineCompletionContext, token: vscode.CancellationToken,
  ): Promise<vscode.InlineCompletionItem[] | undefined> {
    if (!this.modelReady()) {
      this.log.trace('no completion: no model is loaded');
      return undefined;
    }
    const editor = vscode.window.activeTextEditor;
    const input: CompletionInput = {
      documentId: document.uri.toString(),
      languageId: document.languageId,
      filePath: vscode.workspace.asRelativePath(document.uri, false),
      ...cursorText(document, position),
      hasSelection: editor?.document === document && !editor.selection.isEmpty,
      explicit: context.triggerKind === vscode.InlineCompletionTriggerKind.Invoke,
      context: () => this.context(document),
    };
    try {
      const outcome = await this.pipeline.provide(input, token);
      if ('skipped' in outcome) {
        this.log.trace(`no completion: ${outcome.skipped}`);
        return undefined;
      }
      if (outcome.result) this.onResult(outcome.result);
      return [new vscode.InlineCompletionItem(outcome.text, new vscode.Range(position, position))];
    } catch (err) {
      // Cancellation is the normal end of most requests while typing.
      if ((err as { code?: number }).code === EngineErrorCodes.RequestCancelled || token.isCancellationRequested) return undefined;
      this.log.warn(`completion failed: ${(err as Error).message}`);
      return undefined;
    }
  }
}
