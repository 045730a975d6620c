// Loads the native engine addon. Only the engine process and the CLI load it, never the
// extension host (README: "Where things live"). The addon's surface is typed here, once.
import path from 'node:path';
import fs from 'node:fs';

// The addon's exit status when the model file changed under it (native/src/addon/model_file_guard.cpp).
export { MODEL_FILE_CHANGED_EXIT_CODE } from './protocol';

/** What `inspect` reports about a GGUF file (docs/cli.md, `inspect --json`). */
export interface InspectReport {
  arch: string;
  flavour: 'upstream' | 'powerinfer';
  hparams: Record<string, number | boolean | string>;
  tensors: Array<{ name: string; type: string; shape: number[]; offset: number; bytes: number }>;
  file_bytes: number;
  estimated_bytes: number;
  gguf_version: number;
  warnings: string[];
}

export interface SessionOptions {
  /** Worker threads; 0 or absent: one per usable core (platform::compute_core_count). */
  threads?: number;
  /** Context length in tokens; absent: the model's. More than the model's is an error unless allowed. */
  context?: number;
  allowContextOverflow?: boolean;
  /** KV cache element type: 'f16' (default), 'q8_0' (half the memory) or 'f32' (exactness checks). */
  kvType?: 'f16' | 'q8_0' | 'f32';
  /**
   * Bound on everything the process holds, in MiB (0 or absent: no bound, the file is
   * memory-mapped). Under a budget the non-expert weights are read into memory and the
   * experts go through an expert cache sized by the memory plan.
   */
  memoryBudgetMiB?: number;
  /** The KV caches the plan reserves: these slot contexts' (default: the session's own context). */
  plannedSlots?: number[];
  /** Or that many bytes of KV cache. */
  plannedKvBytes?: number;
  /** The expert cache's replacement policy (default 'frequency'). */
  cachePolicy?: 'frequency' | 'lru';
  /** Read a layer's experts as soon as its router has chosen them (default true). */
  prefetch?: boolean;
  /** Also read the experts the next layer's router would choose from this layer's input (default true). */
  predictNextLayer?: boolean;
  /** At most this many expert-cache slots, even if the budget allows more (benchmarks, tests). */
  maxExpertSlots?: number;
}

export interface MemoryPlanInfo {
  budget_bytes: number;
  baseline_bytes: number;
  resident_weights_bytes: number;
  kv_cache_bytes: number;
  scratch_bytes: number;
  /** Planned for nothing, so that the budget itself is never reached. */
  headroom_bytes: number;
  expert_cache_bytes: number;
  expert_slots: number;
  expert_slot_bytes: number;
  experts_total: number;
  minimum_bytes: number;
  direct_io: boolean;
  /** One line, for logs. */
  summary: string;
}

export interface ExpertCacheStats {
  hits: number;
  misses: number;
  bytesRead: number;
  stallMs: number;
  prefetches: number;
  /** Hits on experts read early because the next-layer prediction asked for them. */
  predicted: number;
  /** Predictions whose reads were dropped (all, or those not yet begun) because the layer's router chose other experts. */
  cancelled: number;
  /** Tokens evaluated through the cache (prompt and generated). */
  tokens: number;
  /** Wall-clock ms with at least one expert read in flight. */
  ioBusyMs: number;
  /** Wall-clock ms with at least one needed (not only predicted) expert queued or being read. */
  missOutstandingMs: number;
  /** The same ms weighted by the share of the I/O threads not reading then: storage left idle while a miss waits. */
  ioIdleWithMissMs: number;
  slots: number;
}

export interface RoutingStats {
  /** Uses of expert e in layer l at [l · nExpert + e]. */
  expertUses: number[];
  neuronsActive: number;
  neuronsTotal: number;
  tokens: number;
  nLayer: number;
  nExpert: number;
  nExpertUsed: number;
}

