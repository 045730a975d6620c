// The bounded-memory benchmark (`npm run bench -- --memory-budget MIB`): our engine under the
// budget and llama.cpp, each alone in a cgroup-v1 memory cgroup of that size with the page
// cache dropped first, on the same generated file with the same threads. Prints decode speed
// (over all generated tokens and over their last half, once the cache has filled), the expert
// cache's hit rate, bytes read and stall time per token, how much of decode the
// storage was busy and how much it sat idle while a needed expert waited, peak RSS, the
// cgroup's peak (page cache charged) and whether the kernel killed the process. Beside the
// table: how fast this storage serves the cache's reads, and (--storage-interference) what
// reading at the run's rate costs an engine that reads nothing. --file-in-memory adds our engine
// reading a copy of the file held in memory: what it decodes when storage is not the bound.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { loadNativeAddon } from '../../engine/native-addon';
import { MemoryCgroup, dropPageCache } from './cgroup';

export interface BoundedRun {
  name: string;
  killed: boolean;
  error?: string;
  decode_tokens_per_s?: number;
  /** Decode over the last half of the generated tokens: the cache starts empty and fills during the first. */
  decode_last_half_tokens_per_s?: number;
  prefill_tokens_per_s?: number;
  peak_rss_bytes?: number;
  cgroup_peak_bytes?: number;
  /** Share of the experts a layer asked for that were already resident or on their way. */
  hit_rate?: number;
  /** The part of hit_rate that the next-layer prediction's early reads provided. */
  predicted_rate?: number;
  mib_read_per_token?: number;
  stall_ms_per_token?: number;
  /** Share of decode time with an expert read in flight. */
  io_busy_share?: number;
  /** Share of decode time the I/O threads sat idle while a needed expert was queued or being read (per thread). */
  io_idle_with_miss_share?: number;
  /** Bytes of one expert slot (gate, up and down, each an aligned span). */
  slot_bytes?: number;
  /** The plan's expert slots and the baseline it measured (the process and, in a cgroup, the page cache of its files). */
  slots?: number;
  planned_baseline_bytes?: number;
  /** Whether the expert cache read past the page cache (O_DIRECT or its kin). */
  direct_io?: boolean;
  /** With several rounds: each round's decode and last-half speed, in order (the row shows the median round). */
  rounds?: Pick<BoundedRun, 'decode_tokens_per_s' | 'decode_last_half_tokens_per_s' | 'killed' | 'slots' | 'planned_baseline_bytes'>[];
}

export interface BoundedOptions {
  root: string;
  model: string;
  budgetMiB: number;
  threads: number;
  promptTokens: number;
  genTokens: number;
  /** llama.cpp crawls under a small cgroup: fewer tokens keep the run short. */
  llamaGenTokens: number;
  /** Also run LRU, prefetch off and prediction off. */
  variants: boolean;
  /** Our runs (and variants) this many times, alternating; llama.cpp once (it is killed or crawls). */
  rounds: number;
  /** Also run ours on a copy of the model in a memory file system (fileInMemoryCopy). */
  fileInMemory?: boolean;
  useCgroup: boolean;
  timeoutMs: number;
}

