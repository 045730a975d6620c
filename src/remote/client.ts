// Talks HTTP to an inference server that speaks the OpenAI API (llama.cpp's llama-server, vLLM,
// Ollama): the models it serves, streamed chat, completions, and llama-server's /infill. No
// `vscode` here: the caller passes the settings, the key and a fetch. Every failure becomes a
// RemoteError whose message says what the server answered, in words a user can act on, and
// never contains the API key.
import { EngineErrorCodes, type ChatMessage, type ChatResult, type StopReason, type Timings } from '../../engine/protocol';

export interface RemoteOptions {
  /** The server's base URL, e.g. `http://gpu-box:8080` (a trailing `/v1` is accepted too). */
  url: string;
  /** Sent as `Authorization: Bearer …` when set. */
  apiKey?: string;
  /** The model to ask for; empty: the first one the server lists. */
  model?: string;
  /** Longest wait for the server's answer to start, and between two streamed chunks. */
  timeoutMs: number;
  fetch?: typeof fetch;
}

export type RemoteErrorKind = 'refused' | 'timeout' | 'auth' | 'model' | 'not-found' | 'server' | 'protocol' | 'cancelled' | 'config';

export class RemoteError extends Error {
  /** JSON-RPC's RequestCancelled for a cancelled request, as the local engine answers one: the features treat both alike. */
  readonly code: number | undefined;
  constructor(message: string, readonly kind: RemoteErrorKind, readonly status?: number) {
    super(message);
    this.code = kind === 'cancelled' ? EngineErrorCodes.RequestCancelled : undefined;
  }
}

/** A cancellation the client listens to (the chat's Stop, VS Code's token). */
export interface Abort {
  readonly aborted: boolean;
  onAbort(listener: () => void): void;
}

export interface CompletionAsk {
  /** `/infill` (llama-server's fill-in-the-middle, the server lays out the prompt), or a plain prompt to `/v1/completions`. */
  infill?: { prefix: string; suffix: string; extra: Array<{ filename: string; text: string }> };
  prompt: string;
  maxTokens: number;
  stop: string[];
  temperature: number;
}

export interface RemoteCompletion {
  text: string;
  stopReason: StopReason;
  timings: Timings;
  /** Which endpoint answered. */
  endpoint: '/infill' | '/v1/completions';
}

/** What the server lists at /v1/models, and how long that took. */
export interface ServerModels {
  ids: string[];
  latencyMs: number;
}

/** The base URL without a trailing slash or `/v1`; refuses what is not http(s). */
export function serverBase(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url.trim());
  } catch {
    throw new RemoteError(`"${url}" is not a URL: set smallthinker.remote.url to the server's address, e.g. http://localhost:8080`, 'config');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new RemoteError(`${parsed.protocol} is not supported for smallthinker.remote.url: use http:// or https://`, 'config');
  }
  parsed.pathname = parsed.pathname.replace(/\/+$/, '').replace(/\/v1$/, '');
  parsed.search = '';
  parsed.hash = '';
  return parsed;
}

/** The URL as the status bar and messages show it: scheme, host and port, no credentials. */
export function displayUrl(url: string): string {
  try {
    return urlText(serverBase(url));
  } catch {
    return url;
  }
}

function urlText(u: URL): string {
  return `${u.protocol}//${u.host}${u.pathname.replace(/\/$/, '')}`;
}

const FINISH: Record<string, StopReason> = { stop: 'eog', length: 'length', eos: 'eog', limit: 'length' };

export class RemoteClient {
  private readonly base: URL;
  /** The server as messages name it (displayUrl), from the URL parsed once. */
  readonly where: string;
  private readonly fetchImpl: typeof fetch;
  /** Whether the server answered /infill; undefined until asked (llama-server has it, OpenAI servers do not). */
  private infillAvailable: boolean | undefined;
  private resolvedModel: string | undefined;

  constructor(private readonly options: RemoteOptions) {
    this.base = serverBase(options.url);
    this.where = urlText(this.base);
    this.fetchImpl = options.fetch ?? fetch;
  }

