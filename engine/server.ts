// The engine's request handlers: validates every request, loads the model, schedules native
// work and streams chat text. Transport-agnostic: main.ts wires it to stdio.
import fs from 'node:fs';
import path from 'node:path';
import { ResponseError, type CancellationToken, type MessageConnection, type NotificationType } from 'vscode-jsonrpc';
import type { NativeAddon, NativeSession, NativeTokenizer } from './native-addon';
import {
  ChatDeltaNotification, ChatRequest, COMPLETION_FORMAT_CHOICES, COMPLETION_PROMPT_FORMATS, CompletionRequest, EngineErrorCodes, HEARTBEAT_INTERVAL_MS, HeartbeatNotification, InspectRequest,
  LoadModelRequest, LoadProgressNotification, StatsRequest, TokenizeRequest, WarmChatNotification, WarmCompletionNotification,
  type ChatMessage, type ChatParams, type CompletionFormatChoice, type CompletionParams, type ContextChunk, type EngineStats, type LoadModelParams, type ModelInfo,
  type FimVerdict, type StopReason, type Timings,
} from './protocol';
import { judgeFimRows, sampleEvenly } from './fim-check';
import {
  ChatRenderer, chatPromptTokens, completionTokens, CONTEXT_BUDGET, ContextHeaders, effectiveFormat, findFimTokens, MAX_CONTEXT_CHUNK_CHARS,
  MAX_CONTEXT_CHUNKS, PrefixWindow, PromptTooLongError, suffixBudget, suffixContext, type FimTokens,
} from './prompts';
import { Scheduler, type RunningJob } from './scheduler';
import { commonPrefixLength, generateWithReuse, SlotPool, type SlotEntry, type SlotKind } from './slots';
import { generateText } from './generation';
import { ColdPromptLimit } from './cold-prompt';

/** Completion slots hold at most this context: prompts are trimmed to fit, so more is waste. */
const COMPLETION_CONTEXT = 4096;
const DEFAULT_CHAT_CONTEXT = 8192;
/** Request text beyond this many characters per prompt token allowed is refused before tokenising. */
const CHARS_PER_TOKEN_CAP = 16;
/** Conversations whose prompt start is remembered (a few bytes each). */
const MAX_CHATS_REMEMBERED = 64;
/** Stop strings are matched against every generated piece: a few short ones. */
const MAX_STOP_STRINGS = 16;
const MAX_STOP_CHARS = 256;
/** A chat request carrying more text than this in all its messages is refused outright (the extension sends far less). */
const CHAT_REQUEST_CHARS_LIMIT = 16 << 20;

/** Size, modification time and inode of the model file: a change means it was rewritten under us. */
function fileStamp(file: string): string {
  try {
    const st = fs.statSync(file);
    return `${st.size}:${st.mtimeMs}:${st.ino}`;
  } catch (err) {
    return `missing: ${(err as Error).message}`;
  }
}

/** What the FIM tokens' embedding rows say about their training (engine/fim-check.ts). */
function judgeFim(session: NativeSession, tokenizer: NativeTokenizer, fim: FimTokens | undefined): FimVerdict {
  if (!fim) return { verdict: 'absent', reason: 'the vocabulary lacks <|fim_prefix|>, <|fim_suffix|> or <|fim_middle|>', autoFormat: 'prefix' };
  const UNUSED = 5, NORMAL = 1;  // tokenizer.ggml.token_type values
  const rms = (ids: ArrayLike<number>) => Array.from(ids.length ? session.embeddingRowRms(Int32Array.from(ids)) : []);
  return judgeFimRows({
    fim: rms([fim.prefix, fim.suffix, fim.middle]),
    padding: rms(tokenizer.idsOfType(UNUSED).filter((id) => id < session.info.n_vocab)),
    used: rms(sampleEvenly(tokenizer.idsOfType(NORMAL).filter((id) => id < session.info.n_vocab))),
  });
}

