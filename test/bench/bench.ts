// `npm run bench`: our engine against llama.cpp on the same generated file, the same thread
// count and this machine, alternating runs in one session (docs/benchmarks.md). Prints both speeds,
// the ratios and peak memory; `--json` prints the whole table as one object.
// Then the typing benchmark (./typing.ts) on the same file, unless --no-typing; its keystrokes
// also go to llama-server (the remote engine against this machine) unless --no-remote.
//   npm run bench -- [--preset 4b|21b] [--type q4_0|q4_k_m|…] [--routing realistic|default] [--threads 2] [--rounds 3]
//     [--prompt-tokens 512] [--gen-tokens 64] [--no-typing] [--no-remote] [--against DIR] [--no-subnormal-case] [--isa sse42|avx|avx2|avxvnni|avx512|scalar]
//     [--llama-variant haswell|zen4|…|best] [--cold-load]
// Without --routing: the realistic-routing file (the main case, with the typing benchmark)
// and then the default file. Each table names the CPU, its caches and the read bandwidth
// measured here, and decode speed as a fraction of bandwidth ÷ bytes per token.
// --isa: our engine on that kernel table (e.g. avx2 on an AVX-512 machine), llama.cpp on the
// matching CPU library of its prebuilt package (./llama-variant.ts); --llama-variant NAME|best overrides.
// Every round also runs our engine with subnormal floats kept (SMALLTHINKER_SUBNORMALS=keep):
// the engine flushes them because Intel cores slow down several-fold on them (a Xeon ran
// prefill at a third of the speed), and this row shows what the flushing buys on this CPU.
// --type: any of the generator's file types (llama-quantize's presets too); default q4_0.
// Each table has a load column: opening the file to a context ready to evaluate, the page cache
// warm after the first round. --cold-load (root, Linux) adds one run of each engine after
// dropping the page cache: the load a user waits for the first time.
// --against DIR runs another checkout's build (DIR/dist/cli.js) in the same rounds: the
// change's effect on speed, measured side by side (the two builds take turns at running first,
// so use an even number of rounds).
// With --memory-budget MIB: the bounded-memory benchmark instead (./memory-bench.ts), each
// engine in a memory cgroup of MIB with the page cache dropped first (root, cgroup v1):
//   npm run bench -- --memory-budget 1024 [--preset 4b] [--routing default|uniform|realistic|smooth]
//     [--prompt-tokens 64] [--gen-tokens 256] [--llama-gen-tokens 8] [--variants] [--no-cgroup]
//     [--storage-interference] [--file-in-memory]
//   (without --routing: the realistic and the smooth file, one table each, each followed by the
//   storage's rate for the cache's reads; --storage-interference adds what reading at the
//   run's rate costs an engine that reads nothing; --file-in-memory a run of ours on a copy of
//   the file in /dev/shm: the engine with the storage taken out). The expert cache
//   starts empty, so a short generation measures mostly its filling (docs/benchmarks.md).
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { ensureModel, type ModelOptions } from '../generator/index';
import { FILE_TYPES, isFileType } from '../generator/file-types';
import { typingBenchmark } from './typing';
import { boundedMemoryBenchmark, boundedTable, storageInterference, storageRate } from './memory-bench';
import { MemoryCgroup, dropPageCache } from './cgroup';
import { LLAMA_VARIANT_FOR_ISA, llamaChildCommand } from './llama-variant';
import { freshMemory, freshMemoryText, machineDescription, machineInfo } from './machine';
import { loadNativeAddon } from '../../engine/native-addon';

// load_ms is missing from builds older than it (--against DIR).
interface Run {
  engine: string; load_ms?: number; prefill_tokens_per_s: number; decode_tokens_per_s: number; peak_rss_bytes: number; cpu_library?: string;
  /** Ours: how often the pool ran on a thread fewer because another process kept a core busy (busy_core_policy.h). */
  busy_core_drops?: number;
}

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

const root = path.resolve(__dirname, '..', '..');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function runJson(cmd: string, args: string[], env: Record<string, string> = {}): Run {
  const out = execFileSync(cmd, args, {
    cwd: root, encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env },
  });
  const line = out.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as Run;
}

