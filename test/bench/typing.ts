// The typing benchmark (part of `npm run bench`): the real engine process on a generated
// model, a ~1500-token file, 50 keystrokes each appending one character to the code before
// the cursor. Measures request → first completion token (maxTokens 1) once the file is warm,
// the first completion on a cold file (the engine cuts its prompt to what it evaluates in a
// few seconds), evaluating the whole prompt (a warm-up), and a chat's time to first token for a
// ~300-token question. The same keystrokes then go to llama.cpp's llama-server on the same
// file and threads through the remote engine's client (what `smallthinker.engine: "remote"`
// does against a server on this machine), unless `--no-remote`.
import path from 'node:path';
import { fork } from 'node:child_process';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node';
import {
  ChatDeltaNotification, ChatRequest, CompletionRequest, LoadModelRequest, ShutdownRequest, StatsRequest, TokenizeRequest,
  WarmChatNotification, WarmCompletionNotification, type ChatParams, type CompletionParams,
} from '../../engine/protocol';
import { RemoteClient } from '../../src/remote/client';
import { remoteCompletionAsk } from '../../src/remote/prompt';
import { ensureLlamaServer, startLlamaServer } from '../support/llama-server';
import { sourceFiles } from '../tokenizer-corpus';
import { REQUEST_CHUNKS } from '../../src/completion/context';

export interface TypingResult {
  file_tokens: number;
  keystrokes: number;
  warm_first_token_ms: { median: number; p90: number; max: number; engine_median: number };
  /** The same keystrokes with context chunks from other files at the prompt's start. */
  warm_with_context_first_token_ms: { median: number; p90: number; chunks: number; context_tokens: number; engine_median: number };
  /** A completion on a file whose slot holds nothing: the engine cuts its prompt (engine/cold-prompt.ts). */
  cold_first_token_ms: number;
  /** Tokens those cold prompts evaluated (mean of two). */
  cold_prompt_tokens: number;
  /** The whole file's prompt evaluated from scratch, as a warm-up does it. */
  full_prompt_first_token_ms: number;
  speedup: number;
  chat_question_tokens: number;
  chat_first_token_ms: number;
  /** The question written in the view: evaluated ahead up to its last line, then sent whole. */
  chat_typed_first_token_ms: number;
  /** The same keystrokes through the remote engine's client to llama-server on this machine (absent with --no-remote). */
  llama_server?: RemoteTypingResult;
}

export interface RemoteTypingResult {
  warm_first_token_ms: { median: number; p90: number; max: number };
  full_prompt_first_token_ms: number;
  /** Which endpoint answered (the `prefix` format: /v1/completions). */
  endpoint: string;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * q))];

/** What the 50 keystrokes type, one character each. */
const TYPED = 'const total = items.reduce((sum, item) => sum + item.price, 0);\n';

