// The JSON-RPC 2.0 protocol between the extension host (src/) and the engine process
// (engine/), typed once and used by both ends. Transport: the child's stdio, framed by
// vscode-jsonrpc. The extension imports this file for types and request objects only.
//
// Cancellation is JSON-RPC's own `$/cancelRequest` (vscode-jsonrpc sends it when the client's
// CancellationToken fires): the engine stops the native work within one token step and answers
// the request with RequestCancelled.
import { NotificationType, RequestType, RequestType0 } from 'vscode-jsonrpc';
import type { InspectReport } from './native-addon';

export type { InspectReport };

export interface InspectParams {
  modelPath: string;
}

export const InspectRequest = new RequestType<InspectParams, InspectReport, void>('smallthinker/inspect');

// ---------------------------------------------------------------------------------------------
// Loading a model

export interface LoadModelParams {
  modelPath: string;
  /** Compute threads; 0 or absent: one per usable core (physical, performance cores only, within the CPUs and quota given). */
  threads?: number;
  /** Context of a chat slot in tokens (completion slots use at most 4096); absent: 8192 or the model's, if smaller. */
  contextLength?: number;
  /** Longest prompt a request may send, in tokens (the oversize-prompt cap); absent: the chat context. */
  maxPromptTokens?: number;
  /** Bound on all slots' KV caches together, in MiB; absent: room for 4 slots (2 under a memory budget). */
  kvBudgetMiB?: number;
  /**
   * Bound on everything the engine process holds, in MiB; 0 or absent: no bound (the model
   * file is memory-mapped). Under a budget the experts live in an expert cache that the
   * memory plan sizes; a budget below the plan's minimum fails with that minimum named.
   */
  memoryBudgetMiB?: number;
  /**
   * The most tokens a completion evaluates when its document's slot holds nothing to reuse
   * (longer prompts are cut nearer the cursor); absent: what this machine evaluates in 3 s,
   * as measured from the engine's own prompts (512 before the first measurement).
   */
  coldPromptTokens?: number;
}

/** What the engine holds and how it plans memory, in bytes. */
export interface MemoryPlan {
  weightsBytes: number;
  scratchBytes: number;
  /** KV cache of one completion slot and of one chat slot. */
  completionSlotKvBytes: number;
  chatSlotKvBytes: number;
  /** All slots' KV caches together stay under this; the least recently used slot goes first. */
  kvBudgetBytes: number;
  /** The memory budget's split (one line), or null without a budget. */
  budgetPlan: string | null;
  /** Expert-cache slots under a budget (0 without one) and how many experts the model has. */
  expertSlots: number;
  expertsTotal: number;
}

export interface ModelInfo {
  modelPath: string;
  name: string;
  nVocab: number;
  nCtxTrain: number;
  chatContext: number;
  completionContext: number;
  maxPromptTokens: number;
  threads: number;
  isa: string;
  flavour: string;
  /** 'file' when the model's own chat template renders chats, 'chatml' for the fallback. */
  chatTemplate: 'file' | 'chatml';
  /** The completion prompt formats this vocabulary allows: the FIM ones need its three FIM tokens. */
  completionFormats: CompletionPromptFormat[];
  /** Whether the FIM tokens look trained (engine/fim-check.ts), and so what `auto` lays prompts out as. */
  fim: FimVerdict;
  memory: MemoryPlan;
}

export const LoadModelRequest = new RequestType<LoadModelParams, ModelInfo, void>('smallthinker/loadModel');

export interface LoadProgressParams {
  stage: 'validating' | 'loading' | 'ready';
  message: string;
}
export const LoadProgressNotification = new NotificationType<LoadProgressParams>('smallthinker/loadProgress');

// ---------------------------------------------------------------------------------------------
// Generation

export interface Timings {
  promptTokens: number;
  /** Prompt tokens whose KV state was reused from the slot instead of evaluated. */
  reusedTokens: number;
  generatedTokens: number;
  promptMs: number;
  generateMs: number;
  /** Generated tokens after the first over the time they took (docs/benchmarks.md); 0 with fewer than 2. */
  decodeTokensPerSecond: number;
}

export type StopReason = 'eog' | 'length' | 'context' | 'stop' | 'lines';

/**
 * How a completion prompt is laid out (engine/prompts.ts): the code before the cursor alone, or
 * with the code after it through the fill-in-the-middle tokens, suffix first (SPM) or prefix
 * first (PSM).
 */
export type CompletionPromptFormat = 'prefix' | 'fim-spm' | 'fim-psm';
export const COMPLETION_PROMPT_FORMATS: readonly CompletionPromptFormat[] = ['prefix', 'fim-spm', 'fim-psm'];
/** What a request may ask for: a format, or `auto` (a FIM format only when the FIM tokens look trained). */
export type CompletionFormatChoice = CompletionPromptFormat | 'auto';
export const COMPLETION_FORMAT_CHOICES: readonly CompletionFormatChoice[] = [...COMPLETION_PROMPT_FORMATS, 'auto'];

/** What the engine concluded about a file's FIM tokens from their embedding rows. */
export interface FimVerdict {
  /** 'absent': the vocabulary lacks one of the three tokens. */
  verdict: 'trained' | 'untrained' | 'undecidable' | 'absent';
  /** The figures behind it, for the log and `eval-completions`. */
  reason: string;
  /** The layout `auto` gives this file: a FIM format only when 'trained'. */
  autoFormat: CompletionPromptFormat;
}

