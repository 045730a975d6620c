// `smallthinker generate`, `eval` and `bench` (docs/cli.md): thin drivers over a native session;
// generate runs the engine process's own generation loop (../generation.ts).
import fs from 'node:fs';
import type { NativeAddon, NativeSession, SamplerParams } from '../native-addon';
import { UsageError, type ParsedArgs } from './args';
import { generateText } from '../generation';
import { ChatRenderer } from '../prompts';

export interface SessionArgs {
  model: string;
  threads: number;
  context?: number;
  kvType?: 'f16' | 'q8_0' | 'f32';
  memoryBudgetMiB: number;
  cachePolicy?: 'frequency' | 'lru';
  prefetch: boolean;
  predictNextLayer: boolean;
  expertSlots?: number;
}

export function sessionArgs(args: ParsedArgs): SessionArgs {
  const model = args.options.get('model') as string | undefined;
  if (!model) throw new UsageError('--model PATH is required');
  const context = args.options.get('context') as number | undefined;
  const memoryBudgetMiB = (args.options.get('memory-budget') as number | undefined) ?? 0;
  if (!(memoryBudgetMiB >= 0)) throw new UsageError('--memory-budget must be a number of MiB (0 = no bound)');
  const cachePolicy = args.options.get('cache-policy') as string | undefined;
  if (cachePolicy !== undefined && !['frequency', 'lru'].includes(cachePolicy)) throw new UsageError('--cache-policy must be frequency or lru');
  const kvType = args.options.get('kv-type') as string | undefined;
  if (kvType !== undefined && !['f16', 'q8_0', 'f32'].includes(kvType)) throw new UsageError('--kv-type must be f16, q8_0 or f32');
  return {
    model, threads: (args.options.get('threads') as number | undefined) ?? 0, context, kvType: kvType as SessionArgs['kvType'],
    memoryBudgetMiB, cachePolicy: cachePolicy as SessionArgs['cachePolicy'],
    prefetch: args.options.get('no-prefetch') !== true, predictNextLayer: args.options.get('no-predict-next-layer') !== true,
    expertSlots: args.options.get('expert-slots') as number | undefined,
  };
}

// plannedSlots: the contexts of the slots the command will compute in, for a memory budget's
// plan (a slot's KV cache keeps rewind slack that the session's own context does not).
function openSession(addon: NativeAddon, s: SessionArgs, allowOverflow: boolean, json = false, plannedSlots?: number[]): NativeSession {
  const session = addon.createSession(s.model, {
    threads: s.threads, context: s.context, kvType: s.kvType, allowContextOverflow: allowOverflow,
    memoryBudgetMiB: s.memoryBudgetMiB, cachePolicy: s.cachePolicy, prefetch: s.prefetch, predictNextLayer: s.predictNextLayer,
    maxExpertSlots: s.expertSlots, ...(plannedSlots ? { plannedSlots } : {}),
  });
  // The plan goes to stderr so that stdout stays the command's output.
  if (session.info.memory_plan && !json) process.stderr.write(`${session.info.memory_plan.summary}\n`);
  return session;
}

/** The expert cache counters of `bench --json` (docs/cli.md); zeros without a budget (every expert is in the mapping). */
function expertCacheReport(session: NativeSession) {
  const c = session.expertCacheStats();
  return c
    ? {
      hits: c.hits, misses: c.misses, bytes_read: c.bytesRead, stall_ms: c.stallMs, prefetches: c.prefetches,
      predicted_hits: c.predicted, cancelled_predictions: c.cancelled, io_busy_ms: c.ioBusyMs, miss_outstanding_ms: c.missOutstandingMs, io_idle_with_miss_ms: c.ioIdleWithMissMs,
      slots: c.slots,
    }
    : { hits: 0, misses: 0, bytes_read: 0, stall_ms: 0 };
}

