// The extension host side: activation wires the commands, the inline-completion provider and
// the status bar. It never loads the native addon: inference runs in the engine child process
// (README, "Where things live"), which the supervisor starts on first use, restarts after a crash and stops on
// deactivation.
import path from 'node:path';
import * as vscode from 'vscode';
import { ChatDeltaNotification, ChatRequest, CompletionRequest, StatsRequest, WarmCompletionNotification, type ChatMessage,
  type CompletionPromptFormat } from '../engine/protocol';
import { ChatController, type ChatEngine } from './chat/controller';
import { ChatViewProvider } from './chat/view';
import { MODEL_CATALOG } from './download/catalog';
import { DownloadBusyError, DownloadCancelledError, downloadFile, isDownloading } from './download/downloader';
import { CompletionPipeline, type CompletionSettings } from './completion/pipeline';
import { CompletionContextSources } from './completion/context-sources';
import { cursorText, InlineProvider } from './completion/provider';
import { EngineSupervisor } from './engine-supervisor';
import { IdleUnload } from './idle-unload';
import { PowerWatch } from './power';
import { StatusBar, type StatusState } from './status';

let engine: EngineSupervisor | undefined;

/** Code from a document (the selection, or the whole text up to a cap) as a chat attachment. */
function attachmentFrom(editor: vscode.TextEditor, what: 'selection' | 'file') {
  const doc = editor.document;
  // The engine's prompt cap still applies; a huge file is cut here so the request stays reasonable.
  const code = what === 'selection' ? doc.getText(editor.selection) : doc.getText().slice(0, 24_000);
  return { code, languageId: doc.languageId, filePath: vscode.workspace.asRelativePath(doc.uri, false) };
}

// Read only while smallthinker.inlineCompletion.pauseOnBattery is on (the platform is asked at most once a minute).
const power = new PowerWatch();

