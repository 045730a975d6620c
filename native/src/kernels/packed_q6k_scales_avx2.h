// The codes, scales and d of a packed Q6_K super-block (pack_q6_Kx16) for 256-bit vectors,
// shared by the kernel files built with AVX2 (kquants_avx2.cpp, kernels_avxvnni.cpp): include
// it only from those.
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels.h"

namespace st::kernels {
namespace {  // internal linkage: see hsum_x86.h

// The six-bit codes (0..63) of 32 values of a packed super-block: the low nibbles of ql for
// k < 2, the high ones for k ≥ 2, with bits 2k and 2k + 1 of each qh byte as bits 4 and 5. Each
// part is one shift of 16-bit lanes and one mask: a shift by at most 4 moves no bit of a byte
// that the mask keeps into the other byte. k must be a constant where this is called (unrolled).
inline __m256i q6_codes(__m256i ql, __m256i qh, int k) {
  const __m256i low4 = _mm256_set1_epi8(0x0f), bits45 = _mm256_set1_epi8(0x30);
  const __m256i low = _mm256_and_si256(k < 2 ? ql : _mm256_srli_epi16(ql, 4), low4);
  const __m256i high = k == 0 ? _mm256_slli_epi16(qh, 4) : k == 1 ? _mm256_slli_epi16(qh, 2) : k == 2 ? qh : _mm256_srli_epi16(qh, 2);
  return _mm256_or_si256(low, _mm256_and_si256(high, bits45));
}

// Rows 8h .. 8h + 7 of a packed super-block: each sub-block's int8 scale as a 32-bit lane, the
// scales paired by sub-block (2j in the low 16 bits, 2j + 1 in the high) and d as floats.
struct PackedQ6KHalf {
  const uint8_t* block;
  int h;
  __m256i pairs[8];
  __m256 d;
  PackedQ6KHalf(const uint8_t* b, int half) : block(b), h(half) {
    for (int j = 0; j < 8; j++) {  // each row's two scale bytes side by side, widened to 16 bits
      pairs[j] = _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(scale_bytes(2 * j), scale_bytes(2 * j + 1)));
    }
    d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block + kQ6KxD + 16 * h)));
  }
  __m128i scale_bytes(int m) const { return _mm_loadl_epi64(reinterpret_cast<const __m128i*>(block + kQ6KxScales + 16 * m + 8 * h)); }
  __m256i scale(int m) const { return _mm256_cvtepi8_epi32(scale_bytes(m)); }
  // Sub-block m's scale in both 16-bit halves of each row's lane (for VPMADDWD).
  __m256i scale16(int m) const {
    const __m256i low_half_twice = _mm256_setr_epi8(0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13,
                                                    0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13);
    return _mm256_shuffle_epi8(scale(m), low_half_twice);
  }
  // The packed contract's one multiply-add (kernels.h) for these rows and one activation, given
  // the exact sums Σ_m scale_m·Σ code·x: the code offset 32 comes off them as 32·Σ_m scale_m·Σx_m
  // (VPMADDWD of the scale pairs against the activation's sums of 16), then
  // acc = fma(float(I), d·x.d, acc).
  __m256 add_to(__m256 acc, __m256i isum, const BlockQ8_K& x) const {
    __m256i offset = _mm256_setzero_si256();
    for (int j = 0; j < 8; j++) {
      // bsums[2j] and bsums[2j + 1] as one 32-bit word (low, high): one broadcast load.
      int32_t sums;
      std::memcpy(&sums, x.bsums + 2 * j, sizeof sums);
      offset = _mm256_add_epi32(offset, _mm256_madd_epi16(pairs[j], _mm256_set1_epi32(sums)));
    }
    const __m256i total = _mm256_sub_epi32(isum, _mm256_slli_epi32(offset, 5));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(total), _mm256_mul_ps(d, _mm256_set1_ps(x.d)), acc);
  }
};

}  // namespace
}  // namespace st::kernels