interface RoutingReport { n_layer: number; n_expert: number; n_expert_used: number; neuron_sparsity: number }

/**
 * The bytes one decode step must read, from the file's tensor sizes and the run's routing:
 * all attention and router weights, the active experts' gate rows, the up rows that ReLU
 * sparsity does not skip and their down rows, one embedding row and the output head
 * (`needed`); and with every up and down row of the active experts instead (`dense`): what an
 * engine that reads whole matrices reads (llama.cpp, and ours, whose 16-row groups hold every
 * neuron).
 */
function bytesPerToken(model: string, routing: RoutingReport): { needed: number; dense: number } {
  const report = loadNativeAddon().inspect(model);
  const bytes = new Map(report.tensors.map((t) => [t.name, t.bytes]));
  const get = (name: string) => bytes.get(name) ?? 0;
  let shared = get('output_norm.weight') + (bytes.has('output.weight') ? get('output.weight') : get('token_embd.weight'));
  shared += get('token_embd.weight') / Number(report.hparams.n_vocab);
  let upDown = 0;
  for (let l = 0; l < routing.n_layer; l++) {
    const b = `blk.${l}.`;
    for (const t of ['attn_norm', 'attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_norm', 'ffn_gate_inp']) shared += get(`${b}${t}.weight`);
    const perExpert = (t: string) => routing.n_expert_used * get(`${b}${t}.weight`) / routing.n_expert;
    shared += perExpert('ffn_gate_exps');
    upDown += perExpert('ffn_up_exps') + perExpert('ffn_down_exps');
  }
  return { needed: shared + (1 - routing.neuron_sparsity) * upDown, dense: shared + upDown };
}