export function boundedMemoryBenchmark(o: BoundedOptions): BoundedRun[] {
  const inMemory = o.fileInMemory ? fileInMemoryCopy(o.model, o.budgetMiB * 2 ** 20) : undefined;
  const cgroup = o.useCgroup ? MemoryCgroup.create(`smallthinker-bench-${process.pid}`, o.budgetMiB * 2 ** 20) : undefined;
  const cli = path.join(o.root, 'dist', 'cli.js');
  const ours = (name: string, extra: string[], model = o.model) => ({
    name,
    cmd: process.execPath,
    args: [cli, 'bench', '--model', model, '--threads', String(o.threads), '--prompt-tokens', String(o.promptTokens),
      '--gen-tokens', String(o.genTokens), '--memory-budget', String(o.budgetMiB), '--json', ...extra],
  });
  const runs = [ours('smallthinker', [])];
  if (o.variants) {
    runs.push(ours('  lru policy', ['--cache-policy', 'lru', '--no-predict-next-layer']));
    runs.push(ours('  no prediction', ['--no-predict-next-layer']));
    runs.push(ours('  no prefetch', ['--no-prefetch']));
  }
  if (inMemory) runs.push(ours(`  ${IN_MEMORY_RUN}`, [], inMemory.path));
  const schedule = Array.from({ length: Math.max(1, o.rounds) }, () => runs).flat();
  schedule.push({
    name: 'llama.cpp', cmd: process.execPath,
    args: ['--import=tsx', path.join(__dirname, 'llama-cpp-child.ts'), o.model, String(o.threads), String(o.promptTokens), String(o.llamaGenTokens)],
  });
  const results: BoundedRun[] = [];
  try {
    for (const r of schedule) {
      if (cgroup) {
        dropPageCache();
        cgroup.resetPeak();
      }
      const killsBefore = cgroup?.oomKills() ?? 0;
      const [cmd, args] = cgroup ? cgroup.wrap(r.cmd, r.args) : [r.cmd, r.args];
      const p = spawnSync(cmd, args, { cwd: o.root, encoding: 'utf8', maxBuffer: 64 << 20, timeout: o.timeoutMs });
      const killed = (cgroup ? cgroup.oomKills() > killsBefore : false) || p.signal === 'SIGKILL';
      const run: BoundedRun = { name: r.name.trim(), killed, cgroup_peak_bytes: cgroup?.peakBytes() };
      if (p.status !== 0 || p.error) {
        run.error = p.error ? String(p.error.message) : killed ? 'killed (out of memory)' : (p.stderr.trim().split('\n').pop() ?? `exit ${p.status}`);
      } else {
        const out = JSON.parse(p.stdout.trim().split('\n').pop() ?? '{}');
        Object.assign(run, {
          decode_tokens_per_s: out.decode_tokens_per_s, prefill_tokens_per_s: out.prefill_tokens_per_s, peak_rss_bytes: out.peak_rss_bytes,
          decode_last_half_tokens_per_s: out.decode_last_half_tokens_per_s,
        });
        const c = out.expert_cache?.decode_per_token;
        if (c && out.memory_plan) {
          run.hit_rate = c.hits / Math.max(1, c.hits + c.misses);
          run.predicted_rate = c.predicted_hits / Math.max(1, c.hits + c.misses);
          run.mib_read_per_token = c.bytes_read / 2 ** 20;
          run.stall_ms_per_token = c.stall_ms;
          const msPerToken = 1000 / out.decode_tokens_per_s;
          run.io_busy_share = c.io_busy_ms / msPerToken;
          run.io_idle_with_miss_share = c.io_idle_with_miss_ms / msPerToken;
          run.slot_bytes = out.memory_plan.expert_slot_bytes;
          run.slots = out.memory_plan.expert_slots;
          run.planned_baseline_bytes = out.memory_plan.baseline_bytes;
          run.direct_io = out.memory_plan.direct_io;
        }
      }
      process.stderr.write(`  ${r.name.trim()}: ${run.error ?? `decode ${run.decode_tokens_per_s?.toFixed(1)} tok/s`}\n`);
      results.push(run);
    }
  } finally {
    cgroup?.remove();
    inMemory?.remove();
  }
  // One row per engine, in the order they first ran.
  const names = [...new Set(results.map((r) => r.name))];
  return names.map((name) => combineRounds(results.filter((r) => r.name === name)));
}

/**
 * One engine's rounds as one row: the round with the median decode speed (a VM's storage and
 * memory swing from run to run), except that a round that was killed or failed is the row, so
 * that "never killed" holds only if it held in every round; the cgroup's peak is the highest of
 * any round, so the room under the budget is the least any round left.
 */
