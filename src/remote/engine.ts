// The remote engine behind the one inference interface: completions, chat and every chat action
// answered by an OpenAI-compatible server (smallthinker.engine = "remote"). It reads the
// server's address, model and timeout from the settings and its API key from VS Code's
// SecretStorage, asks once per server before any code is sent there, and keeps the status bar
// saying which server answers, with which model, how fast.
import * as vscode from 'vscode';
import type { ChatParams, ChatResult, CompletionParams, CompletionResult } from '../../engine/protocol';
import type { Cancellation } from '../completion/pipeline';
import type { ChatSignal, Inference } from '../inference';
import { setting } from '../settings';
import type { StatusBar } from '../status';
import { displayUrl, RemoteClient, RemoteError, serverBase, type Abort } from './client';
import { remoteCompletionAsk } from './prompt';

/** Where the API key is kept (SecretStorage: the OS keychain where there is one). */
export const API_KEY_SECRET = 'smallthinker.remote.apiKey';
/** The servers the user agreed to send code to (globalState), by origin and path. */
const CONSENT_KEY = 'smallthinker.remote.consentedServers';
/** Text per token for a count the server is not asked for. */
const CHARS_PER_TOKEN = 3;

/** Asks whether code may go to a server: true to send, false to refuse. */
export type ConsentPrompt = (server: string) => Promise<boolean>;

export class RemoteEngine implements Inference {
  private client: RemoteClient | undefined;
  private connected: Promise<RemoteClient> | undefined;
  private consentAsked: Promise<boolean> | undefined;
  /** The consent question was shown since the server was set. */
  private prompted = false;
  private latencyMs = 0;
  private serverModel: string | undefined;

  constructor(private readonly secrets: vscode.SecretStorage, private readonly state: vscode.Memento, private readonly status: StatusBar,
    private readonly log: vscode.LogOutputChannel, private readonly askConsent: ConsentPrompt, private readonly onChange: () => void) {}

  /** The server's model once known, else the server's address; undefined without an address. */
  get modelName(): string | undefined {
    const url = setting('remote.url');
    if (!url) return undefined;
    return setting('remote.model') || this.serverModel || displayUrl(url);
  }

  get chatContext(): number {
    return 0;
  }

  /** Forgets the connection (settings or key changed) and connects again when active. */
  reset(): void {
    this.client = undefined;
    this.connected = undefined;
    this.consentAsked = undefined;
    this.prompted = false;
    this.serverModel = undefined;
  }

  /** Called when the remote engine is chosen or its settings change: says so and checks the server. */
  activate(): void {
    this.reset();
    this.status.memory(0);  // no engine process here to measure
    const url = setting('remote.url');
    if (!url) {
      this.status.set({ kind: 'error', message: 'the remote engine needs a server: set smallthinker.remote.url' });
      this.onChange();
      return;
    }
    void this.connect().then(() => this.onChange(), () => this.onChange());
  }

  warm(): void {
    // The server keeps the last prompt's state by itself (llama-server's cache_prompt); a warm-up would be a request for nothing.
  }

  warmChat(): void {
    // Nothing: a request that only fills the server's cache would hold its slot against the user's own requests.
  }

  async countTokens(text: string): Promise<number> {
    return Math.ceil(text.length / CHARS_PER_TOKEN);
  }

  completed(result: CompletionResult): void {
    this.status.speed(result.timings.decodeTokensPerSecond);
  }

  async complete(params: CompletionParams, token: Cancellation): Promise<CompletionResult> {
    // Until the user has agreed, completions send nothing; typing asks at most once (a dismissed
    // question comes back with the next chat or explicit request, not with every keystroke).
    if (!this.consented()) {
      this.log.debug(`completion not sent: waiting for consent to send code to ${displayUrl(setting('remote.url'))}`);
      if (!this.prompted) void this.consent();
      throw new RemoteError('waiting for consent to send code to the server', 'cancelled');
    }
    const client = await this.connect();
    const abort = fromToken(token);
    const t0 = Date.now();
    const answer = await client.complete(remoteCompletionAsk(params), abort);
    const maxLines = params.maxLines ?? 10_000;
    const lines = answer.text.split('\n');
    const cut = lines.length > maxLines;
    this.log.debug(`remote completion from ${answer.endpoint} in ${Date.now() - t0} ms`);
    return {
      text: cut ? lines.slice(0, maxLines).join('\n') : answer.text, stopReason: cut ? 'lines' : answer.stopReason, timings: answer.timings,
    };
  }

