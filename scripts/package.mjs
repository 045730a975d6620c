// `npm run package [-- --target T]`: a platform-specific VSIX (the native addon is built for one
// OS/CPU) with production bundles; T defaults to this machine's (linux-x64 here, and the same
// command builds darwin-arm64 or win32-x64 packages on those machines).
// `npm run package -- --all-targets`: the five VSIX files from this Linux x64 machine, the other
// platforms' addons cross-built (native/cross/build.mjs; native/cross/setup.sh installs the
// toolchains).
// Each package is assembled in .cache/package/<target>/ from the files .vscodeignore lets in,
// with that target's addon in the place the extension loads it from.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CROSS_TARGETS, buildTarget } from '../native/cross/build.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const hostTarget = `${process.platform}-${process.arch}`;
const i = process.argv.indexOf('--target');
const targets = process.argv.includes('--all-targets') ? [hostTarget, ...CROSS_TARGETS.filter((t) => t !== hostTarget)]
  : [i >= 0 ? process.argv[i + 1] : hostTarget];
const { name, version } = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const run = (cmd, args, cwd = root) => execFileSync(cmd, args, { cwd, stdio: 'inherit' });
const addonInPackage = 'native/build/Release/smallthinker.node';

// The files .vscodeignore lets in: its "!path" lines (the rest of it is "**").
const shipped = fs.readFileSync(path.join(root, '.vscodeignore'), 'utf8').split('\n')
  .filter((l) => l.startsWith('!')).map((l) => l.slice(1).trim());

run(process.execPath, ['native/build.mjs', '--incremental']);
run(process.execPath, ['esbuild.mjs', '--production']);
const sizes = [];
for (const target of targets) {
  const addon = target === hostTarget ? path.join(root, addonInPackage) : await buildTarget(target);
  const stage = path.join(root, '.cache', 'package', target);
  fs.rmSync(stage, { recursive: true, force: true });
  for (const file of [...shipped, '.vscodeignore']) {
    const from = file === addonInPackage ? addon : path.join(root, file);
    if (!fs.existsSync(from)) continue;  // LICENSE and the like are optional to vsce
    fs.mkdirSync(path.dirname(path.join(stage, file)), { recursive: true });
    fs.copyFileSync(from, path.join(stage, file));
  }
  const out = path.join(root, `${name}-${target}-${version}.vsix`);
  run(process.execPath, [path.join(root, 'node_modules', '@vscode', 'vsce', 'vsce'), 'package', '--target', target, '--no-dependencies',
    '--allow-missing-repository', '--skip-license', '--no-rewrite-relative-links', '--out', out], stage);
  sizes.push(`${path.basename(out)}  ${(fs.statSync(out).size / 1e6).toFixed(2)} MB`);
}
console.log(sizes.join('\n'));
