// Lists native sources for binding.gyp, so new files need no edit there.
//   node gyp-sources.js main   -> every src/**/*.cpp except per-ISA kernels (*_avx2.cpp)
//   node gyp-sources.js avx2   -> src/**/*_avx2.cpp, compiled with -mavx2 -mfma -mf16c
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
const isAvx2 = (f) => f.endsWith('_avx2.cpp');
const picked = mode.startsWith('avx2') ? all.filter(isAvx2) : all.filter((f) => !isAvx2(f));
process.stdout.write(mode === 'avx2-count' ? String(all.filter(isAvx2).length) : picked.join(' '));
