// The manifest and the extension agree (every contributed command is registered, settings are
// described and scoped), activation is clean, and with a model set the inline-completion
// provider answers through the real engine process.
import assert from 'node:assert/strict';
import path from 'node:path';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { MODEL_CATALOG } from './download/catalog';
import { fakeDocument, fakeWebviewView, installFakeVscode, Position, Range, type FakeVscode } from '../test/support/fake-vscode';
import { ensureModel } from '../test/generator/index';
import { tempDir } from '../test/support/temp-dir';

const root = path.resolve(__dirname, '..');
const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));

interface Extension {
  activate(context: unknown): void;
  deactivate(): Promise<void>;
}

function activate(settings: Record<string, unknown> = {}, context: Record<string, unknown> = {}):
  { fake: FakeVscode; ext: Extension; subscriptions: { dispose(): void }[] } {
  const fake = installFakeVscode(settings);
  const bundle = path.join(root, 'dist', 'extension.js');
  delete require.cache[bundle];
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ext = require(bundle) as Extension;
  const subscriptions: { dispose(): void }[] = [];
  ext.activate({
    subscriptions, extension: { packageJSON: manifest }, extensionUri: { path: root },
    workspaceState: { get: () => undefined, update: async () => undefined }, globalState: memento(), secrets: fakeSecrets(), ...context,
  });
  return { fake, ext, subscriptions };
}

function memento() {
  const values = new Map<string, unknown>();
  return { get: (k: string, d?: unknown) => (values.has(k) ? values.get(k) : d), update: async (k: string, v: unknown) => void values.set(k, v) };
}

function fakeSecrets(initial: Record<string, string> = {}) {
  const values = new Map(Object.entries(initial));
  const listeners: Array<(e: { key: string }) => void> = [];
  const changed = (key: string) => listeners.forEach((l) => l({ key }));
  return {
    get: async (k: string) => values.get(k),
    store: async (k: string, v: string) => (values.set(k, v), changed(k)),
    delete: async (k: string) => (values.delete(k), changed(k)),
    onDidChange: (l: (e: { key: string }) => void) => (listeners.push(l), { dispose: () => undefined }),
  };
}

