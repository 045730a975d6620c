// The machine line of every benchmark table: the CPU (with its family and model where CPUID
// tells them: a VM's model name is often just "AMD EPYC"), its caches, the read bandwidth and
// how fast fresh memory comes.
// Caches come from the OS where it lists them, else from CPUID (some VMs list none).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadNativeAddon, type CpuCache, type CpuIdentity } from '../../engine/native-addon';

/** "AMD EPYC (family 26 model 2 stepping 1)": the OS's model name, and CPUID's numbers when known. */
export function cpuName(modelName: string | undefined, id: CpuIdentity | null): string {
  const name = modelName?.trim() || 'cpu';
  return id ? `${name} (family ${id.family} model ${id.model} stepping ${id.stepping})` : name;
}

function size(bytes: number): string {
  return bytes >= 2 ** 20 && bytes % 2 ** 20 === 0 ? `${bytes / 2 ** 20} MiB` : `${Math.round(bytes / 1024)} KiB`;
}

/** "L1d 48K, L2 1024K" as the OS lists them; else CPUID's, marked as such; else "unknown". */
export function cacheList(fromOs: string[], fromCpuid: CpuCache[]): string {
  if (fromOs.length) return fromOs.join(', ');
  if (fromCpuid.length) {
    return `${fromCpuid.map((c) => `L${c.level}${c.kind === 'u' ? '' : c.kind} ${size(c.bytes)}`).join(', ')} (CPUID)`;
  }
  return 'unknown';
}

/** The caches cpu0 sees, as /sys lists them (Linux); none where it does not. */
function osCaches(): string[] {
  const caches: string[] = [];
  const dir = '/sys/devices/system/cpu/cpu0/cache';
  try {
    for (const index of fs.readdirSync(dir).filter((d) => d.startsWith('index')).sort()) {
      const read = (f: string) => fs.readFileSync(path.join(dir, index, f), 'utf8').trim();
      const type = read('type');
      caches.push(`L${read('level')}${type === 'Data' ? 'd' : type === 'Instruction' ? 'i' : ''} ${read('size')}`);
    }
  } catch {
    // not exposed (some VMs): CPUID's, or unknown
  }
  return caches;
}

/** The CPU, its cores, memory and caches: what every table's machine line names. */
export function machineDescription() {
  const id = loadNativeAddon().cpuIdentity();
  return {
    cpu: cpuName(os.cpus()[0]?.model, id),
    logical_cores: os.cpus().length,
    memory_gib: Math.round(os.totalmem() / 2 ** 30),
    caches: cacheList(osCaches(), id?.caches ?? []),
  };
}

/** Bytes per second at which fresh memory was committed: right after releasing as much, and 10 s later. */
export interface FreshMemory {
  reused_bytes_per_s: number;
  after_release_bytes_per_s: number;
}

/**
 * How fast `threads` threads commit 1 GiB of memory never touched, right after releasing as much
 * and again 10 s after. Without a host that takes freed memory back the two should agree (the
 * kernel zeroes at memory speed; not measured here, where there is no such machine). A VM whose host takes
 * freed memory back (a balloon's free page reporting) has done so by then, and each page costs
 * the host a fault again: there the second rate is several times lower, and it is what a load's
 * packed copy and a budget's first fill of its expert cache wait for (benchmarks.md).
 */
export function freshMemory(threads: number): FreshMemory {
  const addon = loadNativeAddon();
  addon.freshMemoryRate(1024, threads);  // so that the next one reuses what this one released
  const reused = addon.freshMemoryRate(1024, threads);
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10_000);
  return { reused_bytes_per_s: reused, after_release_bytes_per_s: addon.freshMemoryRate(1024, threads) };
}

/** "fresh memory 0.9 GB/s 10 s after a release (16.8 at once)", for the tables' machine lines. */
export function freshMemoryText(f: FreshMemory): string {
  return `fresh memory ${(f.after_release_bytes_per_s / 1e9).toFixed(1)} GB/s 10 s after a release (${(f.reused_bytes_per_s / 1e9).toFixed(1)} at once)`;
}

/** The machine line, the read bandwidth measured with `threads` threads (the speed tables' limit) and the fresh memory's rate. */
export function machineInfo(threads: number) {
  return { ...machineDescription(), read_bandwidth_bytes_per_s: loadNativeAddon().readBandwidth(1024, threads), fresh_memory: freshMemory(threads) };
}
