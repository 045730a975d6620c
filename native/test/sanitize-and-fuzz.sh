#!/usr/bin/env bash
# The GGUF reader and the tokenizer built from a file under AddressSanitizer +
# UndefinedBehaviorSanitizer, the thread pool and the expert cache under ThreadSanitizer and
# ASan, the page cache the reader and the memory plan leave and count (ASan), then a
# coverage-guided libFuzzer run (clang) of at least FUZZ_SECONDS (default 60).
# Installs clang when missing.
# Run from anywhere: `npm run test:native`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
native="$(dirname "$here")"
root="$(dirname "$native")"
out="$native/test/build"
mkdir -p "$out"
fuzz_seconds="${FUZZ_SECONDS:-60}"
reader_sources=("$native/src/gguf/gguf_reader.cpp" "$native/src/platform/platform_posix.cpp" "$native/src/model/smallthinker_file.cpp" "$native/src/tokenizer/model_tokenizer.cpp"
  "$native/src/tokenizer/bpe_tokenizer.cpp" "$native/src/tokenizer/unicode.cpp")

if ! command -v clang++ >/dev/null 2>&1 || ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  echo "== installing clang and its sanitizer/fuzzer runtime (Debian: clang, libclang-rt-14-dev)"
  [ "$(id -u)" = 0 ] || { echo "need root to apt-get install clang; install it and re-run"; exit 1; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang libclang-rt-14-dev >/dev/null
fi

echo "== ASan+UBSan build of the reader (g++)"
g++ -std=c++17 -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
  -I"$native/src" "${reader_sources[@]}" "$native/test/gguf_check_main.cpp" -o "$out/gguf_check_asan"

echo "== ASan+UBSan over the seeds, generated models and a batch of mutated files"
mutants="$out/mutants"
rm -rf "$mutants" && mkdir -p "$mutants"
node -e '
  const fs = require("fs"), path = require("path");
  const [corpus, out] = process.argv.slice(1);
  let s = 12345; const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
  for (const f of fs.readdirSync(corpus)) {
    const base = fs.readFileSync(path.join(corpus, f));
    for (let k = 0; k < 40; k++) {
      const b = Buffer.from(base.subarray(0, k % 4 === 0 ? Math.floor(rnd() * base.length) : base.length));
      for (let j = 0; j < 1 + (k % 5); j++) if (b.length) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      fs.writeFileSync(path.join(out, `${f}.m${k}`), b);
    }
  }' "$native/fuzz/corpus" "$mutants"
models=()
if [ -d "$root/.cache/models" ]; then
  while IFS= read -r f; do models+=("$f"); done < <(find "$root/.cache/models" -name 'st-*-tiny*.gguf' | head -8)
fi
ASAN_OPTIONS=detect_leaks=1 "$out/gguf_check_asan" "$native"/fuzz/corpus/* "$mutants"/* "${models[@]}" | tail -1

echo "== the thread pool under ThreadSanitizer, then ASan+UBSan"
pool_sources=("$native/src/runtime/thread_pool.cpp" "$native/src/runtime/float_mode.cpp" "$native/src/runtime/switches.cpp" "$native/src/platform/platform_posix.cpp")
g++ -std=c++17 -g -O1 -fsanitize=thread -I"$native/src" "${pool_sources[@]}" "$native/test/thread_pool_test.cpp" -pthread -o "$out/thread_pool_tsan"
g++ -std=c++17 -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -I"$native/src" \
  "${pool_sources[@]}" "$native/test/thread_pool_test.cpp" -pthread -o "$out/thread_pool_asan"
TSAN_OPTIONS=halt_on_error=1 "$out/thread_pool_tsan" | tail -1
ASAN_OPTIONS=detect_leaks=1 "$out/thread_pool_asan" | tail -1

echo "== what the page cache charges us: mapped files counted whole, a parsed header's pages dropped (ASan+UBSan)"
g++ -std=c++17 -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
  -I"$native/src" "${reader_sources[@]}" "$native/test/page_cache_test.cpp" -o "$out/page_cache_asan"
ASAN_OPTIONS=detect_leaks=1 "$out/page_cache_asan" | tail -3

echo "== the expert cache (I/O threads + compute threads) under ThreadSanitizer, then ASan+UBSan"
cache_models=()
generator=$(sed -n 's/^export const GENERATOR_VERSION = \([0-9]*\);.*/\1/p' "$root/test/generator/index.ts")
for name in tiny-q4_0-small-upstream-s1 tiny-q4_0-small-powerinfer-s1 tiny-swa-f32-small-upstream-s1; do
  name="st-g$generator-$name"
  [ -f "$root/.cache/models/$name.gguf" ] && cache_models+=("$root/.cache/models/$name.gguf")
done
[ "${#cache_models[@]}" -gt 0 ] || { echo "no generated tiny models in .cache/models (run npm test first)"; exit 1; }
bash "$native/test/build-model-test.sh" "$native/test/expert_cache_test.cpp" "$out/expert_cache_tsan" "-fsanitize=thread"
bash "$native/test/build-model-test.sh" "$native/test/expert_cache_test.cpp" "$out/expert_cache_asan" \
  "-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
for f in "${cache_models[@]}"; do
  echo "-- $(basename "$f")"
  TSAN_OPTIONS=halt_on_error=1 "$out/expert_cache_tsan" "$f" | tail -1
  ASAN_OPTIONS=detect_leaks=1 "$out/expert_cache_asan" "$f" | tail -1
done

echo "== libFuzzer (clang, ASan+UBSan) for ${fuzz_seconds}s"
clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -I"$native/src" "${reader_sources[@]}" "$native/fuzz/gguf_fuzz.cpp" -o "$out/gguf_fuzz"
work_corpus="$out/fuzz-corpus"
mkdir -p "$work_corpus"
cp -n "$native"/fuzz/corpus/* "$work_corpus"/ 2>/dev/null || true
# -rss_limit_mb: a hostile header must never make the reader allocate much.
"$out/gguf_fuzz" "$work_corpus" -max_total_time="$fuzz_seconds" -rss_limit_mb=512 -malloc_limit_mb=256 \
  -max_len=65536 -artifact_prefix="$out/finding-" -print_final_stats=1 2>"$out/fuzz.log" || {
  tail -40 "$out/fuzz.log"; echo "fuzzer: FINDING (see $out/finding-*)"; exit 1; }
grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "$out/fuzz.log" | tr '\n' ' '; echo
echo "native: sanitizers and ${fuzz_seconds}s of fuzzing found nothing"
