// The fifth bits of Q5_0 and Q5_1 codes for 256-bit vectors, shared by the kernel files built
// with AVX2 or later (blocks32_avx2.cpp, kernels_avxvnni.cpp, kernels_avx512.cpp): include it
// only from those.
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace st::kernels {
namespace {  // internal linkage: see hsum_x86.h

// Bit j of `bits` as 16 in byte j (a block's qh word: the fifth bit of element j).
inline __m256i fifth_bits(uint32_t bits) {
  const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(bits)),
                                             _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303));
  const __m256i bit = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ULL));
  return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit), _mm256_set1_epi8(16));
}

// Packed Q5_0 (pack_q5_0x16): each 32-bit lane of `qh` holds one row's qh word; bits 4s..4s+3
// of it (first = 4s) or 16+4s.. (first = 16 + 4s), the fifth bits of the four elements of that
// row in code vector s, as 16 in the lane's bytes 0..3.
inline __m256i fifth_bits_of_lanes(__m256i qh, int first) {
  const __m256i byte0 = _mm256_broadcastsi128_si256(_mm_setr_epi8(0, 0, 0, 0, 4, 4, 4, 4, 8, 8, 8, 8, 12, 12, 12, 12));
  const __m256i bit = _mm256_set1_epi32(0x08040201);
  const __m256i spread = _mm256_shuffle_epi8(_mm256_srli_epi32(qh, first), byte0);
  return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit), _mm256_set1_epi8(16));
}

}  // namespace
}  // namespace st::kernels
