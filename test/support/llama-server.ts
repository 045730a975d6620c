// A real llama.cpp llama-server for the remote engine's tests and the typing benchmark: built
// once into the git-ignored cache by scripts/build-llama-server.sh from the llama.cpp sources
// node-llama-cpp ships, started on a free port with a generated model, stopped with the test.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { freePort } from './net';

const root = path.resolve(__dirname, '..', '..');
export const LLAMA_SERVER_DIR = path.join(root, '.cache', 'llama-server');

/** Builds llama-server if the cache has none for these sources (minutes the first time), and returns its path. */
export function ensureLlamaServer(): string {
  // Its progress goes to stderr: a benchmark's stdout may be JSON.
  execFileSync('bash', [path.join(root, 'scripts', 'build-llama-server.sh'), LLAMA_SERVER_DIR], { stdio: ['ignore', 2, 'inherit'] });
  return path.join(LLAMA_SERVER_DIR, 'bin', 'llama-server');
}

export interface RunningServer {
  url: string;
  port: number;
  child: ChildProcess;
  /** The server's output so far (for a failing test's message). */
  output(): string;
  stop(): Promise<void>;
}

/** Starts llama-server with `model` and waits until /health says it is ready. */
export async function startLlamaServer(binary: string, model: string, options: { port?: number; apiKey?: string; threads?: number; ctx?: number } = {}):
  Promise<RunningServer> {
  const port = options.port ?? await freePort();
  const args = ['-m', model, '--host', '127.0.0.1', '--port', String(port), '-c', String(options.ctx ?? 4096), '-t', String(options.threads ?? 2),
    '--no-webui', ...(options.apiKey ? ['--api-key', options.apiKey] : [])];
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => (output = (output + d).slice(-20_000)));
  child.stderr!.on('data', (d) => (output = (output + d).slice(-20_000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const t0 = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`llama-server exited (${child.exitCode}) before it was ready:\n${output}`);
    try {
      const res = await fetch(`${url}/health`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() - t0 > 60_000) {
      child.kill('SIGKILL');
      throw new Error(`llama-server was not ready within 60 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url, port, child, output: () => output,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