export async function typingBenchmark(model: string, threads: number, root: string, withRemote = true): Promise<TypingResult> {
  const child = fork(path.join(root, 'dist', 'engine.js'), [], { stdio: ['pipe', 'pipe', 'inherit', 'ipc'], execArgv: [] });
  const connection = createMessageConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
  connection.listen();
  try {
    await connection.sendRequest(LoadModelRequest, { modelPath: model, threads });
    const count = async (text: string) => (await connection.sendRequest(TokenizeRequest, { text })).tokens.length;

    // A ~1500-token TypeScript-ish file from real sources; the cursor at its end.
    let file = '';
    for (const f of sourceFiles(200)) {
      if (!/\.(ts|js)$/.test(f.name)) continue;
      file += f.text.slice(0, 1200) + '\n';
      if (file.length > 4000 && (await count(file)) >= 1500) break;
    }
    while ((await count(file)) > 1500) file = file.slice(0, file.lastIndexOf('\n', file.length - 2) + 1);
    const fileTokens = await count(file);
    const request = (documentId: string, prefix: string): CompletionParams =>
      ({ documentId, prefix, suffix: '\n', languageId: 'typescript', filePath: 'src/bench.ts', maxTokens: 1 });
    /** Prompt length of the last request (evaluated + reused tokens). */
    let lastPromptTokens = 0;
    /** The engine's own time for the last request's prompt (its part of the round trip). */
    let lastEngineMs = 0;
    const timed = async (params: CompletionParams) => {
      const t0 = performance.now();
      const r = await connection.sendRequest(CompletionRequest, params);
      lastPromptTokens = r.timings.promptTokens + r.timings.reusedTokens;
      lastEngineMs = r.timings.promptMs;
      return performance.now() - t0;
    };

    // Cold: a fresh document has no state to reuse, so the engine cuts the prompt near the cursor
    // to what it evaluates in a few seconds (the first without a measured speed, the second with).
    const cold: number[] = [];
    const coldTokens: number[] = [];
    for (const documentId of ['file:///cold-1.ts', 'file:///cold-2.ts']) {
      cold.push(await timed(request(documentId, file)));
      coldTokens.push(lastPromptTokens);
    }
    const coldMs = cold.reduce((a, b) => a + b) / cold.length;
    const coldPromptTokens = coldTokens.reduce((a, b) => a + b) / coldTokens.length;
    process.stderr.write(`typing: first completion on a cold ${fileTokens}-token file: ${cold.map((x) => x.toFixed(0)).join(' / ')} ms ` +
      `(prompts of ${coldTokens.join(' / ')} tokens)\n`);

    /** Waits until nothing runs or waits and the slot `key` holds tokens (a warm-up done); the time since t0. */
    const warmedSince = async (key: string, t0: number) => {
      for (;;) {
        const stats = await connection.sendRequest(StatsRequest);
        if (stats.queue.running === 0 && stats.queue.queued === 0 && (stats.slots.find((x) => x.key === key)?.nPast ?? 0) > 0) break;
        if (performance.now() - t0 > 600_000) throw new Error(`the warm-up of ${key} did not finish in 10 minutes`);
        await new Promise((r) => setTimeout(r, 5));
      }
      return performance.now() - t0;
    };
    /** Sends a warm-up (the whole window: nobody waits for it) and waits until it is done; its time. */
    const warmUp = async (params: CompletionParams) => {
      const { maxTokens: _unused, ...warm } = params;
      const t0 = performance.now();
      await connection.sendNotification(WarmCompletionNotification, warm);
      return warmedSince(`completion:${params.documentId}`, t0);
    };

    // Warm: the document's slot holds the file; each keystroke appends one character. The same
    // keystrokes go, interleaved, to a second document whose requests carry context from other
    // files at the prompt's start (as the extension sends it: the same chunks while typing goes
    // on; as many 24-line chunks of other sources as it sends at most, so the engine fills its
    // context budget): interleaved, both medians are taken over the same minutes of the
    // machine, whose speed drifts.
    const context = sourceFiles(200).filter((f) => /\.(ts|js|py)$/.test(f.name)).slice(-REQUEST_CHUNKS)
      .map((f) => ({ path: f.name, text: f.text.split('\n').slice(0, 24).join('\n') }));
    const plainRequest = (p: string) => request('file:///typing.ts', p);
    const contextRequest = (p: string): CompletionParams => ({ ...request('file:///typing-context.ts', p), context });
    // Each document warmed first, as the extension does when a file is opened: the keystrokes
    // then type into the whole file's window. The plain warm-up is the whole prompt's time.
    let prefix = file;
    const full = await warmUp(plainRequest(prefix));
    process.stderr.write(`typing: whole ${fileTokens}-token prompt (a warm-up): ${full.toFixed(0)} ms\n`);
    await warmUp(contextRequest(prefix));
    await timed(plainRequest(prefix));
    const plainPromptTokens = lastPromptTokens;
    await timed(contextRequest(prefix));
    const contextTokens = lastPromptTokens - plainPromptTokens;
    const typed = TYPED;
    const times: number[] = [];
    const contextTimes: number[] = [];
    const engineTimes: number[] = [];
    const contextEngineTimes: number[] = [];
    for (let i = 0; i < 50; i++) {
      prefix += typed[i % typed.length];
      times.push(await timed(plainRequest(prefix)));
      engineTimes.push(lastEngineMs);
      contextTimes.push(await timed(contextRequest(prefix)));
      contextEngineTimes.push(lastEngineMs);
    }
    process.stderr.write(`typing: 50 keystrokes, median ${median(times).toFixed(0)} ms to the first token\n`);
    process.stderr.write(`typing: with ${context.length} context chunks sent (${contextTokens} tokens more in the prompt), median ${median(contextTimes).toFixed(0)} ms\n`);

    // Chat: time to the first streamed token of a ~300-token question.
    let question = 'Explain what this code does and how to make it faster:\n';
    for (const line of file.split('\n')) {
      if ((await count(question)) >= 300) break;
      question += line + '\n';
    }
    const questionTokens = await count(question);
    /** A chat request's time to its first streamed text. */
    const chatFirstDelta = async (params: ChatParams) => {
      let first = 0;
      const t0 = performance.now();
      const disposable = connection.onNotification(ChatDeltaNotification, () => {
        if (!first) first = performance.now() - t0;
      });
      await connection.sendRequest(ChatRequest, params);
      disposable.dispose();
      return first;
    };
    const firstDelta = await chatFirstDelta({ chatId: 'bench', maxTokens: 4, temperature: 0, messages: [{ role: 'user', content: question }] });
    process.stderr.write(`typing: chat, ${questionTokens}-token question: first token after ${firstDelta.toFixed(0)} ms\n`);

    // The same question written in the chat view: after a pause in typing the view sends the
    // text so far and the engine evaluates it ahead (WarmChatNotification); here the pause
    // falls before the question's last line, which is then typed and sent.
    const written = `In other words, ${question}`;
    const lastLine = written.trimEnd().lastIndexOf('\n');
    const draft = { chatId: 'bench-typed', maxTokens: 4, temperature: 0 };
    const w0 = performance.now();
    await connection.sendNotification(WarmChatNotification, { ...draft, messages: [{ role: 'user', content: written.slice(0, lastLine).trim() }] });
    await warmedSince('chat:bench-typed', w0);
    const typedFirstDelta = await chatFirstDelta({ ...draft, messages: [{ role: 'user', content: written }] });
    process.stderr.write(`typing: chat, the same question written in the view (evaluated ahead up to its last line): first token after ${typedFirstDelta.toFixed(0)} ms\n`);

    const remote = withRemote ? await remoteTyping(model, threads, file) : undefined;
    return {
      ...(remote ? { llama_server: remote } : {}),
      file_tokens: fileTokens, keystrokes: times.length,
      warm_first_token_ms: { median: median(times), p90: quantile(times, 0.9), max: Math.max(...times), engine_median: median(engineTimes) },
      warm_with_context_first_token_ms: {
        median: median(contextTimes), p90: quantile(contextTimes, 0.9), chunks: context.length, context_tokens: contextTokens,
        engine_median: median(contextEngineTimes),
      },
      cold_first_token_ms: coldMs, cold_prompt_tokens: coldPromptTokens,
      full_prompt_first_token_ms: full, speedup: full / median(times),
      chat_question_tokens: questionTokens, chat_first_token_ms: firstDelta, chat_typed_first_token_ms: typedFirstDelta,
    };
  } finally {
    await connection.sendRequest(ShutdownRequest).catch(() => undefined);
    connection.dispose();
    setTimeout(() => child.kill('SIGKILL'), 3000).unref();
  }
}