export function combineRounds(rounds: BoundedRun[]): BoundedRun {
  if (rounds.length === 1) return rounds[0];
  const bad = rounds.find((r) => r.killed || r.error);
  const bySpeed = [...rounds].sort((a, b) => (a.decode_tokens_per_s ?? 0) - (b.decode_tokens_per_s ?? 0));
  const row = { ...(bad ?? bySpeed[Math.floor((bySpeed.length - 1) / 2)]) };
  const peaks = rounds.map((r) => r.cgroup_peak_bytes).filter((p): p is number => p !== undefined);
  if (peaks.length > 0) row.cgroup_peak_bytes = Math.max(...peaks);
  row.rounds = rounds.map((r) => ({
    decode_tokens_per_s: r.decode_tokens_per_s, decode_last_half_tokens_per_s: r.decode_last_half_tokens_per_s, killed: r.killed,
    slots: r.slots, planned_baseline_bytes: r.planned_baseline_bytes,
  }));
  return row;
}

/** The table, then each run's cgroup peak against the budget: the headroom a budget must keep. */
export function boundedTable(runs: BoundedRun[], budgetMiB?: number): string {
  const mib = (n?: number) => (n === undefined ? '-' : `${(n / 2 ** 20).toFixed(0)} MiB`);
  const f = (n: number | undefined, d: number) => (n === undefined ? '-' : n.toFixed(d));
  const pct = (n: number | undefined) => (n === undefined ? '-' : `${(100 * n).toFixed(0)} %`);
  const lines = [
    '| engine           | decode/s | last half | hits (decode) | of which predicted | MiB read/token | stall ms/token | I/O busy | idle, miss waiting | peak RSS | cgroup peak | killed |',
    '|------------------|----------|-----------|---------------|--------------------|----------------|----------------|----------|--------------------|----------|-------------|--------|',
  ];
  for (const r of runs) {
    lines.push(`| ${r.name.padEnd(16)} | ${(r.error && !r.decode_tokens_per_s ? r.killed ? 'OOM' : 'failed' : f(r.decode_tokens_per_s, 1)).padStart(8)} | ` +
      `${f(r.decode_last_half_tokens_per_s, 1).padStart(9)} | ${(r.hit_rate === undefined ? '-' : `${(100 * r.hit_rate).toFixed(1)} %`).padStart(13)} | ` +
      `${(r.predicted_rate === undefined ? '-' : `${(100 * r.predicted_rate).toFixed(1)} %`).padStart(18)} | ${f(r.mib_read_per_token, 1).padStart(14)} | ` +
      `${f(r.stall_ms_per_token, 1).padStart(14)} | ${pct(r.io_busy_share).padStart(8)} | ${pct(r.io_idle_with_miss_share).padStart(18)} | ` +
      `${mib(r.peak_rss_bytes).padStart(8)} | ${mib(r.cgroup_peak_bytes).padStart(11)} | ${(r.killed ? 'yes' : 'no').padStart(6)} |`);
  }
  const several = runs.filter((r) => r.rounds && r.rounds.length > 1);
  if (several.length > 0) {
    lines.push(`rounds (decode, last half), the row being the median: ` + several.map((r) => `${r.name} ` + r.rounds!.map((x) =>
      x.killed ? 'killed' : `${f(x.decode_tokens_per_s, 1)} (${f(x.decode_last_half_tokens_per_s, 1)})`).join(', ')).join('; '));
  }
  // The plan of each round: a baseline that moves from start to start moves the slots with it.
  const planned = runs.filter((r) => (r.rounds ?? [r]).some((x) => x.slots !== undefined));
  if (planned.length > 0) {
    lines.push(`planned expert slots (baseline): ` + planned.map((r) => `${r.name} ` + (r.rounds ?? [r]).map((x) =>
      x.slots === undefined ? '-' : `${x.slots} (${mib(x.planned_baseline_bytes)})`).join(', ')).join('; '));
  }
  const inMemory = runs.find((r) => r.name === IN_MEMORY_RUN);
  if (inMemory) {
    lines.push(`${IN_MEMORY_RUN}: ours on a copy of the file in ${MEMORY_FILE_SYSTEM}, read ` +
      `${inMemory.direct_io === false ? 'through its page cache (the kernel refused O_DIRECT there)' : 'past the page cache as from storage'}: ` +
      `the engine with the storage taken out (each read a copy on the reading thread)`);
  }
  const held = runs.filter((r) => !r.killed && r.cgroup_peak_bytes !== undefined);
  if (budgetMiB !== undefined && held.length > 0) {
    lines.push(`room left under the ${budgetMiB} MiB budget at the cgroup's peak: ` +
      held.map((r) => `${r.name} ${(budgetMiB - r.cgroup_peak_bytes! / 2 ** 20).toFixed(0)} MiB`).join(', '));
  }
  return lines.join('\n');
}

