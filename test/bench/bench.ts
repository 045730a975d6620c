// `npm run bench`: our engine against llama.cpp on the same generated file, the same thread
// count and this machine, alternating runs in one session (docs/benchmarks.md). Prints both speeds,
// the ratios and peak memory; `--json` prints the whole table as one object.
// Then the typing benchmark (./typing.ts) on the same file, unless --no-typing.
//   npm run bench -- [--preset 4b|21b] [--type q4_0|q4_k_m|…] [--routing realistic] [--threads 2] [--rounds 3]
//     [--prompt-tokens 512] [--gen-tokens 64] [--no-typing] [--against DIR]
// --type: any of the generator's file types (llama-quantize's presets too); default q4_0.
// --against DIR runs another checkout's build (DIR/dist/cli.js) in the same rounds: the
// change's effect on speed, measured side by side.
// With --memory-budget MIB: the bounded-memory benchmark instead (./memory-bench.ts), each
// engine in a memory cgroup of MIB with the page cache dropped first (root, cgroup v1):
//   npm run bench -- --memory-budget 1024 [--preset 4b] [--routing default|uniform|realistic]
//     [--prompt-tokens 64] [--gen-tokens 48] [--llama-gen-tokens 8] [--variants] [--no-cgroup]
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { ensureModel } from '../generator/index';
import { FILE_TYPES, isFileType } from '../generator/file-types';
import { typingBenchmark } from './typing';
import { boundedMemoryBenchmark, boundedTable } from './memory-bench';
import { MemoryCgroup } from './cgroup';

interface Run { engine: string; prefill_tokens_per_s: number; decode_tokens_per_s: number; peak_rss_bytes: number }

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

const root = path.resolve(__dirname, '..', '..');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function runJson(cmd: string, args: string[]): Run {
  const out = execFileSync(cmd, args, { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'inherit'] });
  const line = out.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as Run;
}

async function main(): Promise<void> {
  const preset = option('preset', '4b') as '4b' | '21b';
  const threads = Number(option('threads', '2'));
  const rounds = Number(option('rounds', '3'));
  const promptTokens = Number(option('prompt-tokens', '512'));
  const genTokens = Number(option('gen-tokens', '64'));
  const budgetMiB = Number(option('memory-budget', '0'));
  if (budgetMiB > 0) {
    await boundedMain(preset, threads, budgetMiB);
    return;
  }
  const routing = option('routing', 'default');
  const type = option('type', 'q4_0');
  if (!isFileType(type)) throw new Error(`--type ${type}: not a file type the generator writes (${FILE_TYPES.join(', ')})`);
  const model = await ensureModel({
    preset, type, vocab: 'qwen', flavour: 'upstream', seed: 1, ...(routing === 'default' ? {} : { routing: routing as 'realistic' }),
  });
  // --against DIR: another checkout's build (its dist/cli.js) in the same rounds, e.g. the last
  // build before a change, to show what the change did to speed.
  const against = option('against', '');
  const cliArgs = ['bench', '--model', model, '--threads', String(threads), '--prompt-tokens', String(promptTokens), '--gen-tokens', String(genTokens), '--json'];

  const ours: Run[] = [];
  const theirs: Run[] = [];
  const before: Run[] = [];
  for (let r = 0; r < rounds; r++) {
    ours.push(runJson(process.execPath, [path.join(root, 'dist', 'cli.js'), ...cliArgs]));
    if (against) before.push(runJson(process.execPath, [path.join(path.resolve(against), 'dist', 'cli.js'), ...cliArgs]));
    theirs.push(runJson(process.execPath, ['--import=tsx', path.join(__dirname, 'llama-cpp-child.ts'), model, String(threads), String(promptTokens), String(genTokens)]));
    process.stderr.write(`round ${r + 1}/${rounds}: ours decode ${ours[r].decode_tokens_per_s.toFixed(1)} tok/s, ` +
      `${against ? `the other build ${before[r].decode_tokens_per_s.toFixed(1)} tok/s, ` : ''}llama.cpp ${theirs[r].decode_tokens_per_s.toFixed(1)} tok/s\n`);
  }
  const summary = (runs: Run[]) => ({
    prefill_tokens_per_s: median(runs.map((x) => x.prefill_tokens_per_s)),
    decode_tokens_per_s: median(runs.map((x) => x.decode_tokens_per_s)),
    peak_rss_bytes: median(runs.map((x) => x.peak_rss_bytes)),
  });
  const a = summary(ours);
  const b = summary(theirs);
  const c = against ? summary(before) : undefined;
  const result = {
    machine: `${os.cpus()[0]?.model ?? 'cpu'}, ${os.cpus().length} logical cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB`,
    model: path.basename(model), threads, rounds, prompt_tokens: promptTokens, gen_tokens: genTokens,
    smallthinker: a, llama_cpp: b, ...(c ? { other_build: { dir: path.resolve(against), ...c } } : {}),
    ratio: {
      decode: a.decode_tokens_per_s / b.decode_tokens_per_s,
      prefill: a.prefill_tokens_per_s / b.prefill_tokens_per_s,
      peak_rss: a.peak_rss_bytes / b.peak_rss_bytes,
    },
    typing: process.argv.includes('--no-typing') ? undefined : await typingBenchmark(model, threads, root),
  };
  if (process.argv.includes('--json')) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  const mib = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;
  const row = (name: string, s: typeof a) =>
    `| ${name.padEnd(12)} | ${s.decode_tokens_per_s.toFixed(1).padStart(8)} | ${s.prefill_tokens_per_s.toFixed(1).padStart(9)} | ${mib(s.peak_rss_bytes).padStart(9)} |`;
  process.stdout.write([
    `${result.machine}; ${result.model}; ${threads} threads; medians of ${rounds} alternating rounds`,
    '| engine       | decode/s | prefill/s |  peak RSS |',
    '|--------------|----------|-----------|-----------|',
    row('smallthinker', a),
    ...(c ? [row('other build', c)] : []),
    row('llama.cpp', b),
    `| ratio        | ${result.ratio.decode.toFixed(2).padStart(7)}x | ${result.ratio.prefill.toFixed(2).padStart(8)}x | ${result.ratio.peak_rss.toFixed(2).padStart(8)}x |`,
    ...(c ? [`| vs other     | ${(a.decode_tokens_per_s / c.decode_tokens_per_s).toFixed(2).padStart(7)}x | ` +
      `${(a.prefill_tokens_per_s / c.prefill_tokens_per_s).toFixed(2).padStart(8)}x | ${(a.peak_rss_bytes / c.peak_rss_bytes).toFixed(2).padStart(8)}x |`] : []),
    '',
  ].join('\n'));
  const t = result.typing;
  if (t) {
    process.stdout.write([
      `typing (engine process, ${t.file_tokens}-token file, ${t.keystrokes} keystrokes appending to the prefix):`,
      `  request -> first completion token, warm: median ${t.warm_first_token_ms.median.toFixed(0)} ms ` +
        `(p90 ${t.warm_first_token_ms.p90.toFixed(0)}, max ${t.warm_first_token_ms.max.toFixed(0)})`,
      `  whole prompt re-evaluated: ${t.full_prompt_first_token_ms.toFixed(0)} ms  -> ${t.speedup.toFixed(0)}x faster with reuse`,
      `  chat, ${t.chat_question_tokens}-token question: first token after ${t.chat_first_token_ms.toFixed(0)} ms`,
      '',
    ].join('\n'));
  }
}