export interface CompletionParams {
  /** Identifies the document: its slot keeps the KV state between keystrokes. */
  documentId: string;
  prefix: string;
  suffix: string;
  languageId: string;
  filePath: string;
  maxTokens: number;
  /** Stop strings (not returned); the end-of-generation tokens always stop. */
  stop?: string[];
  /** Stop after this many complete lines. */
  maxLines?: number;
  temperature?: number;
  /** The prompt's layout; 'prefix' when absent or when the vocabulary has no FIM tokens. */
  format?: CompletionFormatChoice;
  /**
   * Code from other files, most relevant first, put at the start of the prompt as comments
   * (engine/prompts.ts); chunks that do not fit the context budget are left out from the end.
   * Keep it the same between keystrokes, or the prompt's reuse starts over.
   */
  context?: ContextChunk[];
}

export interface ContextChunk {
  /** The file it comes from, as the user knows it (workspace-relative). */
  path: string;
  text: string;
}

export interface CompletionResult {
  text: string;
  stopReason: StopReason;
  timings: Timings;
}

export const CompletionRequest = new RequestType<CompletionParams, CompletionResult, void>('smallthinker/complete');

/** Evaluates a completion prompt without generating, when the engine is idle (file opened, cursor jumped). */
export const WarmCompletionNotification = new NotificationType<Omit<CompletionParams, 'maxTokens'>>('smallthinker/warmCompletion');

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface ChatParams {
  /** Identifies the conversation (its slot) and tags the streamed deltas. */
  chatId: string;
  messages: ChatMessage[];
  maxTokens: number;
  /** Always given: its default is the client's (the extension's `smallthinker.chat.temperature`). */
  temperature: number;
}

export interface ChatResult {
  text: string;
  stopReason: StopReason;
  timings: Timings;
}

export const ChatRequest = new RequestType<ChatParams, ChatResult, void>('smallthinker/chat');

/**
 * Evaluates the prompt a chat request with these messages would have (the question still being
 * written as the last user message), without answering, when the engine is idle: the question,
 * once sent, then only evaluates what changed since. Temperature is not used.
 */
export const WarmChatNotification = new NotificationType<ChatParams>('smallthinker/warmChat');

/** Streamed answer text for a chat request, in order; the final result repeats the whole text. */
export interface ChatDeltaParams {
  chatId: string;
  text: string;
}
export const ChatDeltaNotification = new NotificationType<ChatDeltaParams>('smallthinker/chatDelta');

// ---------------------------------------------------------------------------------------------
// Introspection

export interface TokenizeParams {
  text: string;
}
export interface TokenizeResult {
  tokens: number[];
}
export const TokenizeRequest = new RequestType<TokenizeParams, TokenizeResult, void>('smallthinker/tokenize');

export interface SlotStats {
  key: string;
  kind: 'completion' | 'chat';
  nPast: number;
  nCtx: number;
  kvCacheBytes: number;
}

export interface EngineStats {
  model: ModelInfo | null;
  memory: {
    rssBytes: number;
    peakRssBytes: number;
    /** The engine's JavaScript heap in use. */
    jsHeapBytes: number;
    weightsBytes: number;
    kvCacheBytes: number;
    kvBudgetBytes: number;
  };
  slots: SlotStats[];
  queue: { running: number; queued: number; limit: number };
  requests: { completed: number; cancelled: number; failed: number };
  lastCompletion: Timings | null;
  lastChat: Timings | null;
  /** The expert cache of the memory-budget mode (since load); zeros while the whole model is mapped. */
  expertCache: {
    hits: number; misses: number; bytesRead: number; stallMs: number; slots: number;
    /** The same per evaluated token (prompt and generated), since load. */
    perToken: { hits: number; misses: number; bytesRead: number; stallMs: number };
  };
}

export const StatsRequest = new RequestType0<EngineStats, void>('smallthinker/stats');

// ---------------------------------------------------------------------------------------------
// Liveness

/**
 * Sent every HEARTBEAT_INTERVAL_MS while the engine has work (a request running or queued, a
 * model loading). `work` is the native work counter: it moves with every layer computed and
 * every tensor loaded, so a heartbeat whose counter stands still says the event loop is
 * alive but the native work is not advancing.
 */
export interface HeartbeatParams {
  work: number;
}
export const HeartbeatNotification = new NotificationType<HeartbeatParams>('smallthinker/heartbeat');
export const HEARTBEAT_INTERVAL_MS = 1000;

/**
 * The exit status of an engine process whose model file changed on disk while it was in use
 * (truncated or rewritten in place): the addon writes one line naming the file to stderr and
 * exits with it, from its SIGBUS handler or its check before each evaluation
 * (native/src/addon/model_file_guard.cpp; EX_TEMPFAIL: restarting the engine reloads the file).
 */
export const MODEL_FILE_CHANGED_EXIT_CODE = 75;

/** Asks the engine to finish its work and exit cleanly. */
export const ShutdownRequest = new RequestType0<void, void>('shutdown');

/** Error codes the engine uses besides JSON-RPC's standard ones. */
export const EngineErrorCodes = {
  InvalidModel: -32001,
  NoModel: -32002,
  PromptTooLong: -32003,
  QueueFull: -32004,
  /** A newer completion for the same document replaced this one before it ran. */
  Superseded: -32005,
  /** JSON-RPC's (LSP's) RequestCancelled. */
  RequestCancelled: -32800,
  InvalidParams: -32602,
} as const;