/** The row of our engine on the copy of the file in memory. */
export const IN_MEMORY_RUN = 'file in memory';
/** Where --file-in-memory puts its copy: a memory file system that dropping the page cache leaves alone. */
export const MEMORY_FILE_SYSTEM = '/dev/shm';
/** Kept free beside the copy and the budget, for the bench itself and the machine. */
const MEMORY_MARGIN_BYTES = 2 * 2 ** 30;

/**
 * Why a copy of a `fileBytes` file cannot be held in memory beside a run under `budgetBytes`,
 * or undefined when it can: the memory file system must have room for it, and the memory
 * available must hold the copy, the budget and a margin (a copy that pushed the run into swap
 * or the OOM killer would measure the machine's distress, not the engine).
 */
export function fileInMemoryRefusal(fileBytes: number, budgetBytes: number, fileSystemFreeBytes: number | undefined, availableBytes: number): string | undefined {
  const gib = (n: number) => `${(n / 2 ** 30).toFixed(1)} GiB`;
  if (fileSystemFreeBytes === undefined) return `--file-in-memory needs a memory file system at ${MEMORY_FILE_SYSTEM} (Linux)`;
  if (fileSystemFreeBytes < fileBytes) return `--file-in-memory: ${MEMORY_FILE_SYSTEM} has ${gib(fileSystemFreeBytes)} free, the model file takes ${gib(fileBytes)}`;
  const needed = fileBytes + budgetBytes + MEMORY_MARGIN_BYTES;
  if (availableBytes < needed) {
    return `--file-in-memory: the copy (${gib(fileBytes)}), the budget (${gib(budgetBytes)}) and ${gib(MEMORY_MARGIN_BYTES)} to spare need ${gib(needed)}; ${gib(availableBytes)} is available`;
  }
  return undefined;
}