async function main(): Promise<void> {
  const preset = option('preset', '4b') as '4b' | '21b';
  const threads = Number(option('threads', '2'));
  const budgetMiB = Number(option('memory-budget', '0'));
  if (budgetMiB > 0) {
    await boundedMain(preset, threads, budgetMiB);
    return;
  }
  if (process.argv.includes('--cold-load') && (process.platform !== 'linux' || process.getuid?.() !== 0)) {
    throw new Error('--cold-load drops the page cache, which needs root on Linux');
  }
  const type = option('type', 'q4_0');
  if (!isFileType(type)) throw new Error(`--type ${type}: not a file type the generator writes (${FILE_TYPES.join(', ')})`);
  // The realistic-routing file is the main case (diverse experts and ReLU zeros, like a trained
  // model); the default file, whose tokens all take the same experts, is the second.
  const routings = option('routing', '') ? [option('routing', '')] : ['realistic', 'default'];
  const machine = machineInfo(threads);
  const cases = [];
  for (const [i, routing] of routings.entries()) {
    if (!['default', 'realistic'].includes(routing)) throw new Error('--routing must be default or realistic');
    const model = await ensureModel({
      preset, type, vocab: 'qwen', flavour: 'upstream', seed: 1, ...(routing === 'default' ? {} : { routing: routing as 'realistic' }),
    });
    cases.push(await benchCase(model, threads, machine, i === 0 && !process.argv.includes('--no-typing')));
  }
  if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify({ machine, cases })}\n`);
}

async function benchCase(model: string, threads: number, machine: ReturnType<typeof machineInfo>, typing: boolean) {
  const rounds = Number(option('rounds', '3'));
  const promptTokens = Number(option('prompt-tokens', '512'));
  const genTokens = Number(option('gen-tokens', '64'));
  // --isa NAME: our engine on that kernel table, and llama.cpp on the matching CPU library
  // (AVX2: its haswell build) unless --llama-variant says otherwise (best: llama.cpp chooses).
  const isa = option('isa', '');
  const ourEnv: Record<string, string> = isa ? { SMALLTHINKER_ISA: isa } : {};
  const llamaVariant = option('llama-variant', LLAMA_VARIANT_FOR_ISA[isa] ?? 'best');
  const llamaChild = llamaChildCommand('llama-cpp-child.ts', llamaVariant);
  // --against DIR: another checkout's build (its dist/cli.js) in the same rounds, e.g. the last
  // build before a change, to show what the change did to speed.
  const against = option('against', '');
  const cliArgs = ['bench', '--model', model, '--threads', String(threads), '--prompt-tokens', String(promptTokens), '--gen-tokens', String(genTokens), '--json'];

  const ours: Array<Run & { routing?: RoutingReport; isa?: string }> = [];
  const theirs: Run[] = [];
  const before: Run[] = [];
  const subnormalsKept: Run[] = [];
  const subnormalCase = !process.argv.includes('--no-subnormal-case');
  // The other build on the same kernel table as ours (--isa), or the comparison is of tables.
  const runBefore = () => before.push(runJson(process.execPath, [path.join(path.resolve(against), 'dist', 'cli.js'), ...cliArgs], ourEnv));
  for (let r = 0; r < rounds; r++) {
    // The run right after llama.cpp's finds the page cache emptied by llama.cpp's memory and
    // pays for it (the 4B's load: 2-3 s against 0.4; the 21B's in 24 GiB: decode 12.8 against
    // 15.0 too), so with --against the two builds take turns at going first.
    const beforeFirst = against !== '' && r % 2 === 1;
    if (beforeFirst) runBefore();
    ours.push(runJson(process.execPath, [path.join(root, 'dist', 'cli.js'), ...cliArgs], ourEnv));
    if (subnormalCase) {
      subnormalsKept.push(runJson(process.execPath, [path.join(root, 'dist', 'cli.js'), ...cliArgs], { ...ourEnv, SMALLTHINKER_SUBNORMALS: 'keep' }));
    }
    if (against && !beforeFirst) runBefore();
    theirs.push(runJson(process.execPath, [...llamaChild, model, String(threads), String(promptTokens), String(genTokens)]));
    process.stderr.write(`round ${r + 1}/${rounds}: ours decode ${ours[r].decode_tokens_per_s.toFixed(1)} tok/s, ` +
      `${against ? `the other build ${before[r].decode_tokens_per_s.toFixed(1)} tok/s, ` : ''}llama.cpp ${theirs[r].decode_tokens_per_s.toFixed(1)} tok/s\n`);
  }
  // Cold starts last, so that the rounds above keep their warm page cache.
  const coldLoadMs = (run: () => Run) => {
    dropPageCache();
    return run().load_ms ?? NaN;
  };
  const coldLoad = process.argv.includes('--cold-load')
    ? {
      smallthinker_ms: coldLoadMs(() => runJson(process.execPath, [path.join(root, 'dist', 'cli.js'), ...cliArgs], ourEnv)),
      llama_cpp_ms: coldLoadMs(() => runJson(process.execPath, [...llamaChild, model, String(threads), String(promptTokens), String(genTokens)])),
    }
    : undefined;
  const summary = (runs: Run[]) => ({
    load_ms: runs.every((x) => x.load_ms !== undefined) ? median(runs.map((x) => x.load_ms!)) : NaN,
    prefill_tokens_per_s: median(runs.map((x) => x.prefill_tokens_per_s)),
    decode_tokens_per_s: median(runs.map((x) => x.decode_tokens_per_s)),
    peak_rss_bytes: median(runs.map((x) => x.peak_rss_bytes)),
    busy_core_drops: runs.reduce((sum, x) => sum + (x.busy_core_drops ?? 0), 0),
  });
  const a = summary(ours);
  const b = summary(theirs);
  const c = against ? summary(before) : undefined;
  const kept = subnormalCase ? summary(subnormalsKept) : undefined;
  // Decode against the machine's limit: read bandwidth ÷ the bytes a token must read.
  const routing = ours[0].routing;
  const tokenBytes = routing ? bytesPerToken(model, routing) : { needed: 0, dense: 0 };
  const perToken = tokenBytes.needed;
  const limit = perToken > 0 ? machine.read_bandwidth_bytes_per_s / perToken : 0;
  // What both engines read today, and how much of the bandwidth each one's decode streams:
  // reading whole matrices, no engine can be more than bandwidth ÷ llama.cpp's stream faster.
  const densePerToken = tokenBytes.dense;
  const streamed = (tokensPerS: number) => densePerToken * tokensPerS / machine.read_bandwidth_bytes_per_s;
  const result = {
    model: path.basename(model), threads, rounds, prompt_tokens: promptTokens, gen_tokens: genTokens,
    isa: ours[0].isa ?? '', llama_cpp_cpu_library: theirs[0].cpu_library ?? '', bytes_per_token: perToken, bandwidth_limit_tokens_per_s: limit,
    fraction_of_limit: limit > 0 ? a.decode_tokens_per_s / limit : 0,
    dense_bytes_per_token: densePerToken,
    bandwidth_streamed: { smallthinker: streamed(a.decode_tokens_per_s), llama_cpp: streamed(b.decode_tokens_per_s) },
    smallthinker: a, llama_cpp: b, ...(c ? { other_build: { dir: path.resolve(against), ...c } } : {}),
    ...(kept ? { subnormals_kept: kept } : {}),
    ...(coldLoad ? { cold_load: coldLoad } : {}),
    ratio: {
      decode: a.decode_tokens_per_s / b.decode_tokens_per_s,
      prefill: a.prefill_tokens_per_s / b.prefill_tokens_per_s,
      peak_rss: a.peak_rss_bytes / b.peak_rss_bytes,
    },
    typing: typing ? await typingBenchmark(model, threads, root, !process.argv.includes('--no-remote')) : undefined,
  };
  if (process.argv.includes('--json')) return result;
  const mib = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;
  const seconds = (ms: number) => (Number.isNaN(ms) ? '–' : `${(ms / 1000).toFixed(2)} s`);
  const loadRatio = (ms: number, otherMs: number) => (Number.isNaN(ms / otherMs) ? '–' : `${(ms / otherMs).toFixed(2)}x`).padStart(6);
  const row = (name: string, s: typeof a) =>
    `| ${name.padEnd(12)} | ${s.decode_tokens_per_s.toFixed(1).padStart(8)} | ${s.prefill_tokens_per_s.toFixed(1).padStart(9)} | ${mib(s.peak_rss_bytes).padStart(9)} | ${seconds(s.load_ms).padStart(6)} |`;
  process.stdout.write([
    `${machine.cpu} (${machine.logical_cores} logical cores, ${machine.memory_gib} GiB; caches ${machine.caches}; ` +
      `read bandwidth ${(machine.read_bandwidth_bytes_per_s / 1e9).toFixed(1)} GB/s with ${threads} threads; ${freshMemoryText(machine.fresh_memory)})`,
    `${result.model}; ${threads} threads; kernels ${result.isa} (llama.cpp: ${result.llama_cpp_cpu_library || 'unknown'}); medians of ${rounds} alternating rounds`,
    '| engine       | decode/s | prefill/s |  peak RSS |   load |',
    '|--------------|----------|-----------|-----------|--------|',
    row('smallthinker', a),
    ...(c ? [row('other build', c)] : []),
    ...(kept ? [row('subnorm kept', kept)] : []),
    row('llama.cpp', b),
    `| ratio        | ${result.ratio.decode.toFixed(2).padStart(7)}x | ${result.ratio.prefill.toFixed(2).padStart(8)}x | ${result.ratio.peak_rss.toFixed(2).padStart(8)}x | ${loadRatio(a.load_ms, b.load_ms)} |`,
    ...(c ? [`| vs other     | ${(a.decode_tokens_per_s / c.decode_tokens_per_s).toFixed(2).padStart(7)}x | ` +
      `${(a.prefill_tokens_per_s / c.prefill_tokens_per_s).toFixed(2).padStart(8)}x | ${(a.peak_rss_bytes / c.peak_rss_bytes).toFixed(2).padStart(8)}x | ${loadRatio(a.load_ms, c.load_ms)} |`] : []),
    ...(kept ? [`| flush buys   | ${(a.decode_tokens_per_s / kept.decode_tokens_per_s).toFixed(2).padStart(7)}x | ` +
      `${(a.prefill_tokens_per_s / kept.prefill_tokens_per_s).toFixed(2).padStart(8)}x |           |        |`] : []),
    // A drop means another process held a core during our runs: their speeds are not this machine's alone.
    ...(a.busy_core_drops > 0 ? [`our runs ran on a thread fewer ${a.busy_core_drops} times: another process kept a core busy (speeds above are not this machine's alone)`] : []),
    ...(coldLoad ? [`from a cold page cache: loaded in ${seconds(coldLoad.smallthinker_ms)}, llama.cpp ${seconds(coldLoad.llama_cpp_ms)}`] : []),
    ...(limit > 0 ? [`decode at ${(result.fraction_of_limit * 100).toFixed(0)} % of the machine's limit: ` +
      `${(perToken / 1e6).toFixed(0)} MB per token (neuron sparsity ${((routing?.neuron_sparsity ?? 0) * 100).toFixed(0)} %) ` +
      `at ${(machine.read_bandwidth_bytes_per_s / 1e9).toFixed(1)} GB/s = ${limit.toFixed(1)} tokens/s`] : []),
    ...(densePerToken > 0 && b.decode_tokens_per_s > 0 ? [`whole matrices, ${(densePerToken / 1e6).toFixed(0)} MB per token, ` +
      `stream at ${(result.bandwidth_streamed.smallthinker * 100).toFixed(0)} % of the bandwidth in our decode and ` +
      `${(result.bandwidth_streamed.llama_cpp * 100).toFixed(0)} % in llama.cpp's: reading them, no engine decodes more than ` +
      `${(1 / result.bandwidth_streamed.llama_cpp).toFixed(2)}x llama.cpp here`] : []),
    '',
  ].join('\n'));
  const t = result.typing;
  if (t) {
    process.stdout.write([
      `typing (engine process, ${t.file_tokens}-token file, ${t.keystrokes} keystrokes appending to the prefix):`,
      `  request -> first completion token, warm: median ${t.warm_first_token_ms.median.toFixed(0)} ms ` +
        `(p90 ${t.warm_first_token_ms.p90.toFixed(0)}, max ${t.warm_first_token_ms.max.toFixed(0)})`,
      `  the same with ${t.warm_with_context_first_token_ms.chunks} context chunks of other files sent ` +
        `(${t.warm_with_context_first_token_ms.context_tokens} tokens more in the prompt): median ` +
        `${t.warm_with_context_first_token_ms.median.toFixed(0)} ms (p90 ${t.warm_with_context_first_token_ms.p90.toFixed(0)}), ` +
        `${((t.warm_with_context_first_token_ms.median / t.warm_first_token_ms.median - 1) * 100).toFixed(0)} % from without`,
      `  of which the engine's prompt evaluation: median ${t.warm_first_token_ms.engine_median.toFixed(1)} ms without context, ` +
        `${t.warm_with_context_first_token_ms.engine_median.toFixed(1)} ms with it`,
      `  first completion on a cold file (a prompt of ${t.cold_prompt_tokens.toFixed(0)} tokens, cut near the cursor when over the limit): ` +
        `${t.cold_first_token_ms.toFixed(0)} ms`,
      `  whole prompt evaluated (a warm-up): ${t.full_prompt_first_token_ms.toFixed(0)} ms  -> ${t.speedup.toFixed(0)}x slower than a warm keystroke`,
      `  chat, ${t.chat_question_tokens}-token question: first token after ${t.chat_first_token_ms.toFixed(0)} ms sent at once, ` +
        `${t.chat_typed_first_token_ms.toFixed(0)} ms written in the view (evaluated ahead up to its last line)`,
      ...(t.llama_server ? [
        `  the same keystrokes to llama-server on this machine (remote engine, ${t.llama_server.endpoint}): warm median ` +
          `${t.llama_server.warm_first_token_ms.median.toFixed(0)} ms (p90 ${t.llama_server.warm_first_token_ms.p90.toFixed(0)}), ` +
          `whole prompt ${t.llama_server.full_prompt_first_token_ms.toFixed(0)} ms`,
      ] : []),
      '',
    ].join('\n'));
  }
  return result;
}