async function until(check: () => boolean, what: string, ms = 20_000): Promise<void> {
  const t0 = Date.now();
  while (!check()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('extension (bundled dist/extension.js)', function () {
  this.timeout(60_000);

  it('registers exactly the commands the manifest contributes; without a model it says so and starts no engine', async () => {
    const { fake, ext, subscriptions } = activate();
    try {
      const contributed = manifest.contributes.commands.map((c: { command: string }) => c.command).sort();
      assert.deepEqual([...fake.registeredCommands.keys()].sort(), contributed);
      assert.equal(fake.inlineProviders.length, 1);
      fake.registeredCommands.get('smallthinker.showLogs')!();
      assert.equal(fake.shownLogs, 1);
      assert.match(fake.logLines.join('\n'), /activated/);
      assert.match(fake.statusText(), /circle-slash/);
      assert.doesNotMatch(fake.logLines.join('\n'), /engine starting/, 'no model: no engine');
      fake.registeredCommands.get('smallthinker.restartEngine')!();
      await until(() => /engine ready/.test(fake.logLines.join('\n')), 'the engine');
    } finally {
      for (const s of subscriptions) s.dispose();
      await ext.deactivate();
      fake.restore();
    }
    assert.match(fake.logLines.join('\n'), /engine stopped/);
  });

  it('loads the configured model and shows ghost text from the engine; a bad model path is a clear error', async () => {
    const model = await ensureModel({ preset: 'tiny', type: 'q4_0', vocab: 'qwen' });
    const { fake, ext, subscriptions } = activate({ 'smallthinker.modelPath': model, 'smallthinker.threads': 2, 'smallthinker.inlineCompletion.debounceMs': 0 });
    try {
      await until(() => /sparkle/.test(fake.statusText()), 'the model to load');
      const text = 'export function add(a: number, b: number): number {\n  \n}\n';
      const doc = fakeDocument('file:///work/src/add.ts', 'typescript', text);
      const token = { isCancellationRequested: false, onCancellationRequested: () => ({ dispose() {} }) };
      const items = await fake.inlineProviders[0].provideInlineCompletionItems(doc, new Position(1, 2), { triggerKind: 0 }, token) as
        Array<{ insertText: string }> | undefined;
      // A random-weight model may say something the filters drop; either way the log says what happened.
      const logged = fake.logLines.join('\n');
      assert.ok(items?.[0]?.insertText || /completion dropped/.test(logged), logged);
      // Opening another file warms its completion state in the background.
      const other = fakeDocument('file:///work/src/mul.ts', 'typescript', 'export function mul(a: number, b: number) {\n  \n}\n');
      fake.setActiveEditor({ document: other, selection: { isEmpty: true, active: new Position(1, 2) } });
      await until(() => /warming the completion state of file:\/\/\/work\/src\/mul\.ts/.test(fake.logLines.join('\n')), 'a warm-up');
      // A memory budget reloads the model under it and logs the plan.
      fake.setSetting('smallthinker.memoryBudgetMiB', 2048);
      await until(() => /memory plan for a budget of 2048 MiB/.test(fake.logLines.join('\n')), 'the memory plan');
      await until(() => /sparkle/.test(fake.statusText()), 'the model to load under the budget');
      fake.setSetting('smallthinker.modelPath', '/no/such/model.gguf');
      await until(() => /error/.test(fake.statusText()), 'the error state');
      assert.match(fake.errors.join('\n'), /could not load the model: .*\/no\/such\/model\.gguf/);
    } finally {
      for (const s of subscriptions) s.dispose();
      await ext.deactivate();
      fake.restore();
    }
  });

  it('unloads the model after the idle minutes (the status bar says so) and loads it again for the next completion', async () => {
    const model = await ensureModel({ preset: 'tiny', type: 'q4_0', vocab: 'qwen' });
    // 0.005 minutes: 300 ms without a request.
    const { fake, ext, subscriptions } = activate({ 'smallthinker.modelPath': model, 'smallthinker.threads': 2,
      'smallthinker.inlineCompletion.debounceMs': 0, 'smallthinker.idleUnloadMinutes': 0.005 });
    try {
      await until(() => /circle-outline/.test(fake.statusText()), 'the model to load, then be unloaded');
      assert.match(fake.logLines.join('\n'), /model unloaded after 0.005 minutes without a request/);
      const text = 'export function add(a: number, b: number): number {\n  \n}\n';
      const doc = fakeDocument('file:///work/src/add.ts', 'typescript', text);
      const token = { isCancellationRequested: false, onCancellationRequested: () => ({ dispose() {} }) };
      await fake.inlineProviders[0].provideInlineCompletionItems(doc, new Position(1, 2), { triggerKind: 1 }, token);
      assert.match(fake.logLines.join('\n'), /loading .* again \(it was unloaded while idle\)/);
      assert.match(fake.logLines.join('\n'), /completion (in \d+ ms|dropped)/, 'the request was answered by the reloaded model');
      await until(() => /circle-outline/.test(fake.statusText()), 'the idle clock to run again after the request');
    } finally {
      for (const s of subscriptions) s.dispose();
      await ext.deactivate();
      fake.restore();
    }
  });

  it('puts code from other files in completion prompts: an edited file and an import, named in the debug log; none when turned off', async () => {
    const model = await ensureModel({ preset: 'tiny', type: 'q4_0', vocab: 'qwen' });
    const dir = tempDir('st-context-');
    fs.writeFileSync(path.join(dir, 'stats.ts'), 'export function mean(xs: number[]): number {\n  return 0;\n}\nconst hidden = 1;\n');
    const { fake, ext, subscriptions } = activate({ 'smallthinker.modelPath': model, 'smallthinker.threads': 2 });
    try {
      await until(() => /sparkle/.test(fake.statusText()), 'the model to load');
      const other = fakeDocument(`file://${dir}/notes.ts`, 'typescript', 'const a = 1;\nexport const answer = 42;\n');
      fake.changeDocument(other, 1);
      const main = fakeDocument(`file://${dir}/main.ts`, 'typescript', "import { mean } from './stats';\n\nexport function spread(xs: number[]) {\n  \n}\n");
      await new Promise((r) => setTimeout(r, 1600));  // the edit's chunk is taken, and the user has paused
      const token = { isCancellationRequested: false, onCancellationRequested: () => ({ dispose() {} }) };
      await fake.inlineProviders[0].provideInlineCompletionItems(main, new Position(3, 2), { triggerKind: 0 }, token);
      const line = fake.logLines.find((l) => /^debug completion context:/.test(l)) ?? '';
      assert.match(line, /notes\.ts \(\d+ lines\)/, fake.logLines.join('\n'));
      assert.match(line, /stats\.ts \(1 lines\)/, 'the imported file\'s declaration');
      // Code copied in the editor: a selection, then the clipboard holding its text.
      const copiedText = 'function variance(xs: number[]) { return 0; }';
      const lib = fakeDocument(`file://${dir}/lib.ts`, 'typescript', `${copiedText}\n`);
      fake.changeSelection({ document: { ...lib, getText: () => copiedText }, selection: { isEmpty: false, active: new Position(0, 10) } });
      fake.clipboard = copiedText;
      fake.logLines.length = 0;
      // Another document (the same one would be answered from the suggestion cache).
      const second = fakeDocument(`file://${dir}/second.ts`, 'typescript', 'export function range(xs: number[]) {\n  \n}\n');
      await fake.inlineProviders[0].provideInlineCompletionItems(second, new Position(1, 2), { triggerKind: 0 }, token);
      assert.match(fake.logLines.find((l) => /completion context:/.test(l)) ?? '', /lib\.ts \(1 lines\)/, fake.logLines.join('\n'));
      fake.setSetting('smallthinker.completion.context.enabled', false);
      fake.logLines.length = 0;
      const third = fakeDocument(`file://${dir}/third.ts`, 'typescript', 'export function median(xs: number[]) {\n  \n}\n');
      await fake.inlineProviders[0].provideInlineCompletionItems(third, new Position(1, 2), { triggerKind: 0 }, token);
      assert.ok(!fake.logLines.some((l) => /completion context:/.test(l)), 'nothing sent when turned off');
    } finally {
      for (const s of subscriptions) s.dispose();
      await ext.deactivate();
      fake.restore();
    }
  });

  it('chats in the sidebar view through the engine, and Explain Selection streams into it', async () => {
    const model = await ensureModel({ preset: 'tiny', type: 'q4_0', vocab: 'qwen' });
    const workspaceState = new Map<string, unknown>();
    const { fake, ext, subscriptions } = activate({ 'smallthinker.modelPath': model, 'smallthinker.threads': 2, 'smallthinker.chat.maxTokens': 16 }, {
      workspaceState: { get: (k: string) => workspaceState.get(k), update: async (k: string, v: unknown) => void workspaceState.set(k, v) },
    });
    try {
      const view = fakeWebviewView();
      fake.webviewProviders.get('smallthinker.chat')!.resolveWebviewView(view);
      assert.match(view.webview.html, /Content-Security-Policy/);
      view.send({ type: 'ready' });
      await until(() => /sparkle/.test(fake.statusText()), 'the model to load');
      const states = () => view.posted.filter((m) => m.type === 'state') as unknown as Array<{ messages: { role: string; content: string }[]; busy: boolean; hasModel: boolean; attachments: Array<{ kind: string; label: string }> }>;
      await until(() => states().some((s) => s.hasModel), 'the view to know the model');
      view.send({ type: 'ask', text: 'What is a closure?' });
      await until(() => states().some((s) => !s.busy && s.messages.some((m) => m.role === 'assistant')), 'an answer');
      const deltas = view.posted.filter((m) => m.type === 'delta').map((m) => m.text).join('');
      const answer = states().at(-1)!.messages.at(-1)!;
      assert.equal(answer.role, 'assistant');
      assert.ok(answer.content.startsWith(deltas), 'the streamed text (gathered, so maybe none for a quick answer) starts the answer');
      const conversations = workspaceState.get('smallthinker.conversations') as { active: string; entries: Array<{ id: string; title: string }> };
      assert.deepEqual(conversations.entries.map((e) => e.title), ['What is a closure?'], 'conversations kept per workspace');
      assert.equal((workspaceState.get(`smallthinker.conversation/${conversations.active}`) as unknown[]).length, 2);

      const text = 'function square(x) {\n  return x * x;\n}\n';
      const doc = fakeDocument('file:///work/sq.js', 'javascript', text);
      fake.setActiveEditor({ document: { ...doc, getText: (r?: Range) => (r ? text.slice(0, 36) : text) }, selection: { isEmpty: false, start: new Position(0, 0), end: new Position(2, 1), active: new Position(2, 1) } });
      await fake.registeredCommands.get('smallthinker.explainSelection')!();
      await until(() => states().at(-1)!.messages.length === 4 && !states().at(-1)!.busy, 'the explanation');
      assert.match(states().at(-1)!.messages[2].content, /^Explain what this javascript code does\.\n\nFrom `work\/sq\.js`:\n```javascript\nfunction square/);
      view.send({ type: 'attach', what: 'file' });
      await until(() => states().at(-1)!.attachments.length === 1, 'the file as a chip');
      assert.deepEqual(states().at(-1)!.attachments.map((a) => [a.kind, a.label]), [['file', 'work/sq.js']]);
      view.send({ type: 'ask', text: 'Summarise this file.' });
      await until(() => states().at(-1)!.messages.length === 6 && !states().at(-1)!.busy, 'the answer about the file');
      assert.match(states().at(-1)!.messages[4].content, /^Summarise this file\.\n\nFrom `work\/sq\.js`:\n```javascript\nfunction square\(x\) \{\n {2}return x \* x;\n\}\n/);
    } finally {
      for (const s of subscriptions) s.dispose();
      await ext.deactivate();
      fake.restore();
    }
  });

  it('answers from a remote server once the user agrees, with the key from secret storage; the built-in engine sends nothing', async () => {
    const requests: Array<{ route: string; auth?: string; body: Record<string, unknown> }> = [];
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        requests.push({ route: `${req.method} ${req.url}`, auth: req.headers.authorization, body: body ? JSON.parse(body) : {} });
        if (req.url === '/v1/models') return res.end(JSON.stringify({ data: [{ id: 'team-model' }] }));
        if (req.url === '/v1/completions') return res.end(JSON.stringify({ choices: [{ text: 'a + b;', finish_reason: 'stop' }] }));
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end(['Closures ', 'capture ', 'variables.'].map((t) => `data: ${JSON.stringify({ choices: [{ delta: { content: t } }] })}\n\n`).join('') + 'data: [DONE]\n\n');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const token = { isCancellationRequested: false, onCancellationRequested: () => ({ dispose() {} }) };
    const doc = fakeDocument('file:///work/src/add.ts', 'typescript', 'export function add(a: number, b: number): number {\n  return \n}\n');

    // Local (the default) with a remote URL set: completions and chat never reach the server.
    const local = activate({ 'smallthinker.remote.url': url, 'smallthinker.inlineCompletion.debounceMs': 0 });
    try {
      await local.fake.inlineProviders[0].provideInlineCompletionItems(doc, new Position(1, 9), { triggerKind: 0 }, token);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(requests.length, 0, 'no request left the machine');
    } finally {
      for (const s of local.subscriptions) s.dispose();
      await local.ext.deactivate();
      local.fake.restore();
    }

    const secrets = fakeSecrets({ 'smallthinker.remote.apiKey': 'sk-team-key' });
    const { fake, ext, subscriptions } = activate({ 'smallthinker.engine': 'remote', 'smallthinker.remote.url': url, 'smallthinker.inlineCompletion.debounceMs': 0 },
      { secrets });
    try {
      await until(() => /cloud/.test(fake.statusText()), 'the remote status');
      assert.match(fake.statusText(), new RegExp(`SmallThinker · 127\\.0\\.0\\.1:\\d+`));
      assert.doesNotMatch(fake.logLines.join('\n'), /engine starting/, 'no engine process');
      // The first completion asks before sending code; refused, nothing is sent.
      const first = await fake.inlineProviders[0].provideInlineCompletionItems(doc, new Position(1, 9), { triggerKind: 0 }, token);
      assert.equal(first, undefined);
      assert.match(fake.infos.join('\n'), new RegExp(`use the server at ${url.replace(/\./g, '\\.')}.*Send code to this server\\?`));
      assert.deepEqual(requests.map((r) => r.route), ['GET /v1/models']);
      await fake.inlineProviders[0].provideInlineCompletionItems(doc, new Position(1, 9), { triggerKind: 1 }, token);
      assert.equal(fake.infos.filter((m) => /Send code to this server/.test(m)).length, 1, 'typing asks once, not with every keystroke');
      fake.warningAnswer = (_m, buttons) => buttons.find((b) => b.startsWith('Send'));
      const view = fakeWebviewView();
      fake.webviewProviders.get('smallthinker.chat')!.resolveWebviewView(view);
      view.send({ type: 'ready' });
      const states = () => view.posted.filter((m) => m.type === 'state') as unknown as Array<{ messages: { role: string; content: string }[]; busy: boolean }>;
      view.send({ type: 'ask', text: 'What is a closure?' });
      await until(() => states().some((s) => !s.busy && s.messages.some((m) => m.role === 'assistant')), 'the streamed answer');
      assert.equal(states().at(-1)!.messages.at(-1)!.content, 'Closures capture variables.');
      const items = await fake.inlineProviders[0].provideInlineCompletionItems(doc, new Position(1, 9), { triggerKind: 0 }, token) as Array<{ insertText: string }>;
      assert.equal(items[0].insertText, 'a + b;');
      const completion = requests.find((r) => r.route === 'POST /v1/completions')!;
      assert.match(String(completion.body.prompt), /^\/\/ work\/src\/add\.ts\nexport function add/);
      assert.equal(completion.body.model, 'team-model');
      assert.ok(requests.every((r) => r.auth === 'Bearer sk-team-key'), 'every request carries the key');
      assert.doesNotMatch(fake.logLines.join('\n') + fake.statusText(), /sk-team-key/, 'the key is never logged or shown');
      // Dismissed with a keystroke, asked again with the chat, then remembered for this server.
      await fake.inlineProviders[0].provideInlineCompletionItems(doc, new Position(1, 9), { triggerKind: 1 }, token);
      assert.equal(fake.infos.filter((m) => /Send code to this server/.test(m)).length, 2);
      // Restart Engine asks the server again; no engine process starts.
      const modelQueries = () => requests.filter((r) => r.route === 'GET /v1/models').length;
      const before = modelQueries();
      await fake.registeredCommands.get('smallthinker.restartEngine')!();
      await until(() => modelQueries() === before + 1, 'the server asked again');
      assert.match(fake.logLines.join('\n'), /restart requested while a remote server answers/);
      assert.doesNotMatch(fake.logLines.join('\n'), /engine starting/, 'still no engine process');
      // A server that stops answering is an error in the status bar that names it.
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      fake.setSetting('smallthinker.remote.model', 'other');
      await until(() => /error/.test(fake.statusText()), 'the error state');
      // (refused, or closed where the restart's kept-alive connection was still open)
      assert.match(fake.logLines.join('\n'), /could not connect to http:\/\/127\.0\.0\.1:\d+: the connection was refused|the server at http:\/\/127\.0\.0\.1:\d+ closed the connection/);
    } finally {
      for (const s of subscriptions) s.dispose();
      await ext.deactivate();
      fake.restore();
      server.close();
    }
  });

  it('applies code from an answer to the attached selection: a diff first, then one edit at that range', async () => {
    const model = await ensureModel({ preset: 'tiny', type: 'q4_0', vocab: 'qwen' });
    const { fake, ext, subscriptions } = activate({ 'smallthinker.modelPath': model, 'smallthinker.threads': 2, 'smallthinker.chat.maxTokens': 8 });
    try {
      const view = fakeWebviewView();
      fake.webviewProviders.get('smallthinker.chat')!.resolveWebviewView(view);
      view.send({ type: 'ready' });
      await until(() => /sparkle/.test(fake.statusText()), 'the model to load');
      const text = 'function cube(x) {\n  return x * x;\n}\n';
      const doc = fakeDocument('file:///work/cube.js', 'javascript', text);
      fake.documents.set('file:///work/cube.js', doc);
      // The second line selected, as a user would before asking.
      fake.setActiveEditor({ document: doc, selection: { isEmpty: false, start: new Position(1, 0), end: new Position(2, 0), active: new Position(2, 0) } });
      view.send({ type: 'attach', what: 'selection' });
      view.send({ type: 'ask', text: 'Make it a cube.' });
      const states = () => view.posted.filter((m) => m.type === 'state') as unknown as Array<{ messages: { role: string }[]; busy: boolean }>;
      await until(() => states().some((s) => !s.busy && s.messages.length === 2), 'an answer');
      view.send({ type: 'apply', code: 'return x * x * x;', message: 1 });
      await until(() => fake.builtinCommands.some(([id]) => id === 'vscode.diff'), 'the diff editor');
      const [, left, right, title] = fake.builtinCommands.find(([id]) => id === 'vscode.diff')!;
      assert.equal(String(left), 'file:///work/cube.js');
      assert.match(String(right), /^smallthinker-proposal:\/\d+\/cube\.js$/);
      assert.equal(title, 'SmallThinker: apply to work/cube.js');
      assert.equal(fake.appliedEdits.length, 0, 'nothing changes before Accept');
      await fake.registeredCommands.get('smallthinker.acceptProposal')!();
      assert.equal(fake.appliedEdits.length, 1);
      const [edit] = fake.appliedEdits;
      assert.deepEqual([edit.uri, edit.range.start, edit.range.end, edit.text],
        ['file:///work/cube.js', new Position(1, 0), new Position(2, 0), '  return x * x * x;\n'], 'the selected line, indented as it was');
    } finally {
      for (const s of subscriptions) s.dispose();
      await ext.deactivate();
      fake.restore();
    }
  });

  it('downloads a model from the configured base URL with progress, then loads it', async () => {
    const model = await ensureModel({ preset: 'tiny', type: 'q4_0', vocab: 'qwen' });
    const storage = tempDir('st-storage-');
    const server = http.createServer((req, res) => {
      const file = fs.readFileSync(model);
      if (req.url !== `/${MODEL_CATALOG[0].path}`) {
        res.writeHead(404);
        res.end();
        return;
      }
      res.writeHead(200, { 'content-length': file.length });
      res.end(file);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const { fake, ext, subscriptions } = activate({ 'smallthinker.download.baseUrl': baseUrl, 'smallthinker.threads': 2 },
      { globalStorageUri: { path: storage, fsPath: storage } });
    fake.quickPick = (items) => items[0];
    try {
      await fake.registeredCommands.get('smallthinker.downloadModel')!();
      const dest = fake.settings.get('smallthinker.modelPath') as string;
      assert.equal(dest, path.join(storage, 'models', MODEL_CATALOG[0].fileName));
      assert.ok(fs.readFileSync(dest).equals(fs.readFileSync(model)));
      assert.match(fake.progress.at(-1)!, /MB · [\d.]+ MB\/s/);
      await until(() => /sparkle/.test(fake.statusText()), 'the downloaded model to load');
    } finally {
      for (const s of subscriptions) s.dispose();
      await ext.deactivate();
      fake.restore();
      server.close();
      fs.rmSync(storage, { recursive: true, force: true });
    }
  });

  it('declares what VS Code needs to load it', () => {
    assert.equal(manifest.main, './dist/extension.js');
    assert.ok(manifest.engines.vscode);
    assert.equal(manifest.bin.smallthinker, 'dist/cli.js');
    assert.deepEqual(manifest.extensionKind, ['ui', 'workspace']);
    // Each setting has a description and a default; settings naming files or executables are machine-scoped.
    for (const [key, prop] of Object.entries<Record<string, unknown>>(manifest.contributes.configuration?.properties ?? {})) {
      assert.ok(prop.description || prop.markdownDescription, `${key} has a description`);
      assert.ok('default' in prop, `${key} has a default`);
      if (/path|executable/i.test(key)) assert.equal(prop.scope, 'machine', `${key} is machine-scoped`);
    }
  });

  it('gives its everyday commands keys that do not collide: Shift+Tab takes one line of a suggestion only while one shows', () => {
    const commands = new Set(manifest.contributes.commands.map((c: { command: string }) => c.command));
    const bindings: Array<{ command: string; key: string; mac?: string; when?: string }> = manifest.contributes.keybindings;
    for (const b of bindings) assert.ok(commands.has(b.command), `${b.command} is a contributed command`);
    const byCommand = new Map(bindings.map((b) => [b.command, b]));
    for (const c of ['smallthinker.openChat', 'smallthinker.newChat', 'smallthinker.explainSelection', 'smallthinker.toggleInlineCompletions',
      'smallthinker.acceptNextLine']) assert.ok(byCommand.has(c), `${c} has a key`);
    for (const platform of ['key', 'mac'] as const) {
      const keys = bindings.map((b) => (platform === 'mac' ? b.mac ?? b.key : b.key));
      assert.equal(new Set(keys).size, keys.length, `no two commands share a ${platform} key`);
    }
    const acceptLine = byCommand.get('smallthinker.acceptNextLine')!;
    assert.equal(acceptLine.key, 'shift+tab');
    assert.match(acceptLine.when ?? '', /inlineSuggestionVisible/, 'Shift+Tab outdents as usual when no suggestion shows');
    assert.match(byCommand.get('smallthinker.explainSelection')!.when ?? '', /editorHasSelection/);
  });

  it('accepts the next line of a suggestion through VS Code\'s partial accept', async () => {
    const { fake, ext, subscriptions } = activate();
    try {
      const called: string[] = [];
      fake.registeredCommands.set('editor.action.inlineSuggest.acceptNextLine', () => called.push('acceptNextLine'));
      await fake.registeredCommands.get('smallthinker.acceptNextLine')!();
      assert.deepEqual(called, ['acceptNextLine']);
    } finally {
      for (const s of subscriptions) s.dispose();
      await ext.deactivate();
      fake.restore();
    }
  });

  it('says what runs in Restricted Mode: everything local, but the workspace cannot set the engine\'s resources', () => {
    const untrusted = manifest.capabilities?.untrustedWorkspaces;
    assert.equal(untrusted?.supported, 'limited');
    assert.ok(untrusted.description);
    const settings = Object.keys(manifest.contributes.configuration.properties);
    for (const key of untrusted.restrictedConfigurations) assert.ok(settings.includes(key), `${key} is a setting`);
    // Every setting a workspace could use to make the engine take more than the user allowed is restricted;
    // the machine-scoped ones cannot be set by a workspace at all.
    for (const key of settings) {
      const { scope } = manifest.contributes.configuration.properties[key];
      if (/threads|context|memory|maxTokens|enabled|languages|idleUnload/.test(key) && scope !== 'machine') {
        assert.ok(untrusted.restrictedConfigurations.includes(key), `${key} is restricted in untrusted workspaces`);
      }
    }
  });
});
