// The sum of a vector's float lanes, in the one order every x86 table reduces in: the two
// 128-bit halves added, then the upper pair onto the lower, then the last two lanes. Tables
// give each other's results to the bit only if they reduce alike, hence one definition.
// Needs AVX (any x86 kernel file's flags have it). The functions have internal linkage: a
// file built for AVX-512 must not lend its copy to one built for AVX2.
#pragma once
#include <immintrin.h>

namespace st::kernels {
namespace {

inline float hsum(__m128 v) {
  v = _mm_add_ps(v, _mm_movehl_ps(v, v));
  v = _mm_add_ss(v, _mm_movehdup_ps(v));
  return _mm_cvtss_f32(v);
}

inline float hsum(__m256 v) { return hsum(_mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1))); }

}  // namespace
}  // namespace st::kernels