function completionSettings(): CompletionSettings {
  const c = vscode.workspace.getConfiguration('smallthinker.inlineCompletion');
  return {
    pausedOnBattery: c.get<boolean>('pauseOnBattery', false) && power.current() === 'battery',
    enabled: c.get<boolean>('enabled', true),
    debounceMs: c.get<number>('debounceMs', 150),
    maxTokens: c.get<number>('maxTokens', 64),
    languages: c.get<Record<string, boolean>>('languages', { '*': true }),
    promptFormat: vscode.workspace.getConfiguration('smallthinker.completion').get<CompletionPromptFormat>('promptFormat', 'prefix'),
  };
}

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('SmallThinker', { log: true });
  context.subscriptions.push(log);
  // The bundle lives in dist/, next to dist/engine.js. The stall timeout counts time without
  // progress (the engine's heartbeat shows its native work advancing every second), so a long
  // prompt or answer never reaches it; 30 s of none is an engine that hangs.
  const supervisor = new EngineSupervisor({
    enginePath: path.join(__dirname, 'engine.js'), log: (level, message) => log[level](message), stallTimeoutMs: 30_000,
  });
  engine = supervisor;
  const status = new StatusBar('smallthinker.statusMenu');
  context.subscriptions.push(status);
  let readyModel: string | undefined;  // the loaded model's name
  const readyStatus = (): StatusState =>
    !readyModel ? { kind: 'no-model' } : completionSettings().enabled ? { kind: 'ready', model: readyModel } : { kind: 'disabled' };
  // After smallthinker.idleUnloadMinutes without a request the engine process ends and its memory
  // goes back to the system; the next completion or chat loads the model again.
  const idle = new IdleUnload({
    minutes: () => vscode.workspace.getConfiguration('smallthinker').get<number>('idleUnloadMinutes', 30),
    unload: () => supervisor.unload(),
    onUnloaded: (minutes) => {
      log.info(`model unloaded after ${minutes} minutes without a request; the next one loads it again`);
      if (readyModel) status.set({ kind: 'unloaded', model: readyModel, minutes });
      status.memory(0);
    },
  });
  context.subscriptions.push({ dispose: () => idle.stop() });
  // Code from other files for completion prompts (smallthinker.completion.context.enabled).
  const contextSources = new CompletionContextSources(
    () => vscode.workspace.getConfiguration('smallthinker.completion.context').get<boolean>('enabled', true));
  context.subscriptions.push(contextSources);
  /** Runs one engine request under the idle clock, saying so in the status bar when it has to load the model again. */
  const engineRequest = async <R>(run: () => Promise<R>): Promise<R> => {
    const end = idle.begin();
    const reloading = supervisor.unloaded && readyModel !== undefined;
    if (reloading) status.set({ kind: 'loading', detail: `loading ${readyModel} again` });
    try {
      return await run();
    } finally {
      end();
      if (reloading && status.current.kind === 'loading') status.set(readyStatus());
    }
  };

  const loadModel = async () => {
    const config = vscode.workspace.getConfiguration('smallthinker');
    const modelPath = config.get<string>('modelPath', '');
    readyModel = undefined;
    idle.stop();
    chat.show();
    if (!modelPath) {
      status.set({ kind: 'no-model' });
      return;
    }
    status.set({ kind: 'loading', detail: `loading ${path.basename(modelPath)}` });
    try {
      const info = await supervisor.loadModel({
        modelPath, threads: config.get<number>('threads', 0), contextLength: config.get<number>('contextLength', 8192) || undefined,
        memoryBudgetMiB: config.get<number>('memoryBudgetMiB', 0),
      });
      log.info(`model ready: ${info.name} (${info.isa}, ${info.threads} threads, chat template: ${info.chatTemplate}, completion formats: ${info.completionFormats.join(', ')})`);
      if (info.memory.budgetPlan) log.info(info.memory.budgetPlan);
      readyModel = info.name;
      chat.show();
      status.set(readyStatus());
      idle.start();
      status.memory((await supervisor.request0(StatsRequest)).memory.rssBytes);
    } catch (err) {
      const message = (err as Error).message;
      log.error(`loading ${modelPath} failed: ${message}`);
      status.set({ kind: 'error', message });
      void vscode.window.showErrorMessage(`SmallThinker could not load the model: ${message}`, 'Select Model File…', 'Show Logs').then((pick) => {
        if (pick === 'Show Logs') log.show();
        else if (pick) void vscode.commands.executeCommand('smallthinker.selectModel');
      });
    }
  };

  // Chat: one conversation in the sidebar view, its deltas routed by chat id.
  const deltaHandlers = new Map<string, (text: string) => void>();
  supervisor.onNotification(ChatDeltaNotification, (d) => deltaHandlers.get(d.chatId)?.(d.text));
  const chatEngine: ChatEngine = {
    chat: async (params, signal, onDelta) => {
      const source = new vscode.CancellationTokenSource();
      signal.onCancel(() => source.cancel());
      deltaHandlers.set(params.chatId, onDelta);
      log.info(`chat request: ${params.messages.length} messages, up to ${params.maxTokens} tokens`);
      if (readyModel) status.set({ kind: 'generating', model: readyModel });
      try {
        const result = await engineRequest(() => supervisor.request(ChatRequest, params, source.token as never));
        log.info(`chat answer: ${result.timings.generatedTokens} tokens (${result.stopReason}), ${result.timings.promptTokens} prompt tokens evaluated, ` +
          `${result.timings.reusedTokens} reused, ${result.timings.decodeTokensPerSecond.toFixed(1)} tokens/s`);
        status.speed(result.timings.decodeTokensPerSecond);
        return result;
      } catch (err) {
        log.info(`chat request ended: ${(err as Error).message}`);
        throw err;
      } finally {
        deltaHandlers.delete(params.chatId);
        source.dispose();
        if (status.current.kind === 'generating') status.set(readyModel ? { kind: 'ready', model: readyModel } : { kind: 'no-model' });
      }
    },
  };
  let lastEditor = vscode.window.activeTextEditor;
  // Warm-ups: evaluate a document's completion prompt while the engine is idle (the engine
  // ignores them when busy), so the first suggestion after opening a file or jumping is fast.
  const lastLine = new Map<string, number>();
  let warmTimer: NodeJS.Timeout | undefined;
  const warm = (editor: vscode.TextEditor) => {
    clearTimeout(warmTimer);
    warmTimer = setTimeout(() => {
      try {
        warmNow(editor);
      } catch (err) {
        log.warn(`warm-up skipped: ${(err as Error).message}`);
      }
    }, 300);
  };
  const warmNow = (editor: vscode.TextEditor) => {
    const s = completionSettings();
    const doc = editor.document;
    if (!readyModel || !s.enabled || doc.uri.scheme === 'output' || !(s.languages[doc.languageId] ?? s.languages['*'] ?? true)) return;
    const { prefix, suffix } = cursorText(doc, editor.selection.active);
    // The same context the next completion will carry, so that the warmed state is reused.
    void contextSources.forDocument(doc).then((chunks) => {
      supervisor.notify(WarmCompletionNotification, {
        documentId: doc.uri.toString(), languageId: doc.languageId, filePath: vscode.workspace.asRelativePath(doc.uri, false), prefix, suffix,
        format: s.promptFormat, ...(chunks.length ? { context: chunks } : {}),
      });
      log.debug(`warming the completion state of ${doc.uri.toString()}`);
    }, (err: unknown) => log.warn(`warm-up skipped: ${(err as Error).message}`));
  };
  const chatView = new ChatViewProvider(context.extensionUri, () => chat, {
    selectModel: () => void vscode.commands.executeCommand('smallthinker.selectModel'),
    downloadModel: () => void vscode.commands.executeCommand('smallthinker.downloadModel'),
    insert: (code) => {
      const editor = lastEditor;
      if (!editor) return void vscode.window.showInformationMessage('Open an editor to insert the code into.');
      void editor.edit((b) => b.replace(editor.selection, code));
    },
    selection: () => (lastEditor && !lastEditor.selection.isEmpty ? attachmentFrom(lastEditor, 'selection') : undefined),
    file: () => (lastEditor ? attachmentFrom(lastEditor, 'file') : undefined),
  });
  const chat = new ChatController(chatEngine, {
    load: () => context.workspaceState.get<{ chatId: string; messages: ChatMessage[] }>('smallthinker.chat'),
    save: (value) => void context.workspaceState.update('smallthinker.chat', value),
  }, (m) => chatView.post(m), () => readyModel !== undefined, () => {
    const c = vscode.workspace.getConfiguration('smallthinker.chat');
    return { maxTokens: c.get<number>('maxTokens', 1024), temperature: c.get<number>('temperature', 0.6) };
  });

  supervisor.onStateChange((state, detail) => {
    log.info(`engine ${state}${detail ? `: ${detail}` : ''}`);
    if (state === 'failed') status.set({ kind: 'error', message: detail ?? 'the engine stopped' });
  });

  const pipeline = new CompletionPipeline(completionSettings,
    (params, token) => engineRequest(() => supervisor.request(CompletionRequest, params, token as never)), (m) => log.debug(m));
  const provider = new InlineProvider(pipeline, log, (tps) => {
    status.speed(tps);
    supervisor.request0(StatsRequest).then((s) => status.memory(s.memory.rssBytes), () => undefined);
  }, () => readyModel !== undefined, (document) => contextSources.forDocument(document));

  context.subscriptions.push(
    vscode.languages.registerInlineCompletionItemProvider({ pattern: '**' }, provider),
    vscode.window.registerWebviewViewProvider('smallthinker.chat', chatView, { webviewOptions: { retainContextWhenHidden: true } }),
    vscode.window.onDidChangeActiveTextEditor((e) => {
      if (!e) return;
      lastEditor = e;
      warm(e);
    }),
    vscode.workspace.onDidCloseTextDocument((d) => lastLine.delete(d.uri.toString())),
    vscode.window.onDidChangeTextEditorSelection((e) => {
      // A jump (a click or a search, not typing) moves the cursor by more than a line.
      const line = e.selections[0]?.active.line ?? 0;
      const jumped = Math.abs(line - (lastLine.get(e.textEditor.document.uri.toString()) ?? line)) > 1;
      lastLine.set(e.textEditor.document.uri.toString(), line);
      if (jumped && e.kind !== vscode.TextEditorSelectionChangeKind.Command) warm(e.textEditor);
    }),
    vscode.commands.registerCommand('smallthinker.openChat', () => vscode.commands.executeCommand('smallthinker.chat.focus')),
    vscode.commands.registerCommand('smallthinker.newChat', async () => {
      await vscode.commands.executeCommand('smallthinker.chat.focus');
      chat.newChat();
    }),
    vscode.commands.registerCommand('smallthinker.stopGeneration', () => chat.stop()),
    vscode.commands.registerCommand('smallthinker.explainSelection', async () => {
      const editor = vscode.window.activeTextEditor ?? lastEditor;
      if (!editor || editor.selection.isEmpty) return void vscode.window.showInformationMessage('Select some code to explain first.');
      const attachment = attachmentFrom(editor, 'selection');
      await vscode.commands.executeCommand('smallthinker.chat.focus');
      void chat.ask(`Explain what this ${attachment.languageId} code does.`, attachment);
    }),
    // One line of a multi-line suggestion at a time (Shift+Tab while ghost text shows): VS Code's
    // own partial accept, so the rest stays on screen and the next press takes the next line.
    vscode.commands.registerCommand('smallthinker.acceptNextLine', () => vscode.commands.executeCommand('editor.action.inlineSuggest.acceptNextLine')),
    vscode.commands.registerCommand('smallthinker.showLogs', () => log.show()),
    vscode.commands.registerCommand('smallthinker.restartEngine', () => {
      log.info('restarting the engine on request');
      supervisor.restart();
      void loadModel();
    }),
    vscode.commands.registerCommand('smallthinker.toggleInlineCompletions', async () => {
      const c = vscode.workspace.getConfiguration('smallthinker.inlineCompletion');
      await c.update('enabled', !c.get<boolean>('enabled', true), vscode.ConfigurationTarget.Global);
    }),
    vscode.commands.registerCommand('smallthinker.selectModel', async () => {
      const picked = await vscode.window.showOpenDialog({
        canSelectMany: false, openLabel: 'Use This Model', filters: { 'GGUF model': ['gguf'] }, title: 'Select a SmallThinker GGUF file',
      });
      if (picked?.[0]) await vscode.workspace.getConfiguration('smallthinker').update('modelPath', picked[0].fsPath, vscode.ConfigurationTarget.Global);
    }),
    vscode.commands.registerCommand('smallthinker.downloadModel', async () => {
      const pick = await vscode.window.showQuickPick(MODEL_CATALOG.map((m) => ({ label: m.label, detail: m.detail, model: m })),
        { title: 'Download a SmallThinker model' });
      if (!pick) return;
      const base = vscode.workspace.getConfiguration('smallthinker.download').get<string>('baseUrl', 'https://huggingface.co').replace(/\/+$/, '');
      const folder = vscode.Uri.joinPath(context.globalStorageUri, 'models');
      await vscode.workspace.fs.createDirectory(folder);
      const dest = vscode.Uri.joinPath(folder, pick.model.fileName).fsPath;
      if (isDownloading(dest)) return void vscode.window.showInformationMessage(`${pick.model.fileName} is already downloading.`);
      const mb = (n: number) => (n / 1e6).toFixed(0);
      try {
        await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Downloading ${pick.model.fileName}`, cancellable: true },
          async (progress, token) => {
            const abort = new AbortController();
            token.onCancellationRequested(() => abort.abort());
            let shown = 0;
            await downloadFile({
              url: `${base}/${pick.model.path}`, dest, expectedBytes: pick.model.bytes, sha256: pick.model.sha256, signal: abort.signal,
              onProgress: (p) => {
                if (p.phase === 'verifying') {
                  progress.report({ message: `checking the file: ${Math.floor((100 * p.verified) / Math.max(1, p.total))} %` });
                  return;
                }
                const pct = p.total ? (100 * p.received) / p.total : 0;
                progress.report({
                  increment: pct - shown,
                  message: `${mb(p.received)}${p.total ? ` of ${mb(p.total)}` : ''} MB · ${(p.bytesPerSecond / 1e6).toFixed(1)} MB/s`,
                });
                shown = pct;
              },
            });
          });
      } catch (err) {
        const message = (err as Error).message;
        // A cancellation, or a download already running, is not an error. The messages end with
        // what running the download again will do, or with a path: no period after them.
        if (err instanceof DownloadCancelledError || err instanceof DownloadBusyError) {
          log.info(`download of ${pick.model.fileName}: ${message}`);
          void vscode.window.showInformationMessage(`SmallThinker: ${message}`);
        } else {
          log.error(`download of ${pick.model.fileName} failed: ${message}`);
          void vscode.window.showErrorMessage(`The download of ${pick.model.fileName} did not finish: ${message}`);
        }
        return;
      }
      log.info(`downloaded ${dest}`);
      await vscode.workspace.getConfiguration('smallthinker').update('modelPath', dest, vscode.ConfigurationTarget.Global);
    }),
    vscode.commands.registerCommand('smallthinker.statusMenu', async () => {
      const enabled = completionSettings().enabled;
      const items = [
        { label: '$(comment-discussion) Open Chat', command: 'smallthinker.openChat' },
        { label: enabled ? '$(debug-pause) Turn Inline Completions Off' : '$(play) Turn Inline Completions On', command: 'smallthinker.toggleInlineCompletions' },
        { label: '$(file) Select Model File…', command: 'smallthinker.selectModel' },
        { label: '$(cloud-download) Download Model…', command: 'smallthinker.downloadModel' },
        { label: '$(output) Show Logs', command: 'smallthinker.showLogs' },
        { label: '$(debug-restart) Restart Engine', command: 'smallthinker.restartEngine' },
      ];
      const pick = await vscode.window.showQuickPick(items, { title: 'SmallThinker' });
      if (pick) await vscode.commands.executeCommand(pick.command);
    }),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (['modelPath', 'threads', 'contextLength', 'memoryBudgetMiB'].some((k) => e.affectsConfiguration(`smallthinker.${k}`))) void loadModel();
      else if (e.affectsConfiguration('smallthinker.idleUnloadMinutes') && readyModel && !supervisor.unloaded) idle.start();
      else if (e.affectsConfiguration('smallthinker.inlineCompletion.enabled') && status.current.kind !== 'error') {
        status.set(readyStatus());
      }
    }),
  );
  void loadModel();
  log.info(`SmallThinker ${context.extension.packageJSON.version as string} activated`);
}

export async function deactivate(): Promise<void> {
  const running = engine;
  engine = undefined;
  await running?.dispose();
}
