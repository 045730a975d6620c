// `npm run package [-- --target linux-x64]`: a platform-specific VSIX (the native addon is
// built for one OS/CPU) with production bundles. The target defaults to this machine's, so the
// same command builds darwin-arm64 or win32-x64 packages on those machines.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const i = process.argv.indexOf('--target');
const target = i >= 0 ? process.argv[i + 1] : `${process.platform === 'win32' ? 'win32' : process.platform}-${process.arch}`;
const { name, version } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const out = path.join(root, `${name}-${target}-${version}.vsix`);
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: 'inherit' });

run(process.execPath, ['native/build.mjs', '--incremental']);
run(process.execPath, ['esbuild.mjs', '--production']);
run(process.execPath, [path.join(root, 'node_modules', '@vscode', 'vsce', 'vsce'), 'package', '--target', target, '--no-dependencies',
  '--allow-missing-repository', '--skip-license', '--no-rewrite-relative-links', '--out', out]);
console.log(out);