interface LoadedModel {
  /** What loaded it, to load it again when the file changes. */
  params: Record<string, unknown>;
  /** The file as it was when loaded (fileStamp). */
  stamp: string;
  info: ModelInfo;
  session: NativeSession;
  tokenizer: NativeTokenizer;
  fim: FimTokens | undefined;
  stopIds: number[];
  chat: ChatRenderer;
  slots: SlotPool;
  prefixWindow: PrefixWindow;
  contextHeaders: ContextHeaders;
  /** How many tokens a completion that reuses nothing may evaluate (cold-prompt.ts). */
  coldPrompt: ColdPromptLimit;
}

function invalid(message: string): ResponseError<void> {
  return new ResponseError(EngineErrorCodes.InvalidParams, message);
}

function requireObject(params: unknown, what: string): Record<string, unknown> {
  if (typeof params !== 'object' || params === null || Array.isArray(params)) throw invalid(`${what} needs a parameter object`);
  return params as Record<string, unknown>;
}

function str(o: Record<string, unknown>, key: string, what: string, optional = false): string {
  const v = o[key];
  if (v === undefined && optional) return '';
  if (typeof v !== 'string') throw invalid(`${what}: ${key} must be a string`);
  return v;
}

function num(o: Record<string, unknown>, key: string, what: string, min: number, max: number, fallback?: number): number {
  const v = o[key];
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) throw invalid(`${what}: ${key} must be a number from ${min} to ${max}`);
  return v;
}

function timings(promptTokens: number, reusedTokens: number, r: { tokens: number[]; promptMs: number; generateMs: number }): Timings {
  const n = r.tokens.length;
  return {
    promptTokens, reusedTokens, generatedTokens: n, promptMs: r.promptMs, generateMs: r.generateMs,
    decodeTokensPerSecond: n >= 2 && r.generateMs > 0 ? ((n - 1) * 1000) / r.generateMs : 0,
  };
}

export class EngineServer {
  private model: LoadedModel | undefined;
  /** After the model file changed and could not be loaded again: what to retry once it changes again. */
  private lost: { params: Record<string, unknown>; stamp: string; message: string } | undefined;
  private readonly scheduler = new Scheduler();
  private lastCompletion: Timings | null = null;
  private lastChat: Timings | null = null;
  /** Per conversation: the text of the message its prompt starts from (chatPrompt), least recently used first. */
  private readonly chatStarts = new Map<string, string>();