export interface SessionInfo {
  n_vocab: number;
  n_ctx: number;
  n_ctx_train: number;
  threads: number;
  isa: string;
  /** What the OS was asked for the compute threads and what it answered (macOS: the user-initiated QoS class; Windows: no execution-speed throttling; Linux: nothing to ask). */
  scheduling: string;
  flavour: 'upstream' | 'powerinfer';
  /** The session's own context's KV cache and scratch (planned sizes until its first evaluation). */
  kv_cache_bytes: number;
  scratch_bytes: number;
  weights_bytes: number;
  /** Of those, the Q4_0 weights held packed 16 rows at a time for the kernels (0: none; see docs/engine.md). */
  packed_weights_bytes: number;
  /**
   * Of those, the bytes the load read straight from storage, past the page cache, because the
   * cache did not hold them (a cold start); the rest were copied from the cache. 0 under a budget.
   */
  packed_read_past_cache_bytes: number;
  /** The memory budget's split, or null without a budget. */
  memory_plan: MemoryPlanInfo | null;
}

export interface SamplerParams {
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  repeatPenalty?: number;
  repeatLastN?: number;
  seed?: number;
}

export interface NativeSampler {
  /** Picks the next token from a logits row (Float32Array of n_vocab). */
  sample(logits: Float32Array): number;
  /** Records a token for the repetition penalty. */
  accept(token: number): void;
}

/** A loaded model with one KV cache: tokens are evaluated in order at positions nPast... */
export interface NativeSession {
  readonly info: SessionInfo;
  readonly nPast: number;
  /** Evaluates tokens; returns the last token's logits (n_vocab floats). */
  evaluate(tokens: Int32Array): Float32Array;
  /** Evaluates tokens teacher-forced; returns the best `topN` [id, logit] pairs of every position. */
  evaluateTopN(tokens: Int32Array, topN: number): Array<Array<[number, number]>>;
  /** Forgets everything: the next token is at position 0. */
  reset(): void;
  createSampler(params: SamplerParams): NativeSampler;
  /**
   * Another KV cache on the same weights and threads (context defaults to the session's).
   * Only one of a session's slots (or the session itself) computes at a time.
   */
  createSlot(options?: { context?: number }): NativeSlot;
  /** The KV cache bytes a slot of this context would take. */
  slotKvCacheBytes(context: number): number;
  /** The expert cache's counters since load, or null without a memory budget. */
  expertCacheStats(): ExpertCacheStats | null;
  /** Expert uses and neuron sparsity of the session's own context. */
  routingStats(): RoutingStats;
  /** How often the threads' regions went down a thread since load: a core was busy (busy_core_policy.h). */
  busyCoreDrops(): number;
  /** The root mean square of each token's embedding row (decoded from the file's type). */
  embeddingRowRms(ids: Int32Array): Float64Array;
  /**
   * Frees the weights, threads and scratch now, not at garbage collection (a reload then holds
   * one model, not two); every later call of the session or its slots throws. Not while busy.
   */
  release(): void;
}

export interface GenerateOptions {
  /** Evaluated first, at positions nPast.. (at least one token when maxTokens > 0). */
  prompt: Int32Array;
  /** Tokens already in the slot that the repetition penalty should count. */
  history?: number[];
  sampling?: SamplerParams;
  /** 0: only evaluate the prompt (warm the slot). */
  maxTokens: number;
  /** Sampling one of these ends the generation; it is not returned. */
  stopIds?: number[];
}

export interface GenerateResult {
  tokens: number[];
  stopReason: 'eog' | 'length' | 'context' | 'cancelled';
  promptTokens: number;
  promptMs: number;
  generateMs: number;
  /** Positions in the slot afterwards (the last generated token is not evaluated). */
  nPast: number;
}

/** One KV cache whose generation runs on a native thread and can be cancelled. */
export interface NativeSlot {
  readonly nPast: number;
  readonly nCtx: number;
  readonly kvCacheBytes: number;
  readonly busy: boolean;
  /** Keeps the first n positions; false when the sliding-window rings cannot (reset instead). */
  rewind(n: number): boolean;
  reset(): void;
  /** Streams each sampled token to onToken; cancel() ends it within one token step. */
  generate(options: GenerateOptions, onToken?: (token: number) => void): Promise<GenerateResult>;
  cancel(): void;
  /** Frees the KV cache now (not at garbage collection); the slot is unusable afterwards. */
  release(): void;
  /** Expert uses and neuron sparsity of this slot's evaluations. */
  routingStats(): RoutingStats;
}

export interface StreamingDecoder {
  /** Adds a token; returns the text that is now complete (a split UTF-8 sequence waits). */
  push(token: number): string;
  /** Whatever is still held back. */
  flush(): string;
}

