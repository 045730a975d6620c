// The sum of a vector's float lanes, in the one order every x86 table reduces in: the two
// 128-bit halves added, then the upper pair onto the lower, then the last two lanes. Tables
// give each other's results to the bit only if they reduce alike, hence one definition.
// Needs AVX (any x86 kernel file's flags have it). The functions have internal linkage: a
// file built for AVX-512 must not lend its copy to one built for AVX2.
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace st::kernels {
namespace {

inline float hsum(__m128 v) {
  v = _mm_add_ps(v, _mm_movehl_ps(v, v));
  v = _mm_add_ss(v, _mm_movehdup_ps(v));
  return _mm_cvtss_f32(v);
}

inline float hsum(__m256 v) { return hsum(_mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1))); }

// The integer sums (exact in any order; one order all the same, written once).
inline int32_t hsum_i32(__m128i s) {
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(s);
}

#if defined(__AVX2__)
inline int32_t hsum_i32(__m256i v) { return hsum_i32(_mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1))); }
#endif

}  // namespace
}  // namespace st::kernels