function readPrompt(args: ParsedArgs): string {
  const text = args.options.get('prompt') as string | undefined;
  const file = args.options.get('prompt-file') as string | undefined;
  if (text !== undefined && file !== undefined) throw new UsageError('give --prompt or --prompt-file, not both');
  if (file !== undefined) {
    try {
      return fs.readFileSync(file, 'utf8');
    } catch (err) {
      throw new Error(`cannot read --prompt-file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
    }
  }
  if (text === undefined) throw new UsageError('--prompt TEXT or --prompt-file F is required');
  return text;
}

export function samplerParams(args: ParsedArgs): SamplerParams {
  return {
    temperature: (args.options.get('temperature') as number | undefined) ?? 0,
    topK: args.options.get('top-k') as number | undefined,
    topP: args.options.get('top-p') as number | undefined,
    seed: args.options.get('seed') as number | undefined,
  };
}

/** The prompt's tokens: with --chat, the file's chat template around it (its text stays text), else as written. */
function promptTokens(addon: NativeAddon, model: string, args: ParsedArgs, prompt: string): Int32Array {
  const tokenizer = addon.tokenizerFromModel(model);
  if (args.options.get('chat') !== true) return tokenizer.encode(prompt, { parseSpecial: true });
  const parts = new ChatRenderer(tokenizer.chatTemplate, (w) => process.stderr.write(`smallthinker: ${w}\n`)).render([{ role: 'user', content: prompt }]);
  return tokenizer.encodeParts(parts.map((p) => ({ text: p.text, parseSpecial: p.markup })));
}

export async function runGenerate(addon: NativeAddon, args: ParsedArgs, write: (s: string) => void): Promise<void> {
  const s = sessionArgs(args);
  const json = args.options.get('json') === true;
  const maxTokens = (args.options.get('max-tokens') as number | undefined) ?? 128;
  const prompt = readPrompt(args);
  const session = openSession(addon, s, args.options.get('allow-context-overflow') === true);
  const tokens = promptTokens(addon, s.model, args, prompt);
  if (tokens.length === 0) throw new UsageError('the prompt is empty');
  if (tokens.length + maxTokens > session.info.n_ctx) {
    throw new Error(`the prompt (${tokens.length} tokens) plus --max-tokens ${maxTokens} exceeds the context of ${session.info.n_ctx} tokens`);
  }
  const tokenizer = addon.tokenizerFromModel(s.model);
  const slot = session.createSlot();
  // The engine process's generation loop, text and all (generation.ts).
  const out = await generateText(slot, tokenizer, { stop: (args.options.get('stop') as string[] | undefined) ?? [], maxLines: Infinity },
    (onToken) => slot.generate({ prompt: tokens, maxTokens, stopIds: tokenizer.endOfGenerationIds, sampling: samplerParams(args) }, onToken),
    json ? undefined : write);
  if (!json) {
    write('\n');
    return;
  }
  // decode speed: tokens after the first over the time they took (docs/benchmarks.md).
  const r = out.result;
  write(`${JSON.stringify({
    prompt_tokens: Array.from(tokens),
    tokens: out.tokens,
    text: out.text,
    prefill_tokens_per_s: tokens.length / (r.promptMs / 1000),
    decode_tokens_per_s: r.tokens.length > 1 ? (r.tokens.length - 1) / (r.generateMs / 1000) : 0,
    peak_rss_bytes: addon.peakRssBytes(),
  })}\n`);
}

export function runEval(addon: NativeAddon, args: ParsedArgs, write: (s: string) => void): void {
  const s = sessionArgs(args);
  const top = (args.options.get('top') as number | undefined) ?? 8;
  if (!Number.isInteger(top) || top < 1) throw new UsageError('--top needs a positive whole number');
  const prompt = readPrompt(args);
  const session = openSession(addon, s, args.options.get('allow-context-overflow') === true);
  const tokenizer = addon.tokenizerFromModel(s.model);
  const promptTokens = tokenizer.encode(prompt, { parseSpecial: true });
  if (promptTokens.length === 0) throw new UsageError('the prompt is empty');
  if (promptTokens.length > session.info.n_ctx) {
    throw new Error(`the prompt (${promptTokens.length} tokens) exceeds the context of ${session.info.n_ctx} tokens`);
  }
  const positions = session.evaluateTopN(promptTokens, top);
  write(`${JSON.stringify({ prompt_tokens: Array.from(promptTokens), positions })}\n`);
}

// The forward pass's speed: the prompt, then greedy decode steps, timed in the engine's own
// generation loop (a slot's generate(): sampling in native code, tokens queued to JS), as the
// extension runs them; evaluate() would copy every step's logits (600 KB on the 4B) into a
// JavaScript array to sample them there, which cost ~0.6 ms a token the product never pays
// (docs/benchmarks.md). A measurement loop, not generation: no end-of-generation token stops
// it, and the expert cache's counters are read right after the prompt and at half way.
export async function runBench(addon: NativeAddon, args: ParsedArgs, write: (s: string) => void): Promise<void> {
  const s = sessionArgs(args);
  const promptTokens = (args.options.get('prompt-tokens') as number | undefined) ?? 512;
  const genTokens = (args.options.get('gen-tokens') as number | undefined) ?? 64;
  if (promptTokens < 1 || genTokens < 2) throw new UsageError('--prompt-tokens must be ≥ 1 and --gen-tokens ≥ 2');
  const json = args.options.get('json') === true;
  const loadStart = performance.now();
  const context = s.context ?? promptTokens + genTokens;
  const session = openSession(addon, { ...s, context }, false, json, [context]);
  const loadMs = performance.now() - loadStart;
  // The same deterministic prompt the llama.cpp side of `npm run bench` uses.
  const n = session.info.n_vocab;
  const prompt = Int32Array.from({ length: promptTokens }, (_, i) => (1000 + ((i * 7919) % 20000)) % n);
  const slot = session.createSlot();
  // The prompt and its greedy token: no decode step yet.
  const prefill = await slot.generate({ prompt, maxTokens: 1, stopIds: [] });
  const afterPrefill = expertCacheReport(session);
  // Decode steps from the last token on; each call's first step evaluates that token as its prompt.
  let last = prefill.tokens[0];
  const decode = async (steps: number) => {
    const r = await slot.generate({ prompt: Int32Array.of(last), maxTokens: steps, stopIds: [] });
    // A --context too short for the steps: the loop stops at the context's end instead.
    if (r.tokens.length < steps) throw new Error(`the context of ${slot.nCtx} tokens is too short for ${promptTokens} prompt and ${genTokens} generated tokens`);
    last = r.tokens[r.tokens.length - 1];
    return r.promptMs + r.generateMs;
  };
  // The last half of the decode steps is timed on its own too: under a budget the expert
  // cache starts empty and fills during the first ones (what a long session decodes at).
  const lastHalf = Math.floor((genTokens - 1) / 2);
  const firstHalfMs = await decode(genTokens - 1 - lastHalf);
  const atHalf = expertCacheReport(session);
  const lastHalfMs = lastHalf > 0 ? await decode(lastHalf) : 0;
  const total = expertCacheReport(session);
  type Counter = 'hits' | 'misses' | 'bytes_read' | 'stall_ms' | 'predicted_hits' | 'cancelled_predictions' | 'io_busy_ms' | 'miss_outstanding_ms' | 'io_idle_with_miss_ms';
  // A counter per decode step from a snapshot on (the first token's evaluation is part of the prompt).
  const perStepSince = (from: typeof total, steps: number) => (key: Counter) => ((total[key] ?? 0) - (from[key] ?? 0)) / Math.max(1, steps);
  const perToken = perStepSince(afterPrefill, genTokens - 1);
  const perTokenOfLastHalf = perStepSince(atHalf, lastHalf);
  const routing = slot.routingStats();
  const result = {
    load_ms: loadMs,
    // How the load found the file: the packed weights' bytes, and those read past the page cache.
    packed_weights_bytes: session.info.packed_weights_bytes,
    packed_read_past_cache_bytes: session.info.packed_read_past_cache_bytes,
    prefill_tokens_per_s: promptTokens / (prefill.promptMs / 1000),
    decode_tokens_per_s: (genTokens - 1) / ((firstHalfMs + lastHalfMs) / 1000),
    decode_last_half_tokens_per_s: lastHalf > 0 ? lastHalf / (lastHalfMs / 1000) : 0,
    peak_rss_bytes: addon.peakRssBytes(),
    expert_cache: {
      ...total,
      decode_per_token: {
        hits: perToken('hits'), misses: perToken('misses'), bytes_read: perToken('bytes_read'), stall_ms: perToken('stall_ms'),
        predicted_hits: perToken('predicted_hits'), cancelled_predictions: perToken('cancelled_predictions'),
        // Storage over decode: busy, and left idle while a needed expert waited (ms per token).
        io_busy_ms: perToken('io_busy_ms'), miss_outstanding_ms: perToken('miss_outstanding_ms'),
        io_idle_with_miss_ms: perToken('io_idle_with_miss_ms'),
      },
      decode_last_half_per_token: {
        hits: perTokenOfLastHalf('hits'), misses: perTokenOfLastHalf('misses'), bytes_read: perTokenOfLastHalf('bytes_read'),
        stall_ms: perTokenOfLastHalf('stall_ms'), predicted_hits: perTokenOfLastHalf('predicted_hits'),
      },
    },
    memory_plan: session.info.memory_plan,
    routing: {
      tokens: routing.tokens, n_layer: routing.nLayer, n_expert: routing.nExpert, n_expert_used: routing.nExpertUsed,
      expert_uses: routing.expertUses,
      neuron_sparsity: routing.neuronsTotal > 0 ? 1 - routing.neuronsActive / routing.neuronsTotal : 0,
    },
    threads: session.info.threads,
    // Times a core taken by another process made the regions use a thread fewer for a while.
    busy_core_drops: session.busyCoreDrops(),
    isa: session.info.isa,
    scheduling: session.info.scheduling,
  };
  const cacheLine = session.info.memory_plan
    ? `, expert cache: ${(100 * total.hits / Math.max(1, total.hits + total.misses)).toFixed(1)}% hits, ${(result.expert_cache.decode_per_token.bytes_read / 2 ** 20).toFixed(1)} MiB read and ${result.expert_cache.decode_per_token.stall_ms.toFixed(1)} ms stalled per decoded token`
    : '';
  write(json ? `${JSON.stringify(result)}\n`
    : `loaded in ${(loadMs / 1000).toFixed(2)} s, prefill ${result.prefill_tokens_per_s.toFixed(1)} tok/s, decode ${result.decode_tokens_per_s.toFixed(1)} tok/s, peak RSS ${(result.peak_rss_bytes / 2 ** 20).toFixed(0)} MiB (${result.threads} threads, ${result.isa})${cacheLine}\n`);
}