/** The model file's byte-level BPE tokenizer (Qwen2 pre-tokenizer), as llama.cpp runs it. */
export interface NativeTokenizer {
  readonly tokenCount: number;
  readonly bosId: number;
  readonly endOfGenerationIds: number[];
  /** tokenizer.chat_template from the file, '' when absent. */
  readonly chatTemplate: string;
  /** parseSpecial: control tokens written in the text become their ids. */
  encode(text: string, options?: { parseSpecial?: boolean }): Int32Array;
  /**
   * Encodes the parts' texts as one string, except that control tokens are recognised only
   * inside parts with parseSpecial (a chat template's markup), never in the others (message
   * contents), so text that spells <|im_end|> stays text.
   */
  encodeParts(parts: ReadonlyArray<{ text: string; parseSpecial: boolean }>): Int32Array;
  decode(tokens: Int32Array, options?: { renderSpecial?: boolean }): string;
  /** The ids whose tokenizer.ggml.token_type is `type` (1 normal, 3 control, 5 unused padding). */
  idsOfType(type: number): Int32Array;
  createStreamingDecoder(options?: { renderSpecial?: boolean }): StreamingDecoder;
  /** Frees the vocabulary's tables now, not at garbage collection; later calls throw. */
  release(): void;
}

export interface NativeAddon {
  /** Loads the tokenizer of a model file (reads only the header). */
  tokenizerFromModel(modelPath: string): NativeTokenizer;
  /** Validates a SmallThinker GGUF file without reading its tensor data; throws a clear Error. */
  inspect(modelPath: string): InspectReport;
  /** Loads a model for inference (memory-mapped weights). Throws a clear Error on bad input. */
  createSession(modelPath: string, options: SessionOptions): NativeSession;
  /** The same load on a native worker thread: the event loop stays free while the weights are read. */
  createSessionAsync(modelPath: string, options: SessionOptions): Promise<NativeSession>;
  /** Peak resident set of this process (VmHWM), in bytes. */
  peakRssBytes(): number;
  /** Native work done so far in this process (layers computed, tensors loaded): it moves while work advances. */
  workCounter(): number;
  /** Bytes per second `threads` threads read from a buffer of `mib` MiB (for the benchmark's bandwidth fraction). */
  readBandwidth(mib: number, threads: number): number;
  /**
   * Bytes per second at which `threads` threads commit `mib` MiB of memory never touched (first
   * writes; large pages where the OS gives them), released again before returning: for the
   * benchmark's machine line.
   */
  freshMemoryRate(mib: number, threads: number): number;
  /**
   * Random reads of `chunkBytes` from the file at `path`, bypassing the page cache as the expert
   * cache does, by `threads` threads for `seconds` (together no faster than `paceBytesPerS` when
   * it is > 0). Blocks the calling thread: for the memory benchmark only.
   */
  storageReads(path: string, chunkBytes: number, threads: number, seconds: number, paceBytesPerS: number): StorageReadResult;
  /** The CPU as CPUID reports it (x86), or null on CPUs without it: the benchmark's machine line. */
  cpuIdentity(): CpuIdentity | null;
}

/** What storageReads did: bytes and reads in all, over `seconds`; whether they bypassed the page cache. */
export interface StorageReadResult {
  bytes: number;
  reads: number;
  seconds: number;
  direct: boolean;
}

/** One cache a core sees: level 1-3 …, kind 'd' data, 'i' instruction, 'u' unified. */
export interface CpuCache { level: number; kind: 'd' | 'i' | 'u'; bytes: number }
export interface CpuIdentity { vendor: string; family: number; model: number; stepping: number; caches: CpuCache[] }

let cached: NativeAddon | undefined;

/**
 * The one place the addon is loaded from: next to the code that loads it (dist/engine.js and
 * dist/cli.js in the VSIX and the source tree, engine/*.ts under tsx), never the working
 * directory or an environment variable, so a workspace cannot make the engine run its code.
 */
export function addonPath(): string {
  return path.resolve(__dirname, '..', 'native', 'build', 'Release', 'smallthinker.node');
}

export function loadNativeAddon(): NativeAddon {
  if (cached) return cached;
  const file = addonPath();
  if (!fs.existsSync(file)) throw new Error(`the native engine is not built (looked for ${file}); run \`npm install\``);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  cached = require(file) as NativeAddon;
  return cached;
}