// Without --routing, the two distributions a trained model's routing may resemble: a hot set of
// experts ('realistic') and a Zipf-like fall-off with no hot set ('smooth').
async function boundedMain(preset: '4b' | '21b', threads: number, budgetMiB: number): Promise<void> {
  const asked = option('routing', '');
  if (asked && !['default', 'uniform', 'realistic', 'smooth'].includes(asked)) throw new Error('--routing must be default, uniform, realistic or smooth');
  const routings = asked ? [asked] : ['realistic', 'smooth'];
  const useCgroup = !process.argv.includes('--no-cgroup');
  if (useCgroup && !MemoryCgroup.available()) {
    throw new Error('the bounded-memory benchmark needs root and cgroup v1 (/sys/fs/cgroup/memory); pass --no-cgroup to run without');
  }
  for (const routing of routings) {
    const model = await ensureModel({
      preset, type: 'q4_0', vocab: 'qwen', flavour: 'upstream', seed: 1,
      ...(routing === 'default' ? {} : { routing: routing as NonNullable<ModelOptions['routing']> }),
    });
    await boundedCase(model, threads, budgetMiB, useCgroup);
  }
}

async function boundedCase(model: string, threads: number, budgetMiB: number, useCgroup: boolean): Promise<void> {
  const options = {
    root, model, budgetMiB, threads,
    promptTokens: Number(option('prompt-tokens', '64')),
    genTokens: Number(option('gen-tokens', '256')),
    llamaGenTokens: Number(option('llama-gen-tokens', '8')),
    variants: process.argv.includes('--variants'),
    // One round by default: a bounded run takes minutes (the 21B's cache fills from storage).
    rounds: Number(option('rounds', '1')),
    fileInMemory: process.argv.includes('--file-in-memory'),
    useCgroup,
    timeoutMs: Number(option('timeout-s', '600')) * 1000,
  };
  const runs = boundedMemoryBenchmark(options);
  const info = machineDescription();
  // Measured after the runs, beside the storage: each run's expert cache fills fresh memory.
  const fresh = freshMemory(threads);
  const machine = `${info.cpu}, ${info.logical_cores} logical cores, ${info.memory_gib} GiB; caches ${info.caches}; ${freshMemoryText(fresh)}`;
  // The storage the runs read from, measured after them (the host's own cache may have warmed
  // to the file by then: a VM's storage rate moves with what its host holds).
  const ours = runs[0];
  const storage = ours.slot_bytes ? storageRate(model, ours.slot_bytes) : undefined;
  const readRate = ours.mib_read_per_token !== undefined && ours.decode_tokens_per_s ? ours.mib_read_per_token * 2 ** 20 * ours.decode_tokens_per_s : 0;
  const interference = process.argv.includes('--storage-interference') && ours.slot_bytes && readRate > 0
    ? await storageInterference(options, ours.slot_bytes, readRate) : undefined;
  if (process.argv.includes('--json')) {
    process.stdout.write(`${JSON.stringify({ machine, model: path.basename(model), threads, budget_mib: budgetMiB, cgroup: useCgroup, fresh_memory: fresh, storage, interference, runs })}\n`);
    return;
  }
  const gb = (n: number) => `${(n / 1e9).toFixed(2)} GB/s`;
  process.stdout.write(`${machine}; ${path.basename(model)}; ${threads} threads; ` +
    `${useCgroup ? `each engine alone in a ${budgetMiB} MiB memory cgroup, page cache dropped first` : `budget ${budgetMiB} MiB, no cgroup`}\n` +
    `${boundedTable(runs, useCgroup ? budgetMiB : undefined)}\n` +
    (storage ? `storage: random reads of ${(storage.chunk_bytes / 2 ** 20).toFixed(2)} MiB (one matrix of an expert), ${storage.threads} threads: ` +
      `${gb(storage.bytes_per_s)}${storage.direct ? '' : ' (through the page cache: the file system refused O_DIRECT)'}; ` +
      `our run read ${gb(readRate)} while decoding\n` : '') +
    (interference ? `decode with no reads of its own (no budget): ${interference.alone_tokens_per_s.toFixed(1)} tok/s alone, ` +
      `${interference.beside_reads_tokens_per_s.toFixed(1)} beside another process reading ${gb(interference.reads_bytes_per_s)} ` +
      `(${(100 * (1 - interference.beside_reads_tokens_per_s / interference.alone_tokens_per_s)).toFixed(0)} % slower)\n` : ''));
}

main().catch((err) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