  constructor(private readonly connection: MessageConnection, private readonly addon: () => NativeAddon,
    private readonly log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)) {}

  register(): void {
    const c = this.connection;
    c.onRequest(InspectRequest, (params) => {
      const modelPath = str(requireObject(params, 'inspect'), 'modelPath', 'inspect');
      try {
        return this.addon().inspect(modelPath);
      } catch (err) {
        throw new ResponseError(EngineErrorCodes.InvalidModel, (err as Error).message);
      }
    });
    c.onRequest(LoadModelRequest, (params) => this.loadModel(params));
    c.onRequest(CompletionRequest, (params, token) => this.complete(params, token));
    c.onNotification(WarmCompletionNotification, (params) => this.warm(params));
    c.onRequest(ChatRequest, (params, token) => this.chat(params, token));
    c.onNotification(WarmChatNotification, (params) => this.warmChat(params));
    c.onRequest(TokenizeRequest, (params) => {
      const text = str(requireObject(params, 'tokenize'), 'text', 'tokenize');
      const m = this.requireModel();
      if (text.length > m.info.maxPromptTokens * CHARS_PER_TOKEN_CAP) throw this.tooLong(text.length, m);
      return { tokens: Array.from(m.tokenizer.encode(text)) };
    });
    c.onRequest(StatsRequest, () => this.stats());
    // While there is work, say so every second with the native work counter, so the supervisor
    // can tell a long prompt or answer (the counter moves) from a stuck engine (it does not).
    setInterval(() => {
      if (this.scheduler.idle) return;
      this.notify(HeartbeatNotification, { work: this.addon().workCounter() });
    }, HEARTBEAT_INTERVAL_MS).unref();
  }

  /** Lets go of the model now: its slots' KV caches and its weights (runs between jobs, so nothing is busy). */
  private unload(): void {
    const m = this.model;
    this.model = undefined;
    if (!m) return;
    m.slots.releaseAll();
    m.tokenizer.release();
    try {
      m.session.release();
    } catch (err) {
      this.log(`engine: the old model is freed later: ${(err as Error).message}`);
    }
  }

  /** A notification to the extension; if it cannot be written the extension is gone, and the engine with it. */
  private notify<P>(type: NotificationType<P>, params: P): void {
    this.connection.sendNotification(type.method, params).catch(() => undefined);
  }

  private requireModel(): LoadedModel {
    const m = this.expectModel();
    if (!m) throw new ResponseError(EngineErrorCodes.InvalidModel, this.lost!.message);
    return m;
  }

  /** The model, or undefined when its file changed and a job will try loading it again (currentModel). */
  private expectModel(): LoadedModel | undefined {
    if (this.model || this.lost) return this.model;
    throw new ResponseError(EngineErrorCodes.NoModel, 'no model is loaded (send smallthinker/loadModel first)');
  }

  private tooLong(chars: number, m: LoadedModel): ResponseError<void> {
    return new ResponseError(EngineErrorCodes.PromptTooLong,
      `the request's text (${chars} characters) is over the prompt cap of ${m.info.maxPromptTokens} tokens`);
  }

  // -------------------------------------------------------------------------------------------
  private async loadModel(raw: LoadModelParams): Promise<ModelInfo> {
    const o = requireObject(raw, 'loadModel');
    // Every field is checked now, so a bad request fails at once rather than after queued work.
    str(o, 'modelPath', 'loadModel');
    num(o, 'threads', 'loadModel', 0, 256, 0);
    num(o, 'contextLength', 'loadModel', 256, 1 << 20, DEFAULT_CHAT_CONTEXT);
    num(o, 'maxPromptTokens', 'loadModel', 16, 1 << 20, DEFAULT_CHAT_CONTEXT);
    num(o, 'memoryBudgetMiB', 'loadModel', 0, 1 << 24, 0);
    if (o.kvBudgetMiB !== undefined) num(o, 'kvBudgetMiB', 'loadModel', 1, 1 << 20);
    if (o.coldPromptTokens !== undefined) num(o, 'coldPromptTokens', 'loadModel', 16, 1 << 20);
    // Wait for running work to finish with the old model before replacing it.
    return this.scheduler.submit({ kind: 'chat', run: () => this.load(o) });
  }

  /**
   * Loads a model in place of the current one. Everything that can be checked without the
   * weights (the file, its tokenizer, its chat template) is checked before the current model
   * is let go, so a bad file leaves the user with the model they had.
   */
  private async load(o: Record<string, unknown>): Promise<ModelInfo> {
    const modelPath = str(o, 'modelPath', 'loadModel');
    const threads = num(o, 'threads', 'loadModel', 0, 256, 0);
    const addon = this.addon();
    const progress = (stage: 'validating' | 'loading' | 'ready', message: string) =>
      this.notify(LoadProgressNotification, { stage, message });
    progress('validating', `checking ${modelPath}`);
    const stamp = fileStamp(modelPath);
    let report, tokenizer: NativeTokenizer;
    try {
      report = addon.inspect(modelPath);
      tokenizer = addon.tokenizerFromModel(modelPath);
    } catch (err) {
      throw new ResponseError(EngineErrorCodes.InvalidModel, (err as Error).message);
    }
    let session: NativeSession | undefined;
    try {
      const nCtxTrain = Number(report.hparams.n_ctx_train);
      const chatContext = Math.min(nCtxTrain, num(o, 'contextLength', 'loadModel', 256, 1 << 20, DEFAULT_CHAT_CONTEXT));
      const completionContext = Math.min(nCtxTrain, COMPLETION_CONTEXT);
      const maxPromptTokens = num(o, 'maxPromptTokens', 'loadModel', 16, 1 << 20, chatContext);
      const memoryBudgetMiB = num(o, 'memoryBudgetMiB', 'loadModel', 0, 1 << 24, 0);
      const chat = new ChatRenderer(tokenizer.chatTemplate, (w) => this.log(`engine: ${w}`));
      chat.render([{ role: 'user', content: 'hello' }]);  // a template that fails here is replaced by ChatML now, not mid-chat
      const fim = findFimTokens(tokenizer);

      progress('loading', `loading ${report.tensors.length} tensors`);
      this.unload();
      this.lost = undefined;
      // The slots' KV caches come out of a memory budget first; without kvBudgetMiB a
      // budgeted engine keeps room for one slot of each kind instead of two.
      const explicitKv = o.kvBudgetMiB !== undefined ? num(o, 'kvBudgetMiB', 'loadModel', 1, 1 << 20) * 2 ** 20 : undefined;
      const plannedSlots = memoryBudgetMiB > 0 ? [completionContext, chatContext]
        : [completionContext, completionContext, chatContext, chatContext];
      try {
        session = await addon.createSessionAsync(modelPath, {
          threads, context: Math.max(chatContext, completionContext), memoryBudgetMiB,
          ...(explicitKv !== undefined ? { plannedKvBytes: explicitKv } : { plannedSlots }),
        });
      } catch (err) {
        throw new ResponseError(EngineErrorCodes.InvalidModel, (err as Error).message);
      }
      const s = session;
      const plan = s.info.memory_plan;
      if (plan) this.log(`engine: ${plan.summary}`);
      const completionSlotKvBytes = s.slotKvCacheBytes(completionContext);
      const chatSlotKvBytes = s.slotKvCacheBytes(chatContext);
      const kvBudgetBytes = explicitKv ?? plannedSlots.reduce((sum, c) => sum + s.slotKvCacheBytes(c), 0);
      if (kvBudgetBytes < Math.max(completionSlotKvBytes, chatSlotKvBytes)) {
        throw invalid(`kvBudgetMiB is too small: one chat slot needs ${Math.ceil(chatSlotKvBytes / 2 ** 20)} MiB`);
      }
      const fimVerdict = judgeFim(s, tokenizer, fim);
      this.log(`engine: fill-in-the-middle tokens ${fimVerdict.verdict}: ${fimVerdict.reason}; the auto prompt format is ${fimVerdict.autoFormat}`);
      this.log(`engine: ${s.info.threads} compute threads (${s.info.isa}), scheduling: ${s.info.scheduling}`);
      const stopIds = [...tokenizer.endOfGenerationIds, ...(fim ? [fim.prefix, fim.suffix, fim.middle] : [])];
      const info: ModelInfo = {
        modelPath, name: path.basename(modelPath, '.gguf'), nVocab: s.info.n_vocab, nCtxTrain, chatContext, completionContext,
        maxPromptTokens, threads: s.info.threads, isa: s.info.isa, flavour: s.info.flavour,
        chatTemplate: chat.source, completionFormats: fim ? [...COMPLETION_PROMPT_FORMATS] : ['prefix'], fim: fimVerdict,
        memory: {
          weightsBytes: s.info.weights_bytes, scratchBytes: s.info.scratch_bytes,
          completionSlotKvBytes, chatSlotKvBytes, kvBudgetBytes,
          budgetPlan: plan?.summary ?? null, expertSlots: plan?.expert_slots ?? 0,
          expertsTotal: Number(report.hparams.n_layer) * Number(report.hparams.n_expert),
        },
      };
      this.model = {
        params: o, stamp, info, session: s, tokenizer, fim, stopIds, chat, prefixWindow: new PrefixWindow(), contextHeaders: new ContextHeaders(),
        coldPrompt: new ColdPromptLimit(o.coldPromptTokens === undefined ? undefined : num(o, 'coldPromptTokens', 'loadModel', 16, 1 << 20)),
        slots: new SlotPool(s, { completion: completionContext, chat: chatContext }, kvBudgetBytes),
      };
      progress('ready', `${info.name || modelPath} is ready`);
      return info;
    } catch (err) {
      // Whatever this attempt made is freed now.
      session?.release();
      tokenizer.release();
      throw err;
    }
  }

  /**
   * The model for a job that is about to run. If its file changed on disk since it was
   * loaded (a new download, a copy over it, a truncation), it is loaded again first; if that
   * fails the request says so, naming the file, and a later request tries again once the
   * file changes once more.
   */
  private async currentModel(): Promise<LoadedModel> {
    const m = this.model;
    const retry = m ?? this.lost;
    if (!retry) throw new ResponseError(EngineErrorCodes.NoModel, 'no model is loaded (send smallthinker/loadModel first)');
    const modelPath = str(retry.params, 'modelPath', 'loadModel');
    const now = fileStamp(modelPath);
    if (now === retry.stamp) {
      if (m) return m;
      throw new ResponseError(EngineErrorCodes.InvalidModel, this.lost!.message);
    }
    this.log(`engine: the model file ${modelPath} changed on disk; loading it again`);
    this.unload();
    try {
      await this.load(retry.params);
      return this.model!;
    } catch (err) {
      const message = `the model file ${modelPath} changed on disk and cannot be loaded: ${(err as Error).message}`;
      this.lost = { params: retry.params, stamp: now, message };
      throw new ResponseError(EngineErrorCodes.InvalidModel, message);
    }
  }

  // -------------------------------------------------------------------------------------------
  /** The completion prompt's tokens; `limit` bounds the whole prompt (a cold prompt's cut). */
  private completionPrompt(m: LoadedModel, p: CompletionParams, maxTokens: number, limit = Infinity): number[] {
    const count = (t: string) => m.tokenizer.encode(t).length;
    const format = effectiveFormat(p.format, m.fim, m.info.fim.autoFormat);
    const suffixText = format === 'prefix' ? '' : suffixContext(p.suffix, suffixBudget(format), count);
    const total = Math.min(m.info.maxPromptTokens, m.info.completionContext - maxTokens, limit) - count(suffixText) - 16;
    // Context from other files takes at most a quarter of what is left: the code before the cursor comes first.
    const context = p.context?.length
      ? m.contextHeaders.get(p.languageId, p.context, Math.min(CONTEXT_BUDGET, Math.floor(total / 4)), count)
      : { text: '', tokens: 0 };
    const prefix = m.prefixWindow.fit(p.documentId, p.prefix, Math.max(16, total - context.tokens), count);
    return completionTokens(m.tokenizer, format, m.fim, p, prefix, suffixText, context.text);
  }

  /**
   * The completion prompt, cut to what this machine evaluates in a few seconds when the
   * document's slot holds little of it (cold-prompt.ts); the cut moves the window's start
   * nearer the cursor, where the following keystrokes keep it.
   */
  private coldLimitedPrompt(m: LoadedModel, p: CompletionParams): number[] {
    const prompt = this.completionPrompt(m, p, p.maxTokens);
    const held = m.slots.peek('completion', p.documentId);
    const toEvaluate = prompt.length - (held ? Math.min(commonPrefixLength(held.tokens, prompt), held.slot.nPast) : 0);
    const limit = m.coldPrompt.tokens;
    if (toEvaluate <= limit) return prompt;
    const cut = this.completionPrompt(m, p, p.maxTokens, limit);
    const rate = m.coldPrompt.rate;
    this.log(`engine: completion prompt cut from ${prompt.length} to ${cut.length} tokens: ${toEvaluate} to evaluate, ` +
      `at most ${limit} when nothing is reused (${rate === undefined ? 'no speed measured yet' : `${rate.toFixed(0)} tokens/s measured`})`);
    return cut;
  }

  private validateCompletion(raw: unknown, needsMaxTokens: boolean): CompletionParams {
    const o = requireObject(raw, 'complete');
    const p: CompletionParams = {
      documentId: str(o, 'documentId', 'complete'), prefix: str(o, 'prefix', 'complete'), suffix: str(o, 'suffix', 'complete', true),
      languageId: str(o, 'languageId', 'complete', true), filePath: str(o, 'filePath', 'complete', true),
      maxTokens: needsMaxTokens ? num(o, 'maxTokens', 'complete', 1, 4096) : 0,
      maxLines: num(o, 'maxLines', 'complete', 1, 10_000, 10_000), temperature: num(o, 'temperature', 'complete', 0, 5, 0),
    };
    if (o.context !== undefined) {
      if (!Array.isArray(o.context) || o.context.length > MAX_CONTEXT_CHUNKS || !o.context.every((c) => c && typeof c === 'object' &&
        typeof c.path === 'string' && typeof c.text === 'string' && c.path.length <= 1024 && c.text.length <= MAX_CONTEXT_CHUNK_CHARS)) {
        throw invalid(`complete: context must be an array of at most ${MAX_CONTEXT_CHUNKS} {path, text} chunks of at most ` +
          `${MAX_CONTEXT_CHUNK_CHARS} characters`);
      }
      p.context = (o.context as ContextChunk[]).map((c) => ({ path: c.path, text: c.text }));
    }
    if (o.format !== undefined) {
      if (!COMPLETION_FORMAT_CHOICES.includes(o.format as CompletionFormatChoice)) {
        throw invalid(`complete: format must be one of ${COMPLETION_FORMAT_CHOICES.join(', ')}`);
      }
      p.format = o.format as CompletionFormatChoice;
    }
    if (o.stop !== undefined) {
      if (!Array.isArray(o.stop) || o.stop.length > MAX_STOP_STRINGS || !o.stop.every((s) => typeof s === 'string' && s.length <= MAX_STOP_CHARS)) {
        throw invalid(`complete: stop must be an array of at most ${MAX_STOP_STRINGS} strings of at most ${MAX_STOP_CHARS} characters`);
      }
      p.stop = o.stop as string[];
    }
    const m = this.expectModel();
    if (m && p.prefix.length + p.suffix.length > m.info.maxPromptTokens * CHARS_PER_TOKEN_CAP * 4) {
      throw this.tooLong(p.prefix.length + p.suffix.length, m);
    }
    return p;
  }

  private complete(raw: CompletionParams, token: CancellationToken) {
    const p = this.validateCompletion(raw, true);
    return this.scheduler.submit({
      kind: 'completion', documentId: p.documentId, token,
      run: async (job) => {
        const m = await this.currentModel();
        const prompt = this.coldLimitedPrompt(m, p);
        const entry = m.slots.acquire('completion', p.documentId);
        const out = await this.generateText(m, entry, prompt, job, {
          maxTokens: p.maxTokens, temperature: p.temperature ?? 0, stop: p.stop ?? [], maxLines: p.maxLines ?? Infinity,
        });
        this.lastCompletion = out.timings;
        return out;
      },
    });
  }

  private warm(raw: unknown): void {
    let p: CompletionParams;
    try {
      p = this.validateCompletion(raw, false);
    } catch (err) {
      this.log(`engine: warm-up ignored: ${(err as Error).message}`);
      return;
    }
    this.warmSlot('completion', p.documentId, (m) => this.completionPrompt(m, p, 64));
  }

  /**
   * Evaluates `promptOf(model)` (undefined: nothing to warm) into the slot of `kind` and `id`
   * without generating, only when nothing else waits; any other work cancels it.
   */
  private warmSlot(kind: SlotKind, id: string, promptOf: (m: LoadedModel) => number[] | undefined): void {
    if (!this.scheduler.idle) return;  // only when nothing else waits
    void this.scheduler.submit({
      kind: 'warm', ...(kind === 'completion' ? { documentId: id } : {}),
      run: async (job) => {
        const m = await this.currentModel();
        const prompt = promptOf(m);
        if (!prompt) return;
        const entry = m.slots.acquire(kind, id);
        job.onCancel = () => entry.slot.cancel();
        const { result, reusedTokens } = await generateWithReuse(entry, prompt, { maxTokens: 0 }, undefined, () => job.cancelled);
        if (result.nPast >= prompt.length) m.coldPrompt.record(prompt.length - reusedTokens, result.promptMs);  // not cut short
      },
    }).catch((err) => this.log(`engine: warm-up failed: ${(err as Error).message}`));
  }

  // -------------------------------------------------------------------------------------------
  private validateChat(raw: unknown): ChatParams {
    const o = requireObject(raw, 'chat');
    const chatId = str(o, 'chatId', 'chat');
    const maxTokens = num(o, 'maxTokens', 'chat', 1, 1 << 16);
    const temperature = num(o, 'temperature', 'chat', 0, 5);
    if (!Array.isArray(o.messages) || o.messages.length === 0) throw invalid('chat: messages must be a non-empty array');
    const messages: ChatMessage[] = o.messages.map((x, i) => {
      const mo = requireObject(x, `chat message ${i}`);
      const role = mo.role;
      if (role !== 'system' && role !== 'user' && role !== 'assistant') throw invalid(`chat: messages[${i}].role must be system, user or assistant`);
      return { role, content: str(mo, 'content', `chat message ${i}`) };
    });
    if (messages.reduce((n, x) => n + x.content.length, 0) > CHAT_REQUEST_CHARS_LIMIT) {
      throw invalid(`chat: the messages hold more than ${CHAT_REQUEST_CHARS_LIMIT} characters`);
    }
    return { chatId, maxTokens, temperature, messages };
  }

  private chat(raw: ChatParams, token: CancellationToken) {
    const { chatId, maxTokens, temperature, messages } = this.validateChat(raw);
    this.expectModel();
    return this.scheduler.submit({
      kind: 'chat', token,
      run: async (job) => {
        const m = await this.currentModel();
        const prompt = this.chatPrompt(m, chatId, messages, maxTokens);
        const entry = m.slots.acquire('chat', chatId);
        const out = await this.generateText(m, entry, prompt, job, { maxTokens, temperature, stop: [], maxLines: Infinity },
          (text) => this.notify(ChatDeltaNotification, { chatId, text }));
        this.lastChat = out.timings;
        return out;
      },
    });
  }

  /**
   * The question being written, evaluated into its conversation's slot while the engine is
   * idle (as warm() does for a file): typing goes on at the end of the prompt, so the request
   * that sends it only evaluates the last few words. Any other work cancels it.
   */
  private warmChat(raw: unknown): void {
    let p: ChatParams;
    try {
      p = this.validateChat(raw);
      this.expectModel();
    } catch (err) {
      this.log(`engine: chat warm-up ignored: ${(err as Error).message}`);
      return;
    }
    this.warmSlot('chat', p.chatId, (m) => {
      try {
        return this.chatPrompt(m, p.chatId, p.messages, p.maxTokens, false);
      } catch {
        return undefined;  // too long: the request will say so
      }
    });
  }

  /** The conversation's prompt; `remember` keeps where it started for the next turn (a warm-up does not). */
  private chatPrompt(m: LoadedModel, chatId: string, messages: ChatMessage[], maxTokens: number, remember = true): number[] {
    const limit = Math.min(m.info.maxPromptTokens, m.info.chatContext - Math.min(maxTokens, m.info.chatContext / 2));
    try {
      // The message this conversation's prompt started from last time, found again by its text
      // (the extension sends the whole history, which may have lost old messages since).
      const kept = this.chatStarts.get(chatId);
      const keepFrom = kept === undefined ? undefined : messages.findIndex((x) => x.role === 'user' && x.content === kept);
      const prompt = chatPromptTokens(m.chat, m.tokenizer, messages, limit, CHARS_PER_TOKEN_CAP, keepFrom === -1 ? undefined : keepFrom);
      if (!remember) return prompt.tokens;
      this.chatStarts.delete(chatId);
      this.chatStarts.set(chatId, messages[prompt.start].content);
      if (this.chatStarts.size > MAX_CHATS_REMEMBERED) this.chatStarts.delete(this.chatStarts.keys().next().value as string);
      return prompt.tokens;
    } catch (err) {
      if (err instanceof PromptTooLongError) throw new ResponseError(EngineErrorCodes.PromptTooLong, err.message);
      throw err;
    }
  }

  // -------------------------------------------------------------------------------------------
  /** Generates in a slot, reusing what it holds, as text (generation.ts). */
  private async generateText(
    m: LoadedModel, entry: SlotEntry, prompt: number[], job: RunningJob,
    o: { maxTokens: number; temperature: number; stop: string[]; maxLines: number }, onText?: (text: string) => void,
  ): Promise<{ text: string; stopReason: StopReason; timings: Timings }> {
    job.onCancel = () => entry.slot.cancel();
    if (job.cancelled) entry.slot.cancel();
    let reused = 0;
    const out = await generateText(entry.slot, m.tokenizer, o, async (onToken) => {
      const { result, reusedTokens } = await generateWithReuse(entry, prompt, {
        maxTokens: o.maxTokens, stopIds: m.stopIds,
        sampling: o.temperature > 0 ? { temperature: o.temperature, topK: 40, topP: 0.95, seed: Date.now() % 2 ** 31 } : {},
      }, onToken, () => job.cancelled);
      reused = reusedTokens;
      return result;
    }, onText);
    // A run cancelled after its prompt (a stop string) still measured the whole prompt.
    if (out.result.nPast >= prompt.length) m.coldPrompt.record(prompt.length - reused, out.result.promptMs);
    return { text: out.text, stopReason: out.stopReason, timings: timings(prompt.length - reused, reused, out.result) };
  }

  private stats(): EngineStats {
    const m = this.model;
    const s = this.scheduler.stats;
    const addon = this.addon();
    return {
      model: m?.info ?? null,
      memory: {
        rssBytes: process.memoryUsage().rss, peakRssBytes: addon.peakRssBytes(), jsHeapBytes: process.memoryUsage().heapUsed,
        weightsBytes: m?.info.memory.weightsBytes ?? 0, kvCacheBytes: m?.slots.totalBytes ?? 0,
        kvBudgetBytes: m?.info.memory.kvBudgetBytes ?? 0,
      },
      slots: (m?.slots.list() ?? []).map((e) => ({
        key: e.key, kind: e.kind, nPast: e.slot.nPast, nCtx: e.slot.nCtx, kvCacheBytes: e.slot.kvCacheBytes,
      })),
      queue: { running: s.running, queued: s.queued, limit: s.limit },
      requests: { completed: s.completed, cancelled: s.cancelled, failed: s.failed },
      lastCompletion: this.lastCompletion, lastChat: this.lastChat,
      expertCache: this.expertCacheStats(m?.session),
    };
  }

  private expertCacheStats(session: NativeSession | undefined): EngineStats['expertCache'] {
    const c = session?.expertCacheStats();
    if (!c) {
      return { hits: 0, misses: 0, bytesRead: 0, stallMs: 0, slots: 0, perToken: { hits: 0, misses: 0, bytesRead: 0, stallMs: 0 } };
    }
    const per = (x: number) => x / Math.max(1, c.tokens);
    return {
      hits: c.hits, misses: c.misses, bytesRead: c.bytesRead, stallMs: c.stallMs, slots: c.slots,
      perToken: { hits: per(c.hits), misses: per(c.misses), bytesRead: per(c.bytesRead), stallMs: per(c.stallMs) },
    };
  }
}
