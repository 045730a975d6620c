#!/usr/bin/env bash
# Builds native/test/build/kernels_test (host) or, with CXX=aarch64-linux-gnu-g++ and
# OUT=..., the same test for another architecture.
set -euo pipefail
native="$(cd "$(dirname "$0")/.." && pwd)"
cxx="${CXX:-g++}"
out="${OUT:-$native/test/build/kernels_test}"
mkdir -p "$(dirname "$out")"
objdir="$(dirname "$out")/obj-$(basename "$out")"
mkdir -p "$objdir"
srcs=("$native/src/kernels/kernels_scalar.cpp" "$native/src/kernels/kernels_scalar_blocks.cpp" "$native/src/kernels/dispatch.cpp" "$native/src/kernels/kernels_neon.cpp" "$native/src/kernels/kquants_neon.cpp" "$native/src/kernels/blocks32_neon.cpp" "$native/src/runtime/switches.cpp"
  "$native/src/runtime/float_mode.cpp" "$native/src/runtime/thread_pool.cpp" "$native/src/platform/platform_posix.cpp"
  "$native/test/kernels_test.cpp")
objs=()
for s in "${srcs[@]}"; do
  o="$objdir/$(basename "$s" .cpp).o"
  "$cxx" -std=c++17 -O2 -ffp-contract=off -I"$native/src" -c "$s" -o "$o"
  objs+=("$o")
done
if [ "$("$cxx" -dumpmachine | cut -d- -f1)" = "x86_64" ]; then
  o="$objdir/kernels_sse42.o"
  "$cxx" -std=c++17 -O2 -ffp-contract=off -mssse3 -msse4.1 -msse4.2 -mpopcnt -I"$native/src" -c "$native/src/kernels/kernels_sse42.cpp" -o "$o"
  objs+=("$o")
  o="$objdir/kernels_avx.o"
  "$cxx" -std=c++17 -O2 -ffp-contract=off -mssse3 -msse4.1 -msse4.2 -mpopcnt -mavx -I"$native/src" -c "$native/src/kernels/kernels_avx.cpp" -o "$o"
  objs+=("$o")
  o="$objdir/kernels_avx2.o"
  "$cxx" -std=c++17 -O2 -ffp-contract=off -mavx2 -mfma -mf16c -I"$native/src" -c "$native/src/kernels/kernels_avx2.cpp" -o "$o"
  objs+=("$o")
  for f in kquants_avx2 blocks32_avx2; do
    o="$objdir/$f.o"
    "$cxx" -std=c++17 -O2 -ffp-contract=off -mavx2 -mfma -mf16c -I"$native/src" -c "$native/src/kernels/$f.cpp" -o "$o"
    objs+=("$o")
  done
  o="$objdir/kernels_avxvnni.o"
  "$cxx" -std=c++17 -O2 -ffp-contract=off -mavxvnni -mavx2 -mfma -mf16c -I"$native/src" -c "$native/src/kernels/kernels_avxvnni.cpp" -o "$o"
  objs+=("$o")
  o="$objdir/kernels_avx512.o"
  "$cxx" -std=c++17 -O2 -ffp-contract=off -mavx512f -mavx512bw -mavx512vl -mavx512vnni -mavx2 -mfma -mf16c -I"$native/src" \
    -c "$native/src/kernels/kernels_avx512.cpp" -o "$o"
  objs+=("$o")
  o="$objdir/kquants_avx512.o"
  "$cxx" -std=c++17 -O2 -ffp-contract=off -mavx512f -mavx512bw -mavx512vl -mavx512vnni -mavx2 -mfma -mf16c -I"$native/src" \
    -c "$native/src/kernels/kquants_avx512.cpp" -o "$o"
  objs+=("$o")
fi
if [ "$("$cxx" -dumpmachine | cut -d- -f1)" = "aarch64" ]; then
  # The NEON files' second build, with the dot-product instruction (kernels/neon_dot.h).
  for f in kernels_neondot kquants_neondot blocks32_neondot; do
    o="$objdir/$f.o"
    "$cxx" -std=c++17 -O2 -ffp-contract=off -march=armv8.2-a+dotprod -I"$native/src" -c "$native/src/kernels/$f.cpp" -o "$o"
    objs+=("$o")
  done
fi
"$cxx" -static-libstdc++ "${objs[@]}" -pthread -o "$out"
echo "$out"
