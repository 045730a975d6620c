// A minimal stand-in for the `vscode` module, enough to activate the bundled extension in a
// plain Node test, see what it registers and call its inline-completion provider against the
// real engine. Real-editor behaviour is tested end to end.
import Module from 'node:module';
import path from 'node:path';

export interface FakeVscode {
  registeredCommands: Map<string, (...args: unknown[]) => unknown>;
  inlineProviders: Array<{ provideInlineCompletionItems: (...args: unknown[]) => Promise<unknown> }>;
  webviewProviders: Map<string, { resolveWebviewView(view: unknown): void }>;
  infos: string[];
  clipboard: string;
  /** Answers showQuickPick (absent: the user dismisses it). */
  quickPick?: (items: unknown[]) => unknown;
  /** Answers showWarningMessage with one of its buttons (absent: the user dismisses it). */
  warningAnswer?: (message: string, buttons: string[]) => string | undefined;
  /** Answers showInputBox (absent: the user dismisses it). */
  inputBox?: (options: { password?: boolean; value?: string }) => string | undefined;
  progress: string[];
  /** Makes `editor` the active text editor (and tells the extension, as opening a file does). */
  setActiveEditor(editor: unknown): void;
  /** Tells the extension a document changed at `line`, as typing does. */
  changeDocument(document: unknown, line: number): void;
  /** Tells the extension an editor's selection changed, as selecting text does. */
  changeSelection(editor: unknown): void;
  logLines: string[];
  shownLogs: number;
  statusText: () => string;
  settings: Map<string, unknown>;
  /** Changes a setting and fires onDidChangeConfiguration, as the Settings editor would. */
  setSetting(key: string, value: unknown): void;
  errors: string[];
  /** Documents openTextDocument can open, by URI. */
  documents: Map<string, unknown>;
  /** Commands run through executeCommand that the extension did not register (vscode.diff, setContext), with their arguments. */
  builtinCommands: Array<[string, ...unknown[]]>;
  /** Edits applied with workspace.applyEdit. */
  appliedEdits: Array<{ uri: string; range: Range; text: string }>;
  restore(): void;
}

export class Position {
  constructor(readonly line: number, readonly character: number) {}
}
export class Range {
  constructor(readonly start: Position, readonly end: Position) {}
}
export class InlineCompletionItem {
  constructor(readonly insertText: string, readonly range?: Range) {}
}

/** A webview view whose HTML and posted messages the test can read, and which it can send messages from. */
export function fakeWebviewView() {
  const fromView: Array<(m: unknown) => void> = [];
  const view = {
    posted: [] as Array<{ type: string; [k: string]: unknown }>,
    webview: {
      options: {}, html: '', cspSource: 'vscode-webview-resource:',
      asWebviewUri: (u: { path: string }) => ({ toString: () => `vscode-webview-resource:${u.path}` }),
      postMessage: async (m: { type: string }) => { view.posted.push(m); return true; },
      onDidReceiveMessage: (l: (m: unknown) => void) => { fromView.push(l); return { dispose: () => undefined }; },
    },
    onDidDispose: () => ({ dispose: () => undefined }),
    /** The webview script sends a message to the extension. */
    send: (m: unknown) => { for (const l of fromView) l(m); },
  };
  return view;
}

/** A text document over a string, with the cursor given by offset. */
export function fakeDocument(uri: string, languageId: string, text: string) {
  return {
    uri: { toString: () => uri, fsPath: uri.replace('file://', ''), path: uri.replace('file://', ''), scheme: uri.split(':')[0] },
    languageId,
    version: 1,
    getText: () => text,
    offsetAt: (p: Position) => {
      const lines = text.split('\n');
      let o = 0;
      for (let i = 0; i < p.line; i++) o += lines[i].length + 1;
      return o + p.character;
    },
    positionAt: (offset: number) => {
      const before = text.slice(0, offset).split('\n');
      return new Position(before.length - 1, before[before.length - 1].length);
    },
  };
}

