// Builds the native addon (native/build/Release/smallthinker.node) during `npm install`.
// node-gyp's own failure output is a wall of text; this checks the toolchain first and, on a
// failed build, prints the one thing that is missing plus the tail of the log.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { writeFileSync, mkdirSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

function has(cmd, args = ['--version']) {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return r.status === 0;
}

function fail(lines) {
  console.error(['', 'smallthinker: cannot build the native engine.', ...lines, ''].join('\n'));
  process.exit(1);
}

const missing = [];
const cxx = process.env.CXX || 'c++';
if (process.platform !== 'win32') {
  if (!has(cxx) && !has('g++') && !has('clang++')) missing.push('a C++17 compiler (g++ or clang++): e.g. `apt-get install g++` or Xcode command line tools');
  if (!has('make')) missing.push('make: e.g. `apt-get install make`');
}
if (!has(process.env.PYTHON || 'python3') && !has('python')) missing.push('Python 3 (node-gyp needs it): e.g. `apt-get install python3`');
if (missing.length) fail(['Missing:', ...missing.map((m) => `  - ${m}`)]);

let gyp;
try {
  gyp = require.resolve('node-gyp/bin/node-gyp.js');
} catch {
  fail(['Missing: node-gyp (run `npm install` in the repository root so devDependencies are present).']);
}

// Prefer the headers that ship with the running Node (no download: this may be an offline machine).
const nodePrefix = path.resolve(path.dirname(process.execPath), '..');
const nodedirArgs = !process.env.npm_config_nodedir && existsSync(path.join(nodePrefix, 'include', 'node', 'node_api.h'))
  ? [`--nodedir=${nodePrefix}`] : [];

// --incremental (used by `npm test`): rebuild only what changed, unless the set of source
// files changed since the last configure (binding.gyp lists them when it is configured).
const sourcesNow = ['main', 'sse42', 'avx', 'avx2', 'avxvnni', 'avx512']
  .map((mode) => spawnSync(process.execPath, [path.join(here, 'gyp-sources.js'), mode], { encoding: 'utf8' }).stdout).join('\n');
const stamp = path.join(here, 'build', 'sources.stamp');
const incremental = process.argv.includes('--incremental') && existsSync(path.join(here, 'build', 'Makefile')) &&
  existsSync(stamp) && readFileSync(stamp, 'utf8') === sourcesNow;

const logDir = path.join(here, 'build');
const logFile = path.join(logDir, 'build.log');
const started = Date.now();
const r = spawnSync(process.execPath, [gyp, incremental ? 'build' : 'rebuild', '--directory', here, '--jobs', 'max', ...nodedirArgs], {
  encoding: 'utf8',
  maxBuffer: 64 * 1024 * 1024,
});
const output = `${r.stdout ?? ''}${r.stderr ?? ''}`;
mkdirSync(logDir, { recursive: true });
writeFileSync(logFile, output);
if (r.status !== 0) {
  const errors = output.split('\n').filter((l) => /error|Error|not found|No such file/.test(l)).slice(0, 12);
  fail([
    ...(/Could not find common\.gypi|node_api\.h: No such file|napi\.h: No such file/.test(output)
      ? ['The Node.js headers were not found (node-gyp downloads them, or set npm_config_nodedir).'] : []),
    'First errors:',
    ...errors.map((l) => `  ${l.trim()}`),
    `Full log: ${logFile}`,
  ]);
}
writeFileSync(stamp, sourcesNow);
console.log(`smallthinker: native engine built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
