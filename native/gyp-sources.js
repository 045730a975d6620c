// Lists native sources for binding.gyp, so new files need no edit there.
//   node gyp-sources.js main   -> every src/**/*.cpp except per-ISA kernels (*_sse42, *_avx, *_avx2, *_avxvnni, *_avx512, *_neondot.cpp)
//   node gyp-sources.js sse42  -> src/**/*_sse42.cpp, compiled with -mssse3 -msse4.1 -msse4.2 -mpopcnt
//   node gyp-sources.js avx    -> src/**/*_avx.cpp, compiled with those flags and -mavx
//   node gyp-sources.js avx2   -> src/**/*_avx2.cpp, compiled with -mavx2 -mfma -mf16c
//   node gyp-sources.js avxvnni -> src/**/*_avxvnni.cpp, compiled with the AVX2 flags and -mavxvnni
//   node gyp-sources.js avx512 -> src/**/*_avx512.cpp, compiled with AVX-512 F/BW/VL/VNNI too
//   node gyp-sources.js neondot -> src/**/*_neondot.cpp, compiled with -march=armv8.2-a+dotprod (arm64 Linux)
// NEON kernels (*_neon.cpp) are in "main": NEON is baseline on aarch64 and the files
// compile to nothing elsewhere.
const fs = require('fs');
const path = require('path');

function walk(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]);
}

const mode = process.argv[2];
const all = walk(path.join(__dirname, 'src'))
  .filter((f) => f.endsWith('.cpp'))
  .map((f) => path.relative(__dirname, f).split(path.sep).join('/'))
  .sort();
const isa = (f) => ['sse42', 'avx', 'avx2', 'avxvnni', 'avx512', 'neondot'].find((name) => f.endsWith(`_${name}.cpp`)) ?? 'main';
const wanted = mode.replace(/-count$/, '');
const picked = all.filter((f) => isa(f) === wanted);
process.stdout.write(mode.endsWith('-count') ? String(picked.length) : picked.join(' '));
