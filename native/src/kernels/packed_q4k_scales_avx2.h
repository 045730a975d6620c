// The scales and mins of a packed Q4_K super-block (pack_q4_Kx16) unpacked for 256-bit
// vectors, shared by the kernel files built with AVX2 (kquants_avx2.cpp, kernels_avxvnni.cpp):
// include it only from those.
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels.h"

namespace st::kernels {
namespace {  // internal linkage: see hsum_x86.h

// An activation super-block's sums of 32 values, S_i = bsums[2i] + bsums[2i + 1] (|S_i| ≤
// 4,064, so 16 bits hold them), paired for VPMADDWD against the rows' paired mins: pair k
// (S_2k low, S_2k+1 high) in every lane of pair[k]. Made with vector operations once per
// super-block for both halves of the rows (the scalar pairing per half was a tenth of the
// products' time).
struct Q8KSumPairs {
  __m256i pair[4];
};

inline Q8KSumPairs sum_pairs(const BlockQ8_K& x) {
  const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.bsums));
  const __m256i s = _mm256_hadd_epi16(b, b);  // within 128-bit lanes: pairs 0, 1 in 32-bit lanes 0, 1; pairs 2, 3 in 4, 5
  return {{_mm256_permutevar8x32_epi32(s, _mm256_set1_epi32(0)), _mm256_permutevar8x32_epi32(s, _mm256_set1_epi32(1)),
           _mm256_permutevar8x32_epi32(s, _mm256_set1_epi32(4)), _mm256_permutevar8x32_epi32(s, _mm256_set1_epi32(5))}};
}

// Rows 8h..8h+7 of a packed super-block: each sub-block's scale as a 32-bit lane (sc, for
// products summed in 32 bits) and repeated in both 16-bit halves of it (sc16, for VPMADDWD
// against 16-bit sums); the mins paired by sub-block (2k in the low half, 2k+1 in the high);
// d and dmin as floats. A kernel pays only for the form it reads (the other is dead code once
// inlined).
struct PackedHalfScales {
  __m256i sc[8], sc16[8], mn_pairs[4];
  __m256 d, dmin;
  PackedHalfScales(const uint8_t* block, int h) {
    d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block + kQ4KxD + 16 * h)));
    dmin = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block + kQ4KxDmin + 16 * h)));
    auto load = [](const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); };
    const __m256i u0 = load(block + kQ4KxScaleWords + 32 * h), u1 = load(block + kQ4KxScaleWords + 64 + 32 * h),
                  u2 = load(block + kQ4KxScaleWords + 128 + 32 * h);
    const __m256i m63 = _mm256_set1_epi32(0x3f3f3f3f), m15 = _mm256_set1_epi32(0x0f0f0f0f), m3 = _mm256_set1_epi32(0x03030303);
    const __m256i sc_words[2] = {
        _mm256_and_si256(u0, m63),
        _mm256_or_si256(_mm256_and_si256(u2, m15), _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(u0, 6), m3), 4))};
    const __m256i mn_words[2] = {
        _mm256_and_si256(u1, m63),
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(u2, 4), m15), _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(u1, 6), m3), 4))};
    const __m256i byte = _mm256_set1_epi32(0xff);
    auto field = [&](const __m256i* words, int i) { return _mm256_and_si256(_mm256_srli_epi32(words[i / 4], 8 * (i % 4)), byte); };
    for (int i = 0; i < 8; i++) {
      sc[i] = field(sc_words, i);
      sc16[i] = _mm256_or_si256(sc[i], _mm256_slli_epi32(sc[i], 16));
    }
    for (int k = 0; k < 4; k++) mn_pairs[k] = _mm256_or_si256(field(mn_words, 2 * k), _mm256_slli_epi32(field(mn_words, 2 * k + 1), 16));
  }
  // Σ_i min_i · Σx over sub-block i, per row.
  __m256i mins(const Q8KSumPairs& sums) const {
    __m256i msum = _mm256_madd_epi16(mn_pairs[0], sums.pair[0]);
    for (int k = 1; k < 4; k++) msum = _mm256_add_epi32(msum, _mm256_madd_epi16(mn_pairs[k], sums.pair[k]));
    return msum;
  }
  // The packed contract's float steps (kernels.h) for these rows and one activation: the
  // integer sums times d·x.d, then the mins' sums times dmin·x.d, a fused multiply-add each.
  __m256 add_to(__m256 acc, __m256i isum, const BlockQ8_K& x, const Q8KSumPairs& sums) const {
    const __m256 xd = _mm256_set1_ps(x.d);
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(d, xd), acc);
    return _mm256_fnmadd_ps(_mm256_cvtepi32_ps(mins(sums)), _mm256_mul_ps(dmin, xd), acc);
  }
};

}  // namespace
}  // namespace st::kernels
