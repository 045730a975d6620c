// Inline completions in the editor: the provider, the warm-ups that evaluate a document's prompt
// while the engine is idle, the code from other files the prompts carry, and the commands that
// switch completions off and accept a suggestion line by line.
import * as vscode from 'vscode';
import type { Inference } from '../inference';
import { PowerWatch } from '../power';
import { setting, updateSetting } from '../settings';
import { CompletionContextSources } from './context-sources';
import { CompletionPipeline, type CompletionSettings } from './pipeline';
import { cursorText, InlineProvider } from './provider';

// Read only while smallthinker.inlineCompletion.pauseOnBattery is on (the platform is asked at most once a minute).
const power = new PowerWatch();

export function completionSettings(): CompletionSettings {
  return {
    pausedOnBattery: setting('inlineCompletion.pauseOnBattery') && power.current() === 'battery',
    enabled: setting('inlineCompletion.enabled'),
    debounceMs: setting('inlineCompletion.debounceMs'),
    maxTokens: setting('inlineCompletion.maxTokens'),
    languages: setting('inlineCompletion.languages') as Record<string, boolean>,
    promptFormat: setting('completion.promptFormat') as CompletionSettings['promptFormat'],
  };
}

/** Waits this long after the active editor changes or the cursor jumps before warming. */
const WARM_DELAY_MS = 300;

export function registerCompletions(engine: Inference, log: vscode.LogOutputChannel): vscode.Disposable[] {
  // Code from other files for completion prompts (smallthinker.completion.context.enabled).
  const contextSources = new CompletionContextSources(() => setting('completion.context.enabled'));

  // Warm-ups: evaluate a document's completion prompt while the engine is idle (the engine
  // ignores them when busy), so the first suggestion after opening a file or jumping is fast.
  const lastLine = new Map<string, number>();
  let warmTimer: NodeJS.Timeout | undefined;
  const warmNow = (editor: vscode.TextEditor) => {
    const s = completionSettings();
    const doc = editor.document;
    if (!engine.modelName || !s.enabled || doc.uri.scheme === 'output' || !(s.languages[doc.languageId] ?? s.languages['*'] ?? true)) return;
    const { prefix, suffix } = cursorText(doc, editor.selection.active);
    // The same context the next completion will carry, so that the warmed state is reused.
    void contextSources.forDocument(doc).then((chunks) => {
      engine.warm({
        documentId: doc.uri.toString(), languageId: doc.languageId, filePath: vscode.workspace.asRelativePath(doc.uri, false), prefix, suffix,
        format: s.promptFormat, ...(chunks.length ? { context: chunks } : {}),
      });
      log.debug(`warming the completion state of ${doc.uri.toString()}`);
    }, (err: unknown) => log.warn(`warm-up skipped: ${(err as Error).message}`));
  };
  const warm = (editor: vscode.TextEditor) => {
    clearTimeout(warmTimer);
    warmTimer = setTimeout(() => {
      try {
        warmNow(editor);
      } catch (err) {
        log.warn(`warm-up skipped: ${(err as Error).message}`);
      }
    }, WARM_DELAY_MS);
  };

  const pipeline = new CompletionPipeline(completionSettings, (params, token) => engine.complete(params, token), (m) => log.debug(m));
  const provider = new InlineProvider(pipeline, log, (result) => engine.completed(result), () => engine.modelName !== undefined,
    (document) => contextSources.forDocument(document));

  return [
    contextSources,
    { dispose: () => clearTimeout(warmTimer) },
    vscode.languages.registerInlineCompletionItemProvider({ pattern: '**' }, provider),
    vscode.window.onDidChangeActiveTextEditor((e) => e && warm(e)),
    vscode.workspace.onDidCloseTextDocument((d) => lastLine.delete(d.uri.toString())),
    vscode.window.onDidChangeTextEditorSelection((e) => {
      // A jump (a click or a search, not typing) moves the cursor by more than a line.
      const line = e.selections[0]?.active.line ?? 0;
      const jumped = Math.abs(line - (lastLine.get(e.textEditor.document.uri.toString()) ?? line)) > 1;
      lastLine.set(e.textEditor.document.uri.toString(), line);
      if (jumped && e.kind !== vscode.TextEditorSelectionChangeKind.Command) warm(e.textEditor);
    }),
    // One line of a multi-line suggestion at a time (Shift+Tab while ghost text shows): VS Code's
    // own partial accept, so the rest stays on screen and the next press takes the next line.
    vscode.commands.registerCommand('smallthinker.acceptNextLine', () => vscode.commands.executeCommand('editor.action.inlineSuggest.acceptNextLine')),
    vscode.commands.registerCommand('smallthinker.toggleInlineCompletions',
      () => updateSetting('inlineCompletion.enabled', !setting('inlineCompletion.enabled'))),
  ];
}