/**
 * The typing keystrokes against llama-server (built from the llama.cpp sources node-llama-cpp
 * ships) through the remote engine's client, as the extension sends them with the default
 * `prefix` format: request -> the whole one-token answer, since /v1/completions is not streamed
 * here. The server keeps the previous prompt (cache_prompt), as our slot does.
 */
async function remoteTyping(model: string, threads: number, file: string): Promise<RemoteTypingResult> {
  const server = await startLlamaServer(ensureLlamaServer(), model, { threads, ctx: 4096 });
  try {
    const client = new RemoteClient({ url: server.url, timeoutMs: 120_000 });
    await client.models();
    const never = { aborted: false, onAbort: () => undefined };
    let endpoint = '';
    const timed = async (prefix: string, documentId: string) => {
      const t0 = performance.now();
      const answer = await client.complete(remoteCompletionAsk({ documentId, prefix, suffix: '\n', languageId: 'typescript', filePath: 'src/bench.ts', maxTokens: 1 }), never);
      endpoint = answer.endpoint;
      return performance.now() - t0;
    };
    // Cold: a different first line each time, so nothing of the prompt is cached.
    const cold = [await timed(`// 1\n${file}`, 'cold-1'), await timed(`// 2\n${file}`, 'cold-2')];
    let prefix = file;
    await timed(prefix, 'typing');
    const times: number[] = [];
    for (let i = 0; i < 50; i++) {
      prefix += TYPED[i % TYPED.length];
      times.push(await timed(prefix, 'typing'));
    }
    process.stderr.write(`typing: llama-server, 50 keystrokes, median ${median(times).toFixed(0)} ms to the first token\n`);
    return {
      warm_first_token_ms: { median: median(times), p90: quantile(times, 0.9), max: Math.max(...times) },
      full_prompt_first_token_ms: cold.reduce((a, b) => a + b) / cold.length, endpoint,
    };
  } finally {
    await server.stop();
  }
}
