// Runs one llama.cpp measurement (via node-llama-cpp, the reference engine) in its own
// process so its peak RSS is its own; prints one JSON object like `smallthinker bench --json`.
//   tsx test/bench/llama-cpp-child.ts MODEL THREADS PROMPT_TOKENS GEN_TOKENS
import fs from 'node:fs';

function peakRss(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

async function main(): Promise<void> {
  const [modelPath, threadsArg, promptArg, genArg] = process.argv.slice(2);
  const threads = Number(threadsArg);
  const promptTokens = Number(promptArg);
  const genTokens = Number(genArg);
  const { getLlama } = await import('node-llama-cpp');
  // The log says which CPU library (instruction-set level) llama.cpp loaded; errors go to stderr.
  let cpuLibrary = '';
  const llama = await getLlama({
    gpu: false, build: 'never', logLevel: 'log' as never,
    logger: (level: string, message: string) => {
      cpuLibrary = /loaded CPU backend from .*libggml-cpu-([\w-]+)\.so/.exec(message)?.[1] ?? cpuLibrary;
      if (level === 'error' || level === 'fatal') process.stderr.write(`llama.cpp: ${message}\n`);
    },
  } as never);
  // Loading counts from the model file to a context ready to evaluate, as `smallthinker bench`'s load_ms.
  const loadStart = performance.now();
  const model = await llama.loadModel({ modelPath, gpuLayers: 0, useMmap: true });
  const context = await model.createContext({ contextSize: promptTokens + genTokens + 16, threads, batchSize: promptTokens, flashAttention: false });
  const sequence = context.getSequence();
  const loadMs = performance.now() - loadStart;

  // A deterministic prompt of ordinary token ids (skip the first 1000: bytes and rare pieces).
  const prompt = Array.from({ length: promptTokens }, (_, i) => 1000 + ((i * 7919) % 20000)) as never[];
  const t0 = performance.now();
  const iterator = sequence.evaluate(prompt, { temperature: 0 });
  let first = await iterator.next();
  const t1 = performance.now();
  let generated = 1;
  while (generated < genTokens && !first.done) {
    first = await iterator.next();
    generated++;
  }
  const t2 = performance.now();
  await iterator.return?.(undefined as never);
  // The first next() covers prefill plus one sampled token's evaluation-free pick.
  process.stdout.write(JSON.stringify({
    engine: 'llama.cpp',
    load_ms: loadMs,
    prefill_tokens_per_s: promptTokens / ((t1 - t0) / 1000),
    decode_tokens_per_s: (generated - 1) / ((t2 - t1) / 1000),
    peak_rss_bytes: peakRss(),
    cpu_library: cpuLibrary,
  }) + '\n');
  await context.dispose();
  await model.dispose();
  await llama.dispose();
}

main().catch((err) => {
  process.stderr.write(`llama.cpp bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
