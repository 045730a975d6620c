#!/usr/bin/env bash
# Builds a test program against the engine's model, kernels and runtime (no addon, no
# tokenizer) with extra flags, e.g. sanitizers:
#   build-model-test.sh TEST.cpp OUT "-fsanitize=thread"
# Per-ISA kernel files get their instruction-set flags as in binding.gyp.
set -euo pipefail
native="$(cd "$(dirname "$0")/.." && pwd)"
test_src="$1"; out="$2"; extra="${3:-}"
objdir="$out.obj"
mkdir -p "$objdir"
objs=()
for s in "$native"/src/gguf/*.cpp "$native"/src/formats/*.cpp "$native"/src/model/*.cpp "$native"/src/runtime/*.cpp "$native"/src/kernels/*.cpp "$native"/src/platform/*.cpp "$test_src"; do
  isa=""
  case "$s" in
    *_sse42.cpp) [ "$(uname -m)" = x86_64 ] || continue; isa="-mssse3 -msse4.1 -msse4.2 -mpopcnt" ;;
    *_avx.cpp) [ "$(uname -m)" = x86_64 ] || continue; isa="-mssse3 -msse4.1 -msse4.2 -mpopcnt -mavx" ;;
    *_avx2.cpp) [ "$(uname -m)" = x86_64 ] || continue; isa="-mavx2 -mfma -mf16c" ;;
    *_avxvnni.cpp) [ "$(uname -m)" = x86_64 ] || continue; isa="-mavxvnni -mavx2 -mfma -mf16c" ;;
    *_avx512.cpp) [ "$(uname -m)" = x86_64 ] || continue; isa="-mavx512f -mavx512bw -mavx512vl -mavx512vnni -mavx2 -mfma -mf16c" ;;
    *_neondot.cpp) [ "$(uname -m)" = aarch64 ] || continue; isa="-march=armv8.2-a+dotprod" ;;
  esac
  o="$objdir/$(basename "$s" .cpp).o"
  # shellcheck disable=SC2086
  g++ -std=c++17 -ffp-contract=off -g -O1 $extra $isa -I"$native/src" -c "$s" -o "$o"
  objs+=("$o")
done
# shellcheck disable=SC2086
g++ $extra "${objs[@]}" -pthread -o "$out"