export function installFakeVscode(initialSettings: Record<string, unknown> = {}): FakeVscode {
  const listeners: Array<(e: { affectsConfiguration: (s: string) => boolean }) => void> = [];
  const editorListeners: Array<(e: unknown) => void> = [];
  const documentListeners: Array<(e: unknown) => void> = [];
  const selectionListeners: Array<(e: unknown) => void> = [];
  const statusItem = { text: '', tooltip: '', name: '', command: '', backgroundColor: undefined as unknown, show() {}, dispose() {} };
  const state: FakeVscode = {
    registeredCommands: new Map(),
    inlineProviders: [],
    webviewProviders: new Map(),
    infos: [],
    clipboard: '',
    progress: [],
    setActiveEditor: (editor) => {
      (vscode.window as { activeTextEditor: unknown }).activeTextEditor = editor;
      for (const l of editorListeners) l(editor);
    },
    changeDocument: (document, line) => {
      for (const l of documentListeners) l({ document, contentChanges: [{ range: new Range(new Position(line, 0), new Position(line, 0)), rangeOffset: 0, rangeLength: 0, text: '' }] });
    },
    changeSelection: (editor) => {
      for (const l of selectionListeners) l({ textEditor: editor, selections: [(editor as { selection: unknown }).selection] });
    },
    logLines: [],
    shownLogs: 0,
    statusText: () => statusItem.text,
    settings: new Map(Object.entries(initialSettings)),
    setSetting: (key, value) => {
      state.settings.set(key, value);
      for (const l of listeners) l({ affectsConfiguration: (s) => key === s || key.startsWith(`${s}.`) });
    },
    errors: [],
    documents: new Map(),
    builtinCommands: [],
    appliedEdits: [],
    restore: () => undefined,
  };
  const channel = {
    info: (m: string) => state.logLines.push(`info ${m}`),
    warn: (m: string) => state.logLines.push(`warn ${m}`),
    error: (m: string) => state.logLines.push(`error ${m}`),
    debug: (m: string) => state.logLines.push(`debug ${m}`),
    trace: (m: string) => state.logLines.push(`trace ${m}`),
    appendLine: (m: string) => state.logLines.push(m),
    show: () => { state.shownLogs++; },
    dispose: () => undefined,
  };
  const vscode = {
    Position, Range, InlineCompletionItem,
    Uri: {
      joinPath: (base: { path: string }, ...parts: string[]) => {
        const p = path.posix.join(base.path, ...parts);
        return { path: p, fsPath: p, toString: () => p };
      },
      file: (p: string) => ({ path: p, fsPath: p, toString: () => `file://${p}` }),
      parse: (u: string) => ({ path: u.replace(/^\w+:\/\//, ''), fsPath: u.replace(/^\w+:\/\//, ''), toString: () => u }),
      from: (c: { scheme: string; path: string }) => ({ ...c, fsPath: c.path, toString: () => `${c.scheme}:${c.path}` }),
    },
    WorkspaceEdit: class {
      edits: Array<{ uri: string; range: Range; text: string }> = [];
      replace(uri: { toString(): string }, range: Range, text: string) { this.edits.push({ uri: uri.toString(), range, text }); }
    },
    CancellationTokenSource: class {
      private listeners: Array<() => void> = [];
      token = {
        isCancellationRequested: false,
        onCancellationRequested: (l: () => void) => {
          this.listeners.push(l);
          return { dispose: () => undefined };
        },
      };
      cancel() {
        if (this.token.isCancellationRequested) return;
        this.token.isCancellationRequested = true;
        for (const l of this.listeners) l();
      }
      dispose() {}
    },
    UIKind: { Desktop: 1, Web: 2 },
    env: { uiKind: 1, clipboard: { writeText: async (t: string) => { state.clipboard = t; }, readText: async () => state.clipboard } },
    InlineCompletionTriggerKind: { Invoke: 0, Automatic: 1 },
    StatusBarAlignment: { Left: 1, Right: 2 },
    ConfigurationTarget: { Global: 1, Workspace: 2, WorkspaceFolder: 3 },
    ProgressLocation: { SourceControl: 1, Window: 10, Notification: 15 },
    TextEditorSelectionChangeKind: { Keyboard: 1, Mouse: 2, Command: 3 },
    ThemeColor: class { constructor(readonly id: string) {} },
    ThemeIcon: class { constructor(readonly id: string) {} },
    EventEmitter: class<T> {
      private listeners: Array<(e: T) => void> = [];
      event = (l: (e: T) => void) => { this.listeners.push(l); return { dispose: () => undefined }; };
      fire(e: T) { for (const l of this.listeners) l(e); }
      dispose() { this.listeners = []; }
    },
    SymbolKind: { Class: 4, Method: 5, Constructor: 8, Enum: 9, Interface: 10, Function: 11 },
    CodeActionKind: { QuickFix: { value: 'quickfix' }, RefactorRewrite: { value: 'refactor.rewrite' } },
    DiagnosticSeverity: { Error: 0, Warning: 1, Information: 2, Hint: 3 },
    TabInputTextDiff: class { constructor(readonly original: unknown, readonly modified: unknown) {} },
    window: {
      createOutputChannel: () => channel,
      createStatusBarItem: () => statusItem,
      activeTextEditor: undefined as unknown,
      showErrorMessage: async (m: string) => { state.errors.push(m); return undefined; },
      showInformationMessage: async (m: string) => { state.infos.push(m); return undefined; },
      showWarningMessage: async (m: string, ...buttons: string[]) => {
        state.infos.push(m);
        return state.warningAnswer?.(m, buttons.filter((b) => typeof b === 'string'));
      },
      showInputBox: async (options: { password?: boolean; value?: string }) => state.inputBox?.(options),
      showTextDocument: async () => undefined,
      registerWebviewViewProvider: (id: string, provider: { resolveWebviewView(view: unknown): void }) => {
        state.webviewProviders.set(id, provider);
        return { dispose: () => undefined };
      },
      onDidChangeActiveTextEditor: (l: (e: unknown) => void) => {
        editorListeners.push(l);
        return { dispose: () => undefined };
      },
      onDidChangeTextEditorSelection: (l: (e: unknown) => void) => {
        selectionListeners.push(l);
        return { dispose: () => undefined };
      },
      onDidChangeTextEditorVisibleRanges: () => ({ dispose: () => undefined }),
      tabGroups: { all: [], onDidChangeTabs: () => ({ dispose: () => undefined }), close: async () => true },
      showQuickPick: async (items: unknown[]) => (state.quickPick ? state.quickPick(items) : undefined),
      withProgress: async (_o: unknown, task: (p: { report(v: { message?: string }): void }, t: unknown) => Promise<unknown>) =>
        task({ report: (v) => state.progress.push(v.message ?? '') }, { isCancellationRequested: false, onCancellationRequested: () => ({ dispose() {} }) }),
      showOpenDialog: async () => undefined,
    },
    workspace: {
      getConfiguration: (section: string) => ({
        get: <T>(key: string, fallback: T): T => (state.settings.has(`${section}.${key}`) ? state.settings.get(`${section}.${key}`) as T : fallback),
        update: async (key: string, value: unknown) => state.setSetting(`${section}.${key}`, value),
      }),
      onDidChangeConfiguration: (l: (e: { affectsConfiguration: (s: string) => boolean }) => void) => {
        listeners.push(l);
        return { dispose: () => undefined };
      },
      onDidCloseTextDocument: () => ({ dispose: () => undefined }),
      onDidChangeTextDocument: (l: (e: unknown) => void) => {
        documentListeners.push(l);
        return { dispose: () => undefined };
      },
      onDidDeleteFiles: () => ({ dispose: () => undefined }),
      registerTextDocumentContentProvider: () => ({ dispose: () => undefined }),
      openTextDocument: async (uri: { toString(): string }) => {
        const doc = state.documents.get(uri.toString());
        if (!doc) throw new Error(`no document ${uri.toString()}`);
        return doc;
      },
      applyEdit: async (edit: { edits: FakeVscode['appliedEdits'] }) => { state.appliedEdits.push(...edit.edits); return true; },
      getWorkspaceFolder: () => undefined,
      asRelativePath: (uri: { fsPath: string }) => uri.fsPath.replace(/^\//, ''),
      fs: {
        createDirectory: async (uri: { fsPath: string }) => void (await import('node:fs')).mkdirSync(uri.fsPath, { recursive: true }),
        readFile: async (uri: { fsPath: string }) => new Uint8Array((await import('node:fs')).readFileSync(uri.fsPath)),
      },
    },
    languages: {
      registerInlineCompletionItemProvider: (_selector: unknown, provider: FakeVscode['inlineProviders'][number]) => {
        state.inlineProviders.push(provider);
        return { dispose: () => undefined };
      },
      registerCodeActionsProvider: () => ({ dispose: () => undefined }),
      getDiagnostics: () => [],
    },
    commands: {
      registerCommand: (id: string, fn: (...args: unknown[]) => unknown) => {
        if (state.registeredCommands.has(id)) throw new Error(`command ${id} registered twice`);
        state.registeredCommands.set(id, fn);
        return { dispose: () => state.registeredCommands.delete(id) };
      },
      executeCommand: async (id: string, ...args: unknown[]) => {
        const command = state.registeredCommands.get(id);
        if (command) return command(...args);
        state.builtinCommands.push([id, ...args]);
        return undefined;
      },
    },
  };
  type Loader = (request: string, parent: unknown, isMain: boolean) => unknown;
  const mod = Module as unknown as { _load: Loader };
  const original = mod._load;
  mod._load = function (request, parent, isMain) {
    if (request === 'vscode') return vscode;
    return original.call(this, request, parent, isMain);
  };
  state.restore = () => { mod._load = original; };
  return state;
}
