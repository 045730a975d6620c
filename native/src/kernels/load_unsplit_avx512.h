// A 64-byte vector of a packed block read as two 32-byte loads, for the AVX-512 kernel files
// (kernels_avx512.cpp, kquants_avx512.cpp): include it only from those. Packed blocks are not
// multiples of 64 bytes (a Q4_0 group's block is 288 bytes, a Q6_K super-block 3,360), so in
// every second block each 64-byte vector spans two cache lines and a 64-byte load of it is a
// split load; its halves, 32-byte aligned like the tensors of a GGUF file, never are (Zen 5,
// Q4_0, one activation: 7.0 → 6.3 ns a block). Internal linkage: see hsum_x86.h.
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace st::kernels {
namespace {

inline __m512i load_unsplit(const uint8_t* p) {
  const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32)), 1);
}

}  // namespace
}  // namespace st::kernels