/** The memory the kernel says can be had without swapping (MemAvailable), else what is free. */
function availableMemoryBytes(): number {
  try {
    const m = /^MemAvailable:\s+(\d+) kB$/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch { /* not Linux */ }
  return os.freemem();
}

/**
 * Copies the model into the memory file system, for a run that reads it as from storage (the
 * engine's reads bypass the page cache there too, where the kernel allows O_DIRECT on it:
 * Linux 6.6 on), so that its speed is the engine's with the storage taken out: each read is a
 * copy from memory on the reading thread. Its pages are charged to this process, not to the
 * run's cgroup. The copy holds memory until removed: remove() does, and so do this process's
 * exit and an interrupt. Throws with the reason when it does not fit.
 */
export function fileInMemoryCopy(model: string, budgetBytes: number): { path: string; remove: () => void } {
  let free: number | undefined;
  try {
    const st = fs.statfsSync(MEMORY_FILE_SYSTEM);
    free = st.bavail * st.bsize;
  } catch { /* no such file system */ }
  const refusal = fileInMemoryRefusal(fs.statSync(model).size, budgetBytes, free, availableMemoryBytes());
  if (refusal) throw new Error(refusal);
  const copy = path.join(MEMORY_FILE_SYSTEM, `smallthinker-bench-${process.pid}-${path.basename(model)}`);
  const removeFile = () => fs.rmSync(copy, { force: true });
  const interrupted = (signal: NodeJS.Signals) => {
    removeFile();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.on('exit', removeFile);
  process.on('SIGINT', interrupted);
  process.on('SIGTERM', interrupted);
  const remove = () => {
    removeFile();
    process.off('exit', removeFile);
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
  };
  try {
    fs.copyFileSync(model, copy);
  } catch (err) {
    remove();
    throw err;
  }
  return { path: copy, remove };
}

/** Random reads of one matrix at a time (a third of a slot), as the expert cache's two I/O threads make them. */
export interface StorageRate {
  chunk_bytes: number;
  threads: number;
  bytes_per_s: number;
  direct: boolean;
}

/** One matrix's read: a third of a slot (whose three spans each have room for an unaligned start), whole 4 KiB pages. */
function matrixReadBytes(slotBytes: number): number {
  return Math.ceil(slotBytes / 3 / 4096) * 4096;
}

export function storageRate(model: string, slotBytes: number, seconds = 3): StorageRate {
  const chunk = matrixReadBytes(slotBytes);
  const r = loadNativeAddon().storageReads(model, chunk, 2, seconds, 0);
  return { chunk_bytes: chunk, threads: 2, bytes_per_s: r.bytes / r.seconds, direct: r.direct };
}

export interface Interference {
  reads_bytes_per_s: number;
  alone_tokens_per_s: number;
  beside_reads_tokens_per_s: number;
}

/**
 * What reading costs a computation here: `smallthinker bench` without a budget (it reads nothing
 * while it decodes), alone and then beside another process reading the file at `paceBytesPerS`
 * the way the expert cache does. On a laptop's NVMe reads cost the CPU next to nothing; on a VM
 * whose storage the hypervisor serves on the same cores they do not (docs/benchmarks.md).
 */
export async function storageInterference(o: BoundedOptions, slotBytes: number, paceBytesPerS: number): Promise<Interference> {
  const cli = path.join(o.root, 'dist', 'cli.js');
  const bench = () => {
    const p = spawnSync(process.execPath, [cli, 'bench', '--model', o.model, '--threads', String(o.threads), '--prompt-tokens', '16',
      '--gen-tokens', String(o.genTokens), '--json'], { cwd: o.root, encoding: 'utf8', maxBuffer: 64 << 20, timeout: o.timeoutMs });
    if (p.status !== 0) throw new Error(`smallthinker bench failed: ${p.stderr.trim().split('\n').pop()}`);
    return JSON.parse(p.stdout.trim().split('\n').pop() ?? '{}').decode_tokens_per_s as number;
  };
  const alone = bench();
  const chunk = matrixReadBytes(slotBytes);
  const reader = spawn(process.execPath, ['--import=tsx', path.join(__dirname, 'storage-reader-child.ts'), o.model, String(chunk), '2',
    String(paceBytesPerS)], { cwd: o.root, stdio: ['ignore', 'pipe', 'inherit'] });
  let lines = '';
  reader.stdout.on('data', (d: Buffer) => (lines += d.toString()));
  try {
    await new Promise((resolve) => setTimeout(resolve, 2000));  // the reader's start (tsx, the addon) and its first second
    const before = lines.length;
    const beside = bench();
    await new Promise((resolve) => setTimeout(resolve, 100));  // the lines written while the bench ran
    const slices = lines.slice(before).trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { bytes: number; seconds: number });
    const bytes = slices.reduce((a, x) => a + x.bytes, 0), seconds = slices.reduce((a, x) => a + x.seconds, 0);
    return { reads_bytes_per_s: seconds > 0 ? bytes / seconds : 0, alone_tokens_per_s: alone, beside_reads_tokens_per_s: beside };
  } finally {
    reader.kill();
  }
}
