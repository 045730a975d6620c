// Reading the packed 32-value layouts that share Q4_0×16's code vectors (packed_nibbles.h) with
// 256-bit vectors, 8 rows a vector: shared by the kernel files built with AVX2 or later that
// compute them (kernels_avx2.cpp, kernels_avxvnni.cpp; kernels_avx512.cpp for the activation's
// terms and the one-row kernel); include it only from those.
#pragma once
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#include "fifth_bits_avx2.h"
#include "hsum_x86.h"
#include "kquant_scales_x86.h"
#include "packed_nibbles.h"

namespace st::kernels {
namespace {  // internal linkage: see hsum_x86.h

// IQ4_NL's 16 values + 128 (unsigned bytes) in both halves, for VPSHUFB.
inline __m256i iq4_unsigned_values() { return _mm256_broadcastsi128_si256(iq4_values_plus_128()); }

// The codes of code vector s for rows 8h..8h+7 of a packed block: the low nibbles (elements
// 4s..4s+3) in lo, the high ones (16+4s..) in hi, in the form C's chains take (IQ4_NL's
// looked up in `values`, iq4_unsigned_values(); the Q5 forms' fifth bits added as 16).
template <Nibbles C>
inline void nibble_codes(const uint8_t* block, int s, int h, __m256i values, __m256i& lo, __m256i& hi) {
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + kPackRows * sizeof(uint16_t) + 64 * s + 32 * h));
  lo = _mm256_and_si256(v, low4);
  hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
  if constexpr (C == Nibbles::IQ4_NL) {
    lo = _mm256_shuffle_epi8(values, lo);
    hi = _mm256_shuffle_epi8(values, hi);
  } else if constexpr (kFifthBits<C>) {
    const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + kQ5_0xHigh + 32 * h));
    lo = _mm256_or_si256(lo, fifth_bits_of_lanes(qh, 4 * s));
    hi = _mm256_or_si256(hi, fifth_bits_of_lanes(qh, 16 + 4 * s));
  }
}

// The activation's per-block terms in the form C takes: the scale d_x, the chain's start (the
// offset taken back off) and, for the affine forms, s_x (Q8_1's F16 d and s; Q8_0's from its
// terms, computed once per activation).
struct BlockTerms {
  float d, s;
  int32_t start;
};
template <Nibbles C>
inline BlockTerms terms_of(const NibbleActivation<C>& x, const Q8_0BlockTerms* xterms) {
  if constexpr (kAffine<C>) return {_cvtsh_ss(x.d), _cvtsh_ss(x.s), 0};
  else return {xterms->d, 0.0f, kZeroMultiple<C> * xterms->zero};
}

// The affine forms' term m_w·s_x for rows 8h..8h+7: acc + m·s, one multiply-add.
template <Nibbles C>
inline __m256 plus_min_times_sum(const uint8_t* block, int h, float s, __m256 acc) {
  if constexpr (kAffine<C>) {
    const __m256 mw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block + kMinOffset<C> + 16 * h)));
    return _mm256_fmadd_ps(mw, _mm256_set1_ps(s), acc);
  } else {
    return acc;
  }
}

// One row of a packed group (the up rows of the few active neurons): its four 4-byte pieces
// per block gathered back into the block's 32 codes in element order (the Q5 forms' fifth bits
// from its qh word, IQ4_NL's looked up in `values`), then one block product
// `sums(codes, x.qs)` (32-bit lanes that add up to the block's integer sum: VPMADDUBSW and
// VPMADDWD, or VPDPBUSD) and the packed contract's multiply-add(s), so that the value is
// exactly the row's lane of the group kernels'.
template <Nibbles C, typename Sums>
float packed_row_dot(const uint8_t* group, int64_t nb, int lane, const NibbleActivation<C>* x, const Q8_0BlockTerms* xterms, __m256i values,
                     Sums sums) {
  const auto piece = [](const uint8_t* p) {
    int32_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
  };
  float acc = 0;
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* block = group + b * kNibbleBlockBytes<C>;
    const uint8_t* q = block + kPackRows * sizeof(uint16_t) + 4 * lane;
    const __m128i qs = _mm_setr_epi32(piece(q), piece(q + 64), piece(q + 128), piece(q + 192));
    __m256i codes = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(qs, 4), qs), _mm256_set1_epi8(0x0f));
    if constexpr (C == Nibbles::IQ4_NL) codes = _mm256_shuffle_epi8(values, codes);
    if constexpr (kFifthBits<C>) codes = _mm256_or_si256(codes, fifth_bits(static_cast<uint32_t>(piece(block + kQ5_0xHigh + 4 * lane))));
    const BlockTerms xt = terms_of<C>(x[b], kAffine<C> ? nullptr : &xterms[b]);
    const int32_t total = hsum_i32(sums(codes, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qs)))) + xt.start;
    uint16_t dw;
    std::memcpy(&dw, block + lane * sizeof(uint16_t), sizeof dw);
    acc = std::fma(static_cast<float>(total), _cvtsh_ss(dw) * xt.d, acc);
    if constexpr (kAffine<C>) {
      uint16_t mw;
      std::memcpy(&mw, block + kMinOffset<C> + lane * sizeof(uint16_t), sizeof mw);
      acc = std::fma(_cvtsh_ss(mw), xt.s, acc);
    }
  }
  return acc;
}

}  // namespace
}  // namespace st::kernels