  /** The model requests ask for: the setting, else what the server listed first (after `models()`). */
  get model(): string | undefined {
    return this.options.model || this.resolvedModel;
  }

  /**
   * GET /v1/models: what the server serves. With a model named in the settings that the server
   * does not list, fails saying which ones it has: a server that serves one model (llama-server)
   * answers any name with it, so the name would otherwise never be checked.
   */
  async models(abort?: Abort): Promise<ServerModels> {
    const t0 = Date.now();
    const body = await this.json('GET', '/v1/models', undefined, abort) as { data?: Array<{ id?: unknown }> };
    const ids = (body.data ?? []).map((m) => m.id).filter((id): id is string => typeof id === 'string');
    const latencyMs = Date.now() - t0;
    if (this.options.model && ids.length && !ids.includes(this.options.model)) {
      throw new RemoteError(`the server at ${this.where} has no model named "${this.options.model}"; it serves ${ids.map((i) => `"${i}"`).join(', ')} ` +
        '(smallthinker.remote.model)', 'model', 404);
    }
    this.resolvedModel = ids[0];
    return { ids, latencyMs };
  }

  /** Streams a chat answer (POST /v1/chat/completions with `stream: true`); `onDelta` gets the text as it comes. */
  async chat(messages: ChatMessage[], maxTokens: number, temperature: number, abort: Abort, onDelta: (text: string) => void): Promise<ChatResult> {
    const t0 = Date.now();
    let first = 0;
    let text = '';
    let finish: string | undefined;
    let usage: { prompt_tokens?: number; completion_tokens?: number } | undefined;
    let serverTimings: LlamaTimings | undefined;
    let chunks = 0;
    await this.stream('/v1/chat/completions', {
      ...(this.model ? { model: this.model } : {}), messages, max_tokens: maxTokens, temperature, stream: true,
      stream_options: { include_usage: true },
    }, abort, (event) => {
      const e = event as { choices?: Array<{ delta?: { content?: string | null }; finish_reason?: string | null }>; usage?: typeof usage; timings?: LlamaTimings };
      const choice = e.choices?.[0];
      const delta = choice?.delta?.content;
      if (delta) {
        if (!first) first = Date.now();
        chunks++;
        text += delta;
        onDelta(delta);
      }
      if (choice?.finish_reason) finish = choice.finish_reason;
      if (e.usage) usage = e.usage;
      if (e.timings) serverTimings = e.timings;
    });
    const generated = usage?.completion_tokens ?? serverTimings?.predicted_n ?? chunks;
    return { text, stopReason: FINISH[finish ?? ''] ?? 'eog', timings: timingsOf(t0, first || Date.now(), generated, usage?.prompt_tokens, serverTimings) };
  }

  /** One completion: /infill when asked for and the server has it, else /v1/completions with the plain prompt. */
  async complete(ask: CompletionAsk, abort: Abort): Promise<RemoteCompletion> {
    if (ask.infill && this.infillAvailable !== false) {
      try {
        const t0 = Date.now();
        const body = await this.json('POST', '/infill', {
          input_prefix: ask.infill.prefix, input_suffix: ask.infill.suffix, input_extra: ask.infill.extra,
          n_predict: ask.maxTokens, stop: ask.stop, temperature: ask.temperature, cache_prompt: true, stream: false,
        }, abort) as { content?: string; stop_type?: string; stopped_limit?: boolean; timings?: LlamaTimings; tokens_evaluated?: number };
        this.infillAvailable = true;
        const text = body.content ?? '';
        return {
          text, stopReason: body.stopped_limit || body.stop_type === 'limit' ? 'length' : body.stop_type === 'word' ? 'stop' : 'eog',
          timings: timingsOf(t0, Date.now(), body.timings?.predicted_n ?? 0, body.tokens_evaluated, body.timings), endpoint: '/infill',
        };
      } catch (err) {
        // No /infill (an OpenAI server: 404), or a model without fill-in-the-middle tokens (llama-server: 501).
        if (!(err instanceof RemoteError) || (err.status !== 404 && err.status !== 501)) throw err;
        this.infillAvailable = false;
      }
    }
    const t0 = Date.now();
    const body = await this.json('POST', '/v1/completions', {
      ...(this.model ? { model: this.model } : {}), prompt: ask.prompt, max_tokens: ask.maxTokens, temperature: ask.temperature,
      ...(ask.stop.length ? { stop: ask.stop.slice(0, 4) } : {}), stream: false,
    }, abort) as { choices?: Array<{ text?: string; finish_reason?: string }>; usage?: { prompt_tokens?: number; completion_tokens?: number }; timings?: LlamaTimings };
    const choice = body.choices?.[0];
    if (!choice || typeof choice.text !== 'string') throw new RemoteError(`the server at ${this.where} answered /v1/completions without a choice`, 'protocol');
    const stopReason = choice.finish_reason === 'length' ? 'length' : 'eog';
    return {
      text: choice.text, stopReason,
      timings: timingsOf(t0, Date.now(), body.usage?.completion_tokens ?? body.timings?.predicted_n ?? 0, body.usage?.prompt_tokens, body.timings),
      endpoint: '/v1/completions',
    };
  }