  async chat(params: ChatParams, signal: ChatSignal, onDelta: (text: string) => void): Promise<ChatResult> {
    if (!(await this.consent())) {
      throw new RemoteError(`nothing was sent: you chose not to send code to ${displayUrl(setting('remote.url'))} (smallthinker.engine)`, 'config');
    }
    const client = await this.connect();
    let aborted = false;
    const listeners: Array<() => void> = [];
    signal.onCancel(() => {
      aborted = true;
      listeners.splice(0).forEach((l) => l());
    });
    const abort: Abort = { get aborted() { return aborted; }, onAbort: (l) => void listeners.push(l) };
    this.log.info(`chat request to ${client.where}: ${params.messages.length} messages, up to ${params.maxTokens} tokens`);
    const model = this.modelName ?? client.where;
    this.status.set({ kind: 'generating', model });
    try {
      const result = await client.chat(params.messages, params.maxTokens, params.temperature, abort, onDelta);
      this.log.info(`chat answer from ${client.where}: ${result.timings.generatedTokens} tokens (${result.stopReason}), ` +
        `${result.timings.decodeTokensPerSecond.toFixed(1)} tokens/s`);
      this.status.speed(result.timings.decodeTokensPerSecond);
      return result;
    } catch (err) {
      this.log.info(`chat request ended: ${(err as Error).message}`);
      throw err;
    } finally {
      if (this.status.current.kind === 'generating') this.showReady(client);
    }
  }

  /** Whether the user has agreed to send code to the configured server. */
  private consented(): boolean {
    const server = consentId(setting('remote.url'));
    return server !== undefined && this.state.get<string[]>(CONSENT_KEY, []).includes(server);
  }

  /** Asks once per server (and at most once at a time) whether code may be sent there. */
  private consent(): Promise<boolean> {
    if (this.consented()) return Promise.resolve(true);
    const url = setting('remote.url');
    const server = consentId(url);
    if (!server) return Promise.resolve(false);
    this.prompted = true;
    if (!this.consentAsked) this.log.info(`asking whether code may be sent to ${displayUrl(url)}`);
    this.consentAsked ??= this.askConsent(displayUrl(url)).then(async (yes) => {
      if (yes) await this.state.update(CONSENT_KEY, [...this.state.get<string[]>(CONSENT_KEY, []), server]);
      else this.consentAsked = undefined;  // asked again on the next explicit request
      this.log.info(yes ? `code may be sent to ${displayUrl(url)}` : `sending code to ${displayUrl(url)} was refused`);
      return yes;
    });
    return this.consentAsked;
  }

  /** The client for the settings as they are, after checking the server and its model once (GET /v1/models). */
  private connect(): Promise<RemoteClient> {
    this.connected ??= (async () => {
      const url = setting('remote.url');
      if (!url) throw new RemoteError('the remote engine needs a server: set smallthinker.remote.url', 'config');
      const client = new RemoteClient({
        url, apiKey: (await this.secrets.get(API_KEY_SECRET)) || undefined, model: setting('remote.model') || undefined,
        timeoutMs: setting('remote.timeoutSeconds') * 1000,
      });
      this.status.set({ kind: 'loading', detail: `connecting to ${client.where}` });
      try {
        const models = await client.models();
        this.latencyMs = models.latencyMs;
        this.serverModel = client.model;
        this.client = client;
        this.log.info(`remote engine: ${client.where} serves ${models.ids.join(', ') || 'no listed model'}; ${models.latencyMs} ms to answer`);
        this.showReady(client);
        return client;
      } catch (err) {
        this.connected = undefined;  // the next request tries again (the server may be up by then)
        this.log.error(`remote engine: ${(err as Error).message}`);
        this.status.set({ kind: 'error', message: (err as Error).message });
        throw err;
      }
    })();
    return this.connected;
  }

  private showReady(client: RemoteClient): void {
    // llama-server names its model by the file's path: the file's name says enough.
    const model = client.model?.split(/[\\/]/).pop() || 'the server\'s model';
    this.status.set({ kind: 'remote', server: client.where, model, latencyMs: this.latencyMs });
  }
}

/** What a consent is given to: the server's scheme, host, port and path (not its query or credentials). */
function consentId(url: string): string | undefined {
  if (!url) return undefined;
  try {
    serverBase(url);
    return displayUrl(url);
  } catch {
    return undefined;
  }
}

function fromToken(token: Cancellation): Abort {
  return { get aborted() { return token.isCancellationRequested; }, onAbort: (l) => void token.onCancellationRequested(l) };
}

/** The consent question as a notification: nothing is sent until the user picks. */
export const askConsentInWindow: ConsentPrompt = async (server) => {
  const send = 'Send Code to This Server';
  const local = 'Use the Built-in Engine';
  const pick = await vscode.window.showWarningMessage(
    `SmallThinker is set to use the server at ${server}. Completions and chats will send the code around your cursor, ` +
    'attached files and your questions there. Send code to this server?', send, local);
  if (pick === local) await vscode.workspace.getConfiguration('smallthinker').update('engine', 'local', vscode.ConfigurationTarget.Global);
  return pick === send;
};

