// Builds the native addon for another OS or CPU from this Linux x64 machine:
//   node native/cross/build.mjs --target win32-x64|linux-arm64|darwin-arm64|darwin-x64 [--target ...]
//   node native/cross/build.mjs --all
// (`npm run build:cross -- ...`). Each goes to native/build-cross/<target>/smallthinker.node. The
// toolchains come from native/cross/setup.sh (run first when one is missing): MinGW-w64 for
// Windows, Debian's aarch64 g++ for Linux arm64, Zig's clang for macOS. linux-x64 itself is
// the normal `npm install` build (node-gyp). Objects are kept per target and rebuilt only when
// a source or a header it includes changed.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const native = path.resolve(here, '..');
const root = path.resolve(native, '..');
const require = createRequire(import.meta.url);
const cache = path.join(root, '.cache', 'cross');
const zig = path.join(cache, 'zig', 'node_modules', '@ryoppippi', 'zig-linux-x64', 'zig');

export const CROSS_TARGETS = ['win32-x64', 'linux-arm64', 'darwin-arm64', 'darwin-x64'];

const x86Isa = {
  sse42: ['-mssse3', '-msse4.1', '-msse4.2', '-mpopcnt'],
  avx: ['-mssse3', '-msse4.1', '-msse4.2', '-mpopcnt', '-mavx'],
  avx2: ['-mavx2', '-mfma', '-mf16c'],
  avxvnni: ['-mavxvnni', '-mavx2', '-mfma', '-mf16c'],
  avx512: ['-mavx512f', '-mavx512bw', '-mavx512vl', '-mavx512vnni', '-mavx2', '-mfma', '-mf16c'],
};

// How each target compiles and links. `compiler` is the command and its fixed leading
// arguments; `isa` maps the per-ISA source groups (gyp-sources.js) to their flags (absent: the
// group is not built for that CPU).
function toolchain(target) {
  const zigCxx = (triple, cpu) => [zig, 'c++', '-target', triple, ...(cpu ? [`-mcpu=${cpu}`] : [])];
  switch (target) {
    case 'win32-x64':
      return {
        compiler: ['x86_64-w64-mingw32-g++-posix'],
        isa: x86Isa,
        cflags: ['-D_WIN32_WINNT=0x0A00'],
        // Everything static but the OS and Node: no MinGW runtime DLLs to ship. The Node-API
        // functions come from a delay-load import library (see nodeImportLibrary).
        ldflags: ['-shared', '-s', '-static', '-static-libgcc', '-static-libstdc++', nodeImportLibrary()],
      };
    case 'linux-arm64':
      return {
        compiler: ['aarch64-linux-gnu-g++'],
        // Built for every ARMv8 core; the NEON files once more with the dot-product instruction,
        // taken where the CPU has it (Graviton 2 on, Neoverse, Cortex-A55/A76 on; kernels/neon_dot.h).
        isa: { neondot: ['-march=armv8.2-a+dotprod'] },
        cflags: ['-fPIC', '-pthread'],
        // libstdc++ inside: the addon then runs on older distributions than the one that built it.
        ldflags: ['-shared', '-s', '-pthread', '-static-libstdc++', '-static-libgcc'],
      };
    case 'darwin-arm64':
    case 'darwin-x64': {
      const arm = target === 'darwin-arm64';
      return {
        // Apple silicon always has the dot-product instructions the NEON kernels use.
        compiler: arm ? zigCxx('aarch64-macos.11.0', 'apple_m1') : zigCxx('x86_64-macos.11.0'),
        isa: arm ? {} : x86Isa,
        cflags: ['-fPIC'],
        // Node-API symbols are found in the process that loads the addon.
        ldflags: ['-shared', '-Wl,-undefined,dynamic_lookup', '-Wl,-install_name,@rpath/smallthinker.node'],
      };
    }
    default:
      throw new Error(`unknown target ${target} (known: ${CROSS_TARGETS.join(', ')})`);
  }
}