  /** Whether /infill answered (after a completion asked for it); undefined before. */
  get hasInfill(): boolean | undefined {
    return this.infillAvailable;
  }

  private async json(method: 'GET' | 'POST', route: string, body: unknown, abort?: Abort): Promise<unknown> {
    const { response, done, timedOut } = await this.send(method, route, body, abort);
    try {
      const text = await response.text();
      try {
        return JSON.parse(text);
      } catch {
        throw new RemoteError(`the server at ${this.where} answered ${route} with something that is not JSON: ${this.redact(text.slice(0, 120))}`, 'protocol');
      }
    } catch (err) {
      throw timedOut() ? this.timeoutError(route) : this.explain(err, route, abort);
    } finally {
      done();
    }
  }

  /** Reads a server-sent event stream, one parsed `data:` event at a time, until `[DONE]` or its end. */
  private async stream(route: string, body: unknown, abort: Abort, onEvent: (event: unknown) => void): Promise<void> {
    const { response, done, idle, timedOut } = await this.send('POST', route, body, abort);
    try {
      if (!response.body) throw new RemoteError(`the server at ${this.where} sent no body for ${route}`, 'protocol');
      const decoder = new TextDecoder();
      let buffered = '';
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        idle();
        buffered += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffered.search(/\r?\n\r?\n/)) >= 0) {
          const block = buffered.slice(0, end);
          buffered = buffered.slice(end + (buffered[end] === '\r' ? 4 : 2));
          const data = block.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
          if (!data) continue;
          if (data === '[DONE]') return;
          let event: { error?: { message?: string } };
          try {
            event = JSON.parse(data);
          } catch {
            throw new RemoteError(`the server at ${this.where} streamed something that is not JSON: ${this.redact(data.slice(0, 120))}`, 'protocol');
          }
          if (event.error) throw new RemoteError(`the server at ${this.where} stopped the answer: ${this.redact(String(event.error.message ?? 'an error'))}`, 'server');
          onEvent(event);
        }
      }
    } catch (err) {
      throw timedOut() ? this.timeoutError(route) : this.explain(err, route, abort);
    } finally {
      done();
    }
  }

  /**
   * Sends a request and waits for the answer's head. The timeout covers the wait for the head
   * and then each wait between two chunks of the body (`idle` restarts it); `done` clears it.
   */
  private async send(method: string, route: string, body: unknown, abort?: Abort): Promise<{ response: Response; done: () => void; idle: () => void; timedOut: () => boolean }> {
    if (abort?.aborted) throw new RemoteError('cancelled', 'cancelled');
    const controller = new AbortController();
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    const idle = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        timedOut = true;
        controller.abort();
      }, this.options.timeoutMs);
    };
    abort?.onAbort(() => controller.abort());
    idle();
    const url = new URL(this.base.href.replace(/\/$/, '') + route);
    try {
      const response = await this.fetchImpl(url, {
        method, signal: controller.signal,
        headers: {
          accept: route === '/v1/chat/completions' ? 'text/event-stream' : 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {}),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      if (!response.ok) {
        const text = await response.text().catch(() => '');
        throw this.statusError(response.status, route, text);
      }
      return { response, done: () => clearTimeout(timer), idle, timedOut: () => timedOut };
    } catch (err) {
      clearTimeout(timer);
      if (timedOut) throw this.timeoutError(route);
      throw this.explain(err, route, abort);
    }
  }

  private statusError(status: number, route: string, body: string): RemoteError {
    let said: string;
    try {
      const parsed = JSON.parse(body) as { error?: { message?: string } | string; message?: string };
      said = typeof parsed.error === 'string' ? parsed.error : parsed.error?.message ?? parsed.message ?? '';
    } catch {
      said = body.slice(0, 200);
    }
    said = this.redact(said.trim());
    const answer = `${status}${said ? `: ${said}` : ''}`;
    if (status === 401 || status === 403) {
      return new RemoteError(`the server at ${this.where} refused the API key (${answer}); set it with "SmallThinker: Set Remote Server API Key…"`, 'auth', status);
    }
    if (status === 404 && /model/i.test(said)) {
      return new RemoteError(`the server at ${this.where} has no model named "${this.model ?? ''}" (${answer}); check smallthinker.remote.model`, 'model', status);
    }
    if (status === 404) return new RemoteError(`the server at ${this.where} has no ${route} (${answer}): is it an OpenAI-compatible server?`, 'not-found', status);
    return new RemoteError(`the server at ${this.where} answered ${route} with ${answer}`, 'server', status);
  }

  private timeoutError(route: string): RemoteError {
    return new RemoteError(`the server at ${this.where} did not answer ${route} within ${Math.round(this.options.timeoutMs / 1000)} s ` +
      '(smallthinker.remote.timeoutSeconds)', 'timeout');
  }

  /** Any failure as a RemoteError: cancellation, refused connections and unknown hosts named as such. */
  private explain(err: unknown, route: string, abort?: Abort): RemoteError {
    if (err instanceof RemoteError) return err;
    if (abort?.aborted) return new RemoteError('cancelled', 'cancelled');
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const code = cause?.code ?? (err as { code?: string }).code;
    if (code === 'ECONNREFUSED') return new RemoteError(`could not connect to ${this.where}: the connection was refused (is the server running?)`, 'refused');
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new RemoteError(`could not connect to ${this.where}: the host name was not found`, 'refused');
    if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return new RemoteError(`the server at ${this.where} closed the connection during ${route}`, 'refused');
    return new RemoteError(`the request to ${this.where}${route} failed: ${this.redact(cause?.message ?? (err as Error).message ?? String(err))}`, 'server');
  }

  /** The key never appears in what is shown or logged, whatever the server echoes. */
  private redact(text: string): string {
    const key = this.options.apiKey;
    return key && key.length >= 4 ? text.split(key).join('[key]') : text;
  }
}

/** llama-server's own timings, when it sends them. */
interface LlamaTimings {
  cache_n?: number;
  prompt_n?: number;
  prompt_ms?: number;
  predicted_n?: number;
  predicted_ms?: number;
  predicted_per_second?: number;
}

function timingsOf(t0: number, firstToken: number, generated: number, promptTokens: number | undefined, server: LlamaTimings | undefined): Timings {
  const promptMs = server?.prompt_ms ?? firstToken - t0;
  const generateMs = server?.predicted_ms ?? Math.max(0, Date.now() - firstToken);
  return {
    promptTokens: server?.prompt_n ?? promptTokens ?? 0,
    reusedTokens: server?.cache_n ?? 0,
    generatedTokens: generated,
    promptMs,
    generateMs,
    decodeTokensPerSecond: server?.predicted_per_second ?? (generated > 1 && generateMs > 0 ? ((generated - 1) * 1000) / generateMs : 0),
  };
}
