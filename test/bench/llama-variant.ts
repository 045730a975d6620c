// llama.cpp on a chosen instruction set, for a fair `--isa` comparison. node-llama-cpp's
// prebuilt package holds one CPU library per instruction-set level (libggml-cpu-sse42.so for
// SSE4.2, -haswell for AVX2, -alderlake for AVX2 with AVX-VNNI, -zen4/-icelake/... for AVX-512, -x64 for the
// baseline) and loads the best this CPU runs, from the directory of its addon. Our engine forced to AVX2 on an AVX-512 machine is what a
// laptop without AVX-512 runs; llama.cpp must then be on AVX2 too, or the ratio compares two
// machines. So: a directory under .cache/ that mirrors node_modules with symlinks, except that
// the prebuilt package's directory keeps only the chosen CPU library, and the child runs from
// there with Node's --preserve-symlinks so that node-llama-cpp resolves to the mirror.
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(__dirname, '..', '..');
const prebuilt = path.join(root, 'node_modules', '@node-llama-cpp', 'linux-x64');

/** The llama.cpp CPU library that matches each of our kernel tables ('best': llama.cpp chooses). */
export const LLAMA_VARIANT_FOR_ISA: Record<string, string> = { sse42: 'sse42', avx: 'ivybridge', avx2: 'haswell', avxvnni: 'alderlake', scalar: 'x64', avx512: 'best' };

/** The CPU libraries the prebuilt package offers (haswell, zen4, x64, ...). */
export function llamaVariants(): string[] {
  const bins = binsDir();
  return fs.readdirSync(bins).flatMap((f) => /^libggml-cpu-(.+)\.so$/.exec(f)?.[1] ?? []).sort();
}

function binsDir(): string {
  const dirs = fs.readdirSync(path.join(prebuilt, 'bins'));
  if (dirs.length !== 1) throw new Error(`expected one directory in ${path.join(prebuilt, 'bins')}, found ${dirs.join(', ')}`);
  return path.join(prebuilt, 'bins', dirs[0]);
}

/**
 * The command that runs `script` (a file next to this one) with llama.cpp on `variant`:
 * [node options..., script path]. 'best' is the plain node_modules.
 */
export function llamaChildCommand(script: string, variant: string): string[] {
  const tsx = ['--import=tsx'];
  if (variant === 'best') return [...tsx, path.join(__dirname, script)];
  const known = llamaVariants();
  if (!known.includes(variant)) throw new Error(`llama.cpp has no CPU library "${variant}"; it has: ${known.join(', ')}`);
  const dir = path.join(root, '.cache', 'llama-variants', variant);
  const modules = path.join(dir, 'node_modules');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.join(modules, '@node-llama-cpp'), { recursive: true });
  const link = (target: string, at: string) => fs.symlinkSync(target, at);
  for (const entry of fs.readdirSync(path.join(root, 'node_modules'))) {
    if (entry !== '@node-llama-cpp') link(path.join(root, 'node_modules', entry), path.join(modules, entry));
  }
  for (const entry of fs.readdirSync(path.join(root, 'node_modules', '@node-llama-cpp'))) {
    if (entry !== 'linux-x64') link(path.join(root, 'node_modules', '@node-llama-cpp', entry), path.join(modules, '@node-llama-cpp', entry));
  }
  const mirror = path.join(modules, '@node-llama-cpp', 'linux-x64');
  fs.mkdirSync(mirror);
  for (const entry of fs.readdirSync(prebuilt)) if (entry !== 'bins') link(path.join(prebuilt, entry), path.join(mirror, entry));
  const bins = binsDir();
  const mirrorBins = path.join(mirror, 'bins', path.basename(bins));
  fs.mkdirSync(mirrorBins, { recursive: true });
  for (const f of fs.readdirSync(bins)) {
    const cpu = /^libggml-cpu-(.+)\.so$/.exec(f);
    if (!cpu || cpu[1] === variant) link(path.join(bins, f), path.join(mirrorBins, f));
  }
  link(path.join(__dirname, script), path.join(dir, script));
  // tsx by absolute path: the mirror's own resolution of 'tsx' would do too, but this is plainer.
  const loader = path.join(root, 'node_modules', 'tsx', 'dist', 'loader.mjs');
  return ['--preserve-symlinks', '--preserve-symlinks-main', `--import=${loader}`, path.join(dir, script)];
}