// Windows resolves a DLL's imports by module name, and Node's are in node.exe; but in VS Code
// the engine runs inside the editor's own executable. So the Node-API imports are delay-loaded
// from "node.exe" and platform/windows_delay_load.cpp points that name at the running
// executable, whatever it is called. The import library is made from node-api-headers' lists.
function nodeImportLibrary() {
  const lib = path.join(cache, 'win32-x64', 'node_api_delay.a');
  if (fs.existsSync(lib)) return lib;
  const defs = path.join(path.dirname(require.resolve('node-api-headers/package.json')), 'def');
  const names = new Set();
  for (const f of ['js_native_api.def', 'node_api.def']) {
    const lines = fs.readFileSync(path.join(defs, f), 'utf8').split(/\r?\n/);
    for (const l of lines.slice(lines.findIndex((x) => x.trim() === 'EXPORTS') + 1)) if (l.trim()) names.add(l.trim());
  }
  fs.mkdirSync(path.dirname(lib), { recursive: true });
  const def = path.join(path.dirname(lib), 'node_api.def');
  fs.writeFileSync(def, `LIBRARY node.exe\nEXPORTS\n${[...names].sort().join('\n')}\n`);
  run('x86_64-w64-mingw32-dlltool', ['--input-def', def, '--dllname', 'node.exe', '--output-delaylib', lib]);
  return lib;
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: buildEnv() });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed:\n${r.stderr || r.error}`);
}

function buildEnv() {
  return { ...process.env, ZIG_GLOBAL_CACHE_DIR: path.join(cache, 'zig-cache'), ZIG_LOCAL_CACHE_DIR: path.join(cache, 'zig-cache') };
}

function sources(group) {
  const out = spawnSync(process.execPath, [path.join(native, 'gyp-sources.js'), group], { encoding: 'utf8', cwd: native }).stdout;
  return out.split(' ').filter(Boolean).map((f) => path.join(native, f));
}

// An object is current when it is newer than its source and every header its depfile names.
function upToDate(obj, dep) {
  if (!fs.existsSync(obj) || !fs.existsSync(dep)) return false;
  const built = fs.statSync(obj).mtimeMs;
  const inputs = fs.readFileSync(dep, 'utf8').replace(/\\\r?\n/g, ' ').split(/:\s/).slice(1).join(' ').split(/\s+/).filter(Boolean);
  return inputs.every((f) => fs.existsSync(f) && fs.statSync(f).mtimeMs <= built);
}

function compile(argv) {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { env: buildEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => { err += d; });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${argv.join(' ')}\n${err}`))));
  });
}

export async function buildTarget(target, log = console.log) {
  const started = Date.now();
  const tc = toolchain(target);
  const outDir = path.join(native, 'build-cross', target);
  const objDir = path.join(outDir, 'obj');
  fs.mkdirSync(objDir, { recursive: true });
  const common = ['-std=c++17', '-O3', '-ffp-contract=off', '-fexceptions', '-fvisibility=hidden', '-Wall', '-Wno-unused-parameter',
    '-DNAPI_VERSION=8', '-DNAPI_CPP_EXCEPTIONS', '-DNODE_ADDON_API_DISABLE_DEPRECATED', '-DBUILDING_NODE_EXTENSION',
    `-I${path.join(path.dirname(require.resolve('node-api-headers/package.json')), 'include')}`,
    `-I${require('node-addon-api').include_dir.replace(/"/g, '')}`, `-I${path.join(native, 'src')}`, ...tc.cflags];
  // Changed flags (this script edited) rebuild everything; a changed link line relinks.
  const stamp = (name, text) => {
    const file = path.join(outDir, name);
    const same = fs.existsSync(file) && fs.readFileSync(file, 'utf8') === text;
    return { same, write: () => fs.writeFileSync(file, text) };
  };
  const flagsStamp = stamp('compile.flags', JSON.stringify([tc.compiler, common, tc.isa]));
  const jobs = [];
  for (const [group, flags] of [['main', []], ...Object.entries(tc.isa)]) {
    for (const src of sources(group)) {
      const obj = path.join(objDir, `${path.relative(path.join(native, 'src'), src).replace(/[\\/]/g, '_')}.o`);
      const dep = `${obj}.d`;
      const current = flagsStamp.same && upToDate(obj, dep);
      jobs.push({ obj, todo: current ? null : [...tc.compiler, ...common, ...flags, '-MMD', '-MF', dep, '-c', src, '-o', obj] });
    }
  }
  const pending = jobs.filter((j) => j.todo);
  let next = 0;
  const worker = async () => {
    while (next < pending.length) await compile(pending[next++].todo);
  };
  await Promise.all(Array.from({ length: Math.max(1, os.cpus().length) }, worker));
  flagsStamp.write();
  const out = path.join(outDir, 'smallthinker.node');
  const link = [...tc.compiler, ...jobs.map((j) => j.obj), ...tc.ldflags, '-o', out];
  const linkStamp = stamp('link.flags', JSON.stringify(link));
  if (pending.length || !linkStamp.same || !fs.existsSync(out)) {
    await compile(link);
    linkStamp.write();
  }
  log(`smallthinker: ${target} addon ${pending.length ? `built (${pending.length} of ${jobs.length} sources compiled)` : 'up to date'} in ` +
    `${((Date.now() - started) / 1000).toFixed(1)} s: ${path.relative(root, out)} (${(fs.statSync(out).size / 1e6).toFixed(2)} MB)`);
  return out;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const targets = args.includes('--all') ? CROSS_TARGETS : args.flatMap((a, i) => (args[i - 1] === '--target' ? [a] : []));
  if (!targets.length) {
    console.error(`usage: node native/cross/build.mjs --target ${CROSS_TARGETS.join('|')} [--target ...] | --all`);
    process.exit(2);
  }
  try {
    for (const t of targets) await buildTarget(t);
  } catch (e) {
    console.error(`smallthinker: cross build failed: ${e.message}`);
    process.exit(1);
  }
}
