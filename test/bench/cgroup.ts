// A cgroup-v1 memory cgroup for the bounded-memory benchmark: children started through
// wrap() run inside it, so the limit and the peak (page cache charged) are theirs alone.
// Needs root and /sys/fs/cgroup/memory (Linux with cgroup v1's memory controller).
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';

const ROOT = '/sys/fs/cgroup/memory';

export class MemoryCgroup {
  readonly dir: string;

  private constructor(dir: string) {
    this.dir = dir;
  }

  /** Whether this machine lets us make one (root, cgroup v1 memory controller mounted). */
  static available(): boolean {
    try {
      fs.accessSync(ROOT, fs.constants.W_OK);
      return fs.existsSync(path.join(ROOT, 'memory.limit_in_bytes'));
    } catch {
      return false;
    }
  }

  static create(name: string, limitBytes: number): MemoryCgroup {
    const dir = path.join(ROOT, name);
    if (!fs.existsSync(dir)) fs.mkdirSync(dir);
    const g = new MemoryCgroup(dir);
    g.write('memory.limit_in_bytes', String(limitBytes));
    return g;
  }

  /** The command that runs `cmd args` inside this cgroup (the shell joins, then execs). */
  wrap(cmd: string, args: string[]): [string, string[]] {
    return ['sh', ['-c', `echo $$ > ${path.join(this.dir, 'cgroup.procs')} && exec "$0" "$@"`, cmd, ...args]];
  }

  /** Forget the previous child's peak. */
  resetPeak(): void {
    this.write('memory.max_usage_in_bytes', '0');
  }

  peakBytes(): number {
    return Number(this.read('memory.max_usage_in_bytes'));
  }

  /** How many processes the kernel's OOM killer has killed in this cgroup so far. */
  oomKills(): number {
    const m = /oom_kill (\d+)/.exec(this.read('memory.oom_control'));
    return m ? Number(m[1]) : 0;
  }

  remove(): void {
    try {
      fs.rmdirSync(this.dir);
    } catch {
      // still has a process or already gone: harmless for a benchmark
    }
  }

  private read(file: string): string {
    return fs.readFileSync(path.join(this.dir, file), 'utf8');
  }

  private write(file: string, value: string): void {
    fs.writeFileSync(path.join(this.dir, file), value);
  }
}

/** Empties the page cache so every run starts cold (memory-capped runs, docs/benchmarks.md). */
export function dropPageCache(): void {
  execFileSync('sync');
  fs.writeFileSync('/proc/sys/vm/drop_caches', '3');
}