async function boundedMain(preset: '4b' | '21b', threads: number, budgetMiB: number): Promise<void> {
  const routing = option('routing', 'default');
  if (!['default', 'uniform', 'realistic'].includes(routing)) throw new Error('--routing must be default, uniform or realistic');
  const model = await ensureModel({
    preset, type: 'q4_0', vocab: 'qwen', flavour: 'upstream', seed: 1,
    ...(routing === 'default' ? {} : { routing: routing as 'uniform' | 'realistic' }),
  });
  const useCgroup = !process.argv.includes('--no-cgroup');
  if (useCgroup && !MemoryCgroup.available()) {
    throw new Error('the bounded-memory benchmark needs root and cgroup v1 (/sys/fs/cgroup/memory); pass --no-cgroup to run without');
  }
  const runs = boundedMemoryBenchmark({
    root, model, budgetMiB, threads,
    promptTokens: Number(option('prompt-tokens', '64')),
    genTokens: Number(option('gen-tokens', '48')),
    llamaGenTokens: Number(option('llama-gen-tokens', '8')),
    variants: process.argv.includes('--variants'),
    useCgroup,
    timeoutMs: Number(option('timeout-s', '600')) * 1000,
  });
  const machine = `${os.cpus()[0]?.model ?? 'cpu'}, ${os.cpus().length} logical cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB`;
  if (process.argv.includes('--json')) {
    process.stdout.write(`${JSON.stringify({ machine, model: path.basename(model), threads, budget_mib: budgetMiB, cgroup: useCgroup, runs })}\n`);
    return;
  }
  process.stdout.write(`${machine}; ${path.basename(model)}; ${threads} threads; ` +
    `${useCgroup ? `each engine alone in a ${budgetMiB} MiB memory cgroup, page cache dropped first` : `budget ${budgetMiB} MiB, no cgroup`}\n` +
    `${boundedTable(runs)}\n`);
}

main().catch((err) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
