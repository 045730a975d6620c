// AVX-512 (F, BW, VL) + VNNI kernels for the integer dot products, which are >85 % of the
// time on quantised models (packed Q4_0 groups above all), the F16 dot product in llama.cpp's
// AVX-512 order, and attention's value sums and exponentials (the AVX2 table's numbers, on
// wider vectors). Compiled with those flags into their own library and used only after
// dispatch.cpp has checked the CPU and OS; every other entry of the table stays AVX2 (the
// plain four-token Q4_0 entry too: ops always has block sums for Q4_0 here).
//
// Q4_0·Q8_0, two blocks per 512-bit step: the nibbles q (0..15) are unsigned, so VPDPBUSD
// multiplies them with the signed Q8_0 bytes directly, and the zero point comes off as
// 8·Σx (a second VPDPBUSD against a vector of 8s): Σ(q−8)·x = Σq·x − 8·Σx. The per-block
// scales of eight blocks are converted from F16 together.
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "count_dispatch.h"
#include "fp16.h"
#include "hsum_x86.h"
#include "load_unsplit_avx512.h"
#include "packed_nibbles_avx2.h"
#include "kernels.h"
#include "kquant_scales_x86.h"
#include "prefetch.h"
#include "runtime/portable_math.h"
#include "unroll.h"

namespace st::kernels {
namespace {

// Q4_0 blocks b and b+1 as 64 unsigned bytes in Q8_0 element order:
// [b: elements 0..15, 16..31 | b+1: elements 0..15, 16..31].
inline __m512i q4_0_pair(const BlockQ4_0* w) {
  const __m128i q0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[0].qs));
  const __m128i q1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[1].qs));
  const __m256i a = _mm256_set_m128i(_mm_srli_epi16(q0, 4), q0);
  const __m256i b = _mm256_set_m128i(_mm_srli_epi16(q1, 4), q1);
  return _mm512_and_si512(_mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1), _mm512_set1_epi8(0x0f));
}

// Q8_0 blocks b and b+1's 64 signed bytes.
inline __m512i q8_0_pair(const BlockQ8_0* x) {
  const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[0].qs));
  const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[1].qs));
  return _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1);
}

// Σ over each block of (q−8)·x as 16 int32 lanes (8 per block), converted to float.
inline __m512 q4_0_times_q8_0(__m512i q, __m512i x) {
  const __m512i zero = _mm512_setzero_si512();
  const __m512i qx = _mm512_dpbusd_epi32(zero, q, x);
  const __m512i sx = _mm512_dpbusd_epi32(zero, _mm512_set1_epi8(8), x);
  return _mm512_cvtepi32_ps(_mm512_sub_epi32(qx, sx));
}

// The scales of eight blocks (F16, `stride` bytes apart) as floats.
inline __m256 scales8(const uint8_t* first, size_t stride) {
  const __m128i h = _mm_setr_epi16(
      *reinterpret_cast<const int16_t*>(first), *reinterpret_cast<const int16_t*>(first + stride),
      *reinterpret_cast<const int16_t*>(first + 2 * stride), *reinterpret_cast<const int16_t*>(first + 3 * stride),
      *reinterpret_cast<const int16_t*>(first + 4 * stride), *reinterpret_cast<const int16_t*>(first + 5 * stride),
      *reinterpret_cast<const int16_t*>(first + 6 * stride), *reinterpret_cast<const int16_t*>(first + 7 * stride));
  return _mm256_cvtph_ps(h);
}

// Pair p (0..3) of eight scales, each broadcast over its block's 8 lanes.
inline __m512 pair_scale(__m512 s8, int p) {
  const __m512i idx = _mm512_set_epi32(2 * p + 1, 2 * p + 1, 2 * p + 1, 2 * p + 1, 2 * p + 1, 2 * p + 1, 2 * p + 1, 2 * p + 1,
                                       2 * p, 2 * p, 2 * p, 2 * p, 2 * p, 2 * p, 2 * p, 2 * p);
  return _mm512_permutexvar_ps(idx, s8);
}

inline float half(uint16_t h) { return _cvtsh_ss(h); }

// [a × 8 lanes | b × 8 lanes] (AVX-512F only: no DQ insert).
inline __m512 two_scales(float a, float b) {
  return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_set1_ps(a)), _mm256_castps_pd(_mm256_set1_ps(b)), 1));
}

// One block with 256-bit VNNI (the tail of a row with an odd block count).
inline float q4_0_block(const BlockQ4_0& w, const BlockQ8_0& x) {
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w.qs));
  const __m256i qq = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0x0f));
  const __m256i xx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs));
  const __m256i zero = _mm256_setzero_si256();
  const __m256i v = _mm256_sub_epi32(_mm256_dpbusd_epi32(zero, qq, xx), _mm256_dpbusd_epi32(zero, _mm256_set1_epi8(8), xx));
  const int32_t total = hsum_i32(v);
  return half(w.d) * half(x.d) * static_cast<float>(total);
}

// Without the activation's block sums: the zero point comes off per pair of blocks. Only the
// tails of the *_sums kernels below (and callers without sums) come here.
float dot_q4_0_q8_0(const BlockQ4_0* w, const BlockQ8_0* x, int64_t n) {
  const int64_t nb = n / kQK4_0;
  __m512 acc = _mm512_setzero_ps();
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    const __m512 s = two_scales(half(w[b].d) * half(x[b].d), half(w[b + 1].d) * half(x[b + 1].d));
    acc = _mm512_fmadd_ps(q4_0_times_q8_0(q4_0_pair(w + b), q8_0_pair(x + b)), s, acc);
  }
  float sum = _mm512_reduce_add_ps(acc);
  for (; b < nb; b++) sum += q4_0_block(w[b], x[b]);
  return sum;
}

// With the activation's block sums: Σ_b d_b·(Σq·x − 8·Σx_b), where the first part takes one
// VPDPBUSD per pair and the zero point is one F32 multiply-add per eight blocks.
float dot_q4_0_q8_0_sums(const BlockQ4_0* w, const BlockQ8_0* x, const int32_t* xsum, int64_t n) {
  const int64_t nb = n / kQK4_0;
  const __m512i zero = _mm512_setzero_si512();
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  __m256 zp = _mm256_setzero_ps();
  int64_t b = 0;
  for (; b + 8 <= nb; b += 8) {
    const __m256 s = _mm256_mul_ps(scales8(reinterpret_cast<const uint8_t*>(&w[b].d), sizeof(BlockQ4_0)),
                                   scales8(reinterpret_cast<const uint8_t*>(&x[b].d), sizeof(BlockQ8_0)));
    zp = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(xsum + b))), s, zp);
    const __m512 s8 = _mm512_castps256_ps512(s);
    acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_dpbusd_epi32(zero, q4_0_pair(w + b), q8_0_pair(x + b))), pair_scale(s8, 0), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_dpbusd_epi32(zero, q4_0_pair(w + b + 2), q8_0_pair(x + b + 2))), pair_scale(s8, 1), acc1);
    acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_dpbusd_epi32(zero, q4_0_pair(w + b + 4), q8_0_pair(x + b + 4))), pair_scale(s8, 2), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_dpbusd_epi32(zero, q4_0_pair(w + b + 6), q8_0_pair(x + b + 6))), pair_scale(s8, 3), acc1);
  }
  const float sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1)) - 8.0f * hsum(zp);
  return sum + dot_q4_0_q8_0(w + b, x + b, (nb - b) * kQK4_0);
}

void dot_q4_0_q8_0_x4_sums(const BlockQ4_0* w, const BlockQ8_0* const* xs, const int32_t* const* xsums, int64_t n, float* out) {
  const int64_t nb = n / kQK4_0;
  const __m512i zero = _mm512_setzero_si512();
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  __m256 zp[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  int64_t b = 0;
  for (; b + 8 <= nb; b += 8) {
    const __m256 sw = scales8(reinterpret_cast<const uint8_t*>(&w[b].d), sizeof(BlockQ4_0));
    __m512 s8[4];
    for (int t = 0; t < 4; t++) {
      const __m256 s = _mm256_mul_ps(sw, scales8(reinterpret_cast<const uint8_t*>(&xs[t][b].d), sizeof(BlockQ8_0)));
      zp[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(xsums[t] + b))), s, zp[t]);
      s8[t] = _mm512_castps256_ps512(s);
    }
    for (int p = 0; p < 4; p++) {
      const __m512i q = q4_0_pair(w + b + 2 * p);
      for (int t = 0; t < 4; t++) {
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_dpbusd_epi32(zero, q, q8_0_pair(xs[t] + b + 2 * p))), pair_scale(s8[t], p), acc[t]);
      }
    }
  }
  for (int t = 0; t < 4; t++) {
    out[t] = _mm512_reduce_add_ps(acc[t]) - 8.0f * hsum(zp[t]);
    if (b < nb) out[t] += dot_q4_0_q8_0(w + b, xs[t] + b, (nb - b) * kQK4_0);
  }
}

// Q8_0·Q8_0: signed × signed, so the weight's sign moves onto the activation and VPDPBUSD
// takes |w| (at most 127 after quantisation, so |w| fits an unsigned byte exactly).
float dot_q8_0_q8_0(const BlockQ8_0* w, const BlockQ8_0* x, int64_t n) {
  const int64_t nb = n / kQK8_0;
  __m512 acc = _mm512_setzero_ps();
  int64_t b = 0;
  const __m512i zero = _mm512_setzero_si512();
  for (; b + 2 <= nb; b += 2) {
    const __m512i wq = q8_0_pair(w + b), xq = q8_0_pair(x + b);
    const __mmask64 negative = _mm512_movepi8_mask(wq);
    const __m512i xs = _mm512_mask_sub_epi8(xq, negative, zero, xq);
    const __m512 v = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(zero, _mm512_abs_epi8(wq), xs));
    acc = _mm512_fmadd_ps(v, two_scales(half(w[b].d) * half(x[b].d), half(w[b + 1].d) * half(x[b + 1].d)), acc);
  }
  float sum = _mm512_reduce_add_ps(acc);
  for (; b < nb; b++) {
    int32_t t = 0;
    for (int j = 0; j < kQK8_0; j++) t += int32_t(w[b].qs[j]) * x[b].qs[j];
    sum += half(w[b].d) * half(x[b].d) * static_cast<float>(t);
  }
  return sum;
}

// Packed Q4_0 (16 rows per group, see pack_q4_0x16): lane r of every vector is row r, so
// one VPDPBUSD multiplies four elements of all sixteen rows with four activation bytes
// broadcast to every lane, and a block's integer sum is complete before its one conversion
// and multiply-add per row (acc = fma(float(i_b), d_w·d_x, acc), the packed contract).
inline int32_t load_i32(const int8_t* p) {
  int32_t v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}

// IQ4_NL×16, Q5_0×16, Q4_1×16 and Q5_1×16 (kernels.h) share these code vectors. IQ4_NL's codes
// stand for kIQ4Values[q]: each nibble vector becomes kIQ4Values[q] + 128 (one VPSHUFB from the
// 16 values with their sign bits flipped), an unsigned byte. The Q5 types' gain their fifth
// bits (as 16) from the rows' qh words. The chains start from the multiple of the block term
// zero = −8·Σx that takes each form's offset back off (packed_nibbles.h); the _1 types
// (unsigned codes, Q8_1 activations) add m·s per block. The sums are those of the reference to
// the bit.
inline __m512i iq4_nl_unsigned_values() {
  return _mm512_broadcast_i32x4(iq4_values_plus_128());
}

// Q5_0×16's fifth bits of code vector s for all 16 rows (fifth_bits_avx2.h, 512 bits wide):
// bits first..first+3 of each row's qh word as 16 in that row's four bytes.
inline __m512i fifth_bits_of_lanes(__m512i qh, int first) {
  const __m512i byte0 = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 0, 0, 0, 4, 4, 4, 4, 8, 8, 8, 8, 12, 12, 12, 12));
  const __mmask64 set = _mm512_test_epi8_mask(_mm512_shuffle_epi8(_mm512_srli_epi32(qh, first), byte0), _mm512_set1_epi32(0x08040201));
  return _mm512_maskz_mov_epi8(set, _mm512_set1_epi8(16));
}

// terms_of, the activation's per-block terms: packed_nibbles_avx2.h.

template <int N, Nibbles C>
void gemm_q4_0x16_n(const uint8_t* group, int64_t nb, const NibbleActivation<C>* const* xs, const Q8_0BlockTerms* const* xterms,
                    float* out) {
  constexpr size_t kBytes = kNibbleBlockBytes<C>;
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  const __m512i values = C == Nibbles::IQ4_NL ? iq4_nl_unsigned_values() : _mm512_setzero_si512();
  __m512 acc[N];
  for (int t = 0; t < N; t++) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* block = group + b * kBytes;
    if (N == 1) prefetch_ahead(block, kPackedBlocksAhead * kBytes, kBytes);  // as the AVX2 kernel (prefetch.h)
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(block)));
    // w[s]: elements 4s..4s+3 of every row; w[4+s]: elements 16+4s.., for one Q4_0 or Q4_1
    // activation as 16·q where they stand (see below), else shifted down (and looked up for
    // IQ4_NL, the fifth bits added for Q5_0 and Q5_1).
    constexpr bool kHighInPlace = N == 1 && (C == Nibbles::Q4_0 || C == Nibbles::Q4_1);
    __m512i w[8];
    for (int s = 0; s < 4; s++) {
      const __m512i v = load_unsplit(block + kPackRows * sizeof(uint16_t) + 64 * s);
      w[s] = _mm512_and_si512(v, low4);
      w[4 + s] = kHighInPlace ? _mm512_andnot_si512(low4, v) : _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
      if constexpr (C == Nibbles::IQ4_NL) {
        w[s] = _mm512_shuffle_epi8(values, w[s]);
        w[4 + s] = _mm512_shuffle_epi8(values, w[4 + s]);
      } else if constexpr (kFifthBits<C>) {
        const __m512i qh = _mm512_loadu_si512(block + kQ5_0xHigh);
        w[s] = _mm512_or_si512(w[s], fifth_bits_of_lanes(qh, 4 * s));
        w[4 + s] = _mm512_or_si512(w[4 + s], fifth_bits_of_lanes(qh, 16 + 4 * s));
      }
    }
    ST_UNROLL for (int t = 0; t < N; t++) {
      const NibbleActivation<C>& x = xs[t][b];
      const BlockTerms xt = terms_of<C>(x, kAffine<C> ? nullptr : &xterms[t][b]);
      __m512i i0 = _mm512_set1_epi32(xt.start);
      if constexpr (N == 1) {
        // Two independent chains, for the one activation's sake (several activations are
        // independent chains already); integer addition is exact, so the split changes nothing.
        // Q4_0's and Q4_1's high nibbles stay where they stand (16·q, no shift per vector):
        // their chain sums 16·Σq·x (at most 16 products of 240·127 per lane) and is shifted
        // back once, exact because it is a multiple of 16.
        __m512i hi = _mm512_setzero_si512();
        ST_UNROLL for (int s = 0; s < 4; s++) {
          i0 = _mm512_dpbusd_epi32(i0, w[s], _mm512_set1_epi32(load_i32(x.qs + 4 * s)));
          hi = _mm512_dpbusd_epi32(hi, w[4 + s], _mm512_set1_epi32(load_i32(x.qs + 16 + 4 * s)));
        }
        i0 = _mm512_add_epi32(i0, kHighInPlace ? _mm512_srai_epi32(hi, 4) : hi);
      } else {
        ST_UNROLL for (int s = 0; s < 8; s++) i0 = _mm512_dpbusd_epi32(i0, w[s], _mm512_set1_epi32(load_i32(x.qs + 4 * s)));
      }
      const __m512 d = _mm512_mul_ps(dw, _mm512_set1_ps(xt.d));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i0), d, acc[t]);
      if constexpr (kAffine<C>) {
        const __m512 mw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + kMinOffset<C>)));
        acc[t] = _mm512_fmadd_ps(mw, _mm512_set1_ps(xt.s), acc[t]);
      }
    }
  }
  for (int t = 0; t < N; t++) _mm512_storeu_ps(out + t * kPackRows, acc[t]);
}

template <Nibbles C>
void gemm_x16_of(const uint8_t* group, int64_t nb, const NibbleActivation<C>* const* xs, const Q8_0BlockTerms* const* xterms, int n_x,
                 float* out) {
  with_count<1, 8>(n_x, [&](auto acts) { gemm_q4_0x16_n<decltype(acts)::value, C>(group, nb, xs, xterms, out); });
}

// One row of a packed group (packed_row_dot): one VPDPBUSD per block.
template <Nibbles C>
float dot_x16_row_of(const uint8_t* group, int64_t nb, int lane, const NibbleActivation<C>* x, const Q8_0BlockTerms* xterms) {
  const __m256i values = C == Nibbles::IQ4_NL ? _mm512_castsi512_si256(iq4_nl_unsigned_values()) : _mm256_setzero_si256();
  return packed_row_dot<C>(group, nb, lane, x, xterms, values,
                           [](__m256i codes, __m256i xq) { return _mm256_dpbusd_epi32(_mm256_setzero_si256(), codes, xq); });
}
template <Nibbles C>
struct NibbleKernels {
  static constexpr auto gemm = gemm_x16_of<C>;
  static constexpr auto row = dot_x16_row_of<C>;
};

// Packed Q8_0 (16 rows per group, see pack_q8_0x16): as the packed Q4_0 product, with eight
// code vectors per block, each already one byte per element (q + 128); the activation's
// block term 16·zero = −128·Σx takes the offset back off, exactly.
template <int N>
void gemm_q8_0x16_n(const uint8_t* group, int64_t nb, const BlockQ8_0* const* xs, const Q8_0BlockTerms* const* xterms, float* out) {
  __m512 acc[N];
  for (int t = 0; t < N; t++) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* block = group + b * kPackedQ8_0BlockBytes;
    if (N == 1) prefetch_ahead(block, kPackedQ8_0BlocksAhead * kPackedQ8_0BlockBytes, kPackedQ8_0BlockBytes);
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(block)));
    __m512i w[8];
    for (int s = 0; s < 8; s++) w[s] = load_unsplit(block + kPackRows * sizeof(uint16_t) + 64 * s);
    ST_UNROLL for (int t = 0; t < N; t++) {
      const BlockQ8_0& x = xs[t][b];
      __m512i i0 = _mm512_set1_epi32(16 * xterms[t][b].zero);
      if constexpr (N == 1) {
        // Two independent chains for the one activation (integer addition is exact).
        __m512i i1 = _mm512_setzero_si512();
        ST_UNROLL for (int s = 0; s < 8; s += 2) {
          i0 = _mm512_dpbusd_epi32(i0, w[s], _mm512_set1_epi32(load_i32(x.qs + 4 * s)));
          i1 = _mm512_dpbusd_epi32(i1, w[s + 1], _mm512_set1_epi32(load_i32(x.qs + 4 * s + 4)));
        }
        i0 = _mm512_add_epi32(i0, i1);
      } else {
        ST_UNROLL for (int s = 0; s < 8; s++) i0 = _mm512_dpbusd_epi32(i0, w[s], _mm512_set1_epi32(load_i32(x.qs + 4 * s)));
      }
      const __m512 d = _mm512_mul_ps(dw, _mm512_set1_ps(xterms[t][b].d));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i0), d, acc[t]);
    }
  }
  for (int t = 0; t < N; t++) _mm512_storeu_ps(out + t * kPackRows, acc[t]);
}

void gemm_q8_0x16(const uint8_t* group, int64_t nb, const BlockQ8_0* const* xs, const Q8_0BlockTerms* const* xterms, int n_x,
                  float* out) {
  with_count<1, 8>(n_x, [&](auto acts) { gemm_q8_0x16_n<decltype(acts)::value>(group, nb, xs, xterms, out); });
}

// One row of a packed Q8_0 group: its eight 4-byte pieces per block gathered back into the
// block's 32 bytes (still q + 128), then one 256-bit VPDPBUSD and the block term.
float dot_q8_0x16_row(const uint8_t* group, int64_t nb, int lane, const BlockQ8_0* x, const Q8_0BlockTerms* xterms) {
  float acc = 0;
  const int8_t* q = reinterpret_cast<const int8_t*>(group + kPackRows * sizeof(uint16_t) + 4 * lane);
  const __m256i zero = _mm256_setzero_si256();
  for (int64_t b = 0; b < nb; b++, q += kPackedQ8_0BlockBytes) {
    const __m256i qs = _mm256_setr_epi32(load_i32(q), load_i32(q + 64), load_i32(q + 128), load_i32(q + 192), load_i32(q + 256),
                                         load_i32(q + 320), load_i32(q + 384), load_i32(q + 448));
    const __m256i v = _mm256_dpbusd_epi32(zero, qs, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qs)));
    const int32_t total = hsum_i32(v) + 16 * xterms[b].zero;
    uint16_t dw;
    __builtin_memcpy(&dw, group + b * kPackedQ8_0BlockBytes + lane * sizeof(uint16_t), sizeof dw);
    acc = std::fma(static_cast<float>(total), half(dw) * xterms[b].d, acc);
  }
  return acc;
}

// F16·F16 in the order llama.cpp's AVX-512 build sums F16 dot products (ggml's vec_dot_f16):
// four 16-lane accumulators over 64-element steps, combined as (a0+a2)+(a1+a3), then one
// 16-lane reduction. On random-weight files the engines' F16 activations then round alike;
// with a single accumulator instead, teacher-forced top-1 agreement with llama.cpp on the 4b
// F16 file was 94.4 %, with this order 98.3 % (test/llama-parity.test.ts).
float dot_f16_f16(const uint16_t* w, const uint16_t* x, int64_t n) {
  __m512 a[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    for (int j = 0; j < 4; j++) {
      const __m512 wf = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + i + 16 * j)));
      const __m512 xf = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i + 16 * j)));
      a[j] = _mm512_fmadd_ps(wf, xf, a[j]);
    }
  }
  float sum = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a[0], a[2]), _mm512_add_ps(a[1], a[3])));
  for (; i < n; i++) sum += half(w[i]) * half(x[i]);
  return sum;
}

// Attention's key dots, two positions' rows in one 512-bit vector (the first row's eight values
// in the low half, the second's in the high) against a query's eight values in both halves:
// each half gets the FMAs the AVX2 kernel gives its row, in its order, and the same reduction,
// so every dot is the AVX2 table's to the bit, at half the FMA instructions. P pairs of rows
// (an odd count's last row is paired with itself) and MJ query heads: 2·6 accumulators and the
// two rows' vectors fit the 32 registers.
template <int P, int MJ>
void dot_f16_f32_rows_heads_n(const uint16_t* const* rows, int n_rows, const float* const* qs, int64_t n, float* const* outs) {
  const uint16_t* lo[P];
  const uint16_t* hi[P];
  ST_UNROLL for (int p = 0; p < P; p++) {
    lo[p] = rows[2 * p];
    hi[p] = 2 * p + 1 < n_rows ? rows[2 * p + 1] : rows[2 * p];
  }
  __m512 acc[P][MJ];
  ST_UNROLL for (int p = 0; p < P; p++) {
    ST_UNROLL for (int j = 0; j < MJ; j++) acc[p][j] = _mm512_setzero_ps();
  }
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m512 w[P];
    ST_UNROLL for (int p = 0; p < P; p++) {
      const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(lo[p] + i));
      const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(hi[p] + i));
      w[p] = _mm512_cvtph_ps(_mm256_inserti128_si256(_mm256_castsi128_si256(a), b, 1));
    }
    ST_UNROLL for (int j = 0; j < MJ; j++) {
      const __m512 q = _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_castps_pd(_mm256_loadu_ps(qs[j] + i))));
      ST_UNROLL for (int p = 0; p < P; p++) acc[p][j] = _mm512_fmadd_ps(w[p], q, acc[p][j]);
    }
  }
  ST_UNROLL for (int p = 0; p < P; p++) {
    ST_UNROLL for (int j = 0; j < MJ; j++) {
      outs[2 * p][j] = hsum(_mm512_castps512_ps256(acc[p][j]));
      if (2 * p + 1 < n_rows) outs[2 * p + 1][j] = hsum(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[p][j]), 1)));
    }
  }
  for (int64_t k = i; k < n; k++) {  // the AVX2 kernel's tail, value by value
    for (int r = 0; r < n_rows; r++) {
      for (int j = 0; j < MJ; j++) outs[r][j] += half(rows[r][k]) * qs[j][k];
    }
  }
}

template <int P>
void dot_f16_f32_rows_heads_p(const uint16_t* const* rows, int n_rows, const float* const* qs, int m, int64_t n, float* const* outs) {
  with_count<1, 6>(m, [&](auto heads) { dot_f16_f32_rows_heads_n<P, decltype(heads)::value>(rows, n_rows, qs, n, outs); });
}

void dot_f16_f32_rows_heads(const uint16_t* const* rows, int n_rows, const float* const* qs, int m, int64_t n, float* const* outs) {
  static_assert(kMaxDotRows == 4, "one or two pairs of rows");
  if (m > 6) {  // more heads than the registers hold: the AVX2 kernel, whose bits these are
    avx2_table()->dot_f16_f32_rows_heads(rows, n_rows, qs, m, n, outs);
    return;
  }
  if (n_rows <= 2) dot_f16_f32_rows_heads_p<1>(rows, n_rows, qs, m, n, outs);
  else dot_f16_f32_rows_heads_p<2>(rows, n_rows, qs, m, n, outs);
}

// Attention's value sums, sixteen values per step where the AVX2 table takes eight: each
// output value gets the same multiply-adds in the same order (one per position), so the
// results are the AVX2 table's to the bit; what changes is the instruction count per value
// (one weight broadcast and one accumulator load and store per sixteen values, not eight).
template <int R>
void axpy_f16_rows_heads_n(const uint16_t* const* rows, const float* const* s, float* const* outs, int m, int64_t n) {
  constexpr int kHeads = 16;
  for (int j0 = 0; j0 < m; j0 += kHeads) {
    const int mm = std::min(kHeads, m - j0);
    float w[kHeads][R];  // a local copy: read through s[r], a weight would be reloaded per step
    for (int j = 0; j < mm; j++) {
      ST_UNROLL for (int r = 0; r < R; r++) w[j][r] = s[r][j0 + j];
    }
    float* const* o = outs + j0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
      __m512 f[R];
      ST_UNROLL for (int r = 0; r < R; r++) f[r] = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(rows[r] + i)));
      for (int j = 0; j < mm; j++) {
        __m512 acc = _mm512_loadu_ps(o[j] + i);
        ST_UNROLL for (int r = 0; r < R; r++) acc = _mm512_fmadd_ps(_mm512_set1_ps(w[j][r]), f[r], acc);
        _mm512_storeu_ps(o[j] + i, acc);
      }
    }
    if (i < n) {
      // The last values (fewer than sixteen) to the AVX2 kernel, whose steps these are.
      const uint16_t* rest_rows[R];
      const float* rest_weights[R];
      float* rest_outs[kHeads];
      for (int r = 0; r < R; r++) {
        rest_rows[r] = rows[r] + i;
        rest_weights[r] = s[r] + j0;
      }
      for (int j = 0; j < mm; j++) rest_outs[j] = o[j] + i;
      avx2_table()->axpy_f16_rows_heads(rest_rows, R, rest_weights, rest_outs, mm, n - i);
    }
  }
}

void axpy_f16_rows_heads(const uint16_t* const* rows, int n_rows, const float* const* s, float* const* outs, int m, int64_t n) {
  with_count<1, kMaxAxpyRows>(n_rows, [&](auto r) { axpy_f16_rows_heads_n<decltype(r)::value>(rows, s, outs, m, n); });
}

// portable_math::exp, eight lanes per step in double precision (the AVX2 table's exp4 takes
// four): the same operations lane for lane, so the scalar function's bits, edges included.
inline __m256 exp8(__m256 x) {
  namespace pm = portable_math;
  const __m512d xd = _mm512_cvtps_pd(x);
  const __m512d n = _mm512_roundscale_pd(_mm512_add_pd(_mm512_mul_pd(xd, _mm512_set1_pd(pm::kExpInvLn2Over64)), _mm512_set1_pd(0.5)),
                                         _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  const __m512d r = _mm512_sub_pd(_mm512_sub_pd(xd, _mm512_mul_pd(n, _mm512_set1_pd(pm::kExpLn2Over64Hi))),
                                  _mm512_mul_pd(n, _mm512_set1_pd(pm::kExpLn2Over64Lo)));
  // n is an integer; where the lane's result is used (-104 <= x <= 88.8), |n| < 10,000.
  const __m256i ni = _mm512_cvtpd_epi32(n);
  // The table's 64 entries are eight registers: two-source permutes pick by bits 0-3 of each
  // index, bits 4 and 5 choose among the four pairs. No gather (see the AVX2 table's exp4):
  // 11 % less time per exponential than with one on Zen 5, the same bits.
  const __m512i j = _mm512_cvtepi32_epi64(ni);
  const double* t = pm::detail::kExp2Table;
  const __m512d t0_15 = _mm512_permutex2var_pd(_mm512_loadu_pd(t), j, _mm512_loadu_pd(t + 8));
  const __m512d t16_31 = _mm512_permutex2var_pd(_mm512_loadu_pd(t + 16), j, _mm512_loadu_pd(t + 24));
  const __m512d t32_47 = _mm512_permutex2var_pd(_mm512_loadu_pd(t + 32), j, _mm512_loadu_pd(t + 40));
  const __m512d t48_63 = _mm512_permutex2var_pd(_mm512_loadu_pd(t + 48), j, _mm512_loadu_pd(t + 56));
  const __mmask8 bit4 = _mm512_test_epi64_mask(j, _mm512_set1_epi64(16)), bit5 = _mm512_test_epi64_mask(j, _mm512_set1_epi64(32));
  const __m512d table = _mm512_mask_blend_pd(bit5, _mm512_mask_blend_pd(bit4, t0_15, t16_31), _mm512_mask_blend_pd(bit4, t32_47, t48_63));
  __m512d p = _mm512_add_pd(_mm512_set1_pd(1.0 / 24), _mm512_mul_pd(r, _mm512_set1_pd(1.0 / 120)));
  p = _mm512_add_pd(_mm512_set1_pd(1.0 / 6), _mm512_mul_pd(r, p));
  p = _mm512_add_pd(_mm512_set1_pd(1.0 / 2), _mm512_mul_pd(r, p));
  p = _mm512_add_pd(_mm512_set1_pd(1.0), _mm512_mul_pd(r, p));
  p = _mm512_add_pd(_mm512_set1_pd(1.0), _mm512_mul_pd(r, p));
  // 2^k with k = (n − j)/64 = n >> 6, from its bits.
  const __m512i k = _mm512_cvtepi32_epi64(_mm256_srai_epi32(ni, 6));
  const __m512d scale = _mm512_castsi512_pd(_mm512_slli_epi64(_mm512_add_epi64(k, _mm512_set1_epi64(1023)), 52));
  __m256 y = _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_mul_pd(table, p), scale));
  // The scalar version's special cases: 0 below −104, +inf above 88.8, NaN stays.
  y = _mm256_andnot_ps(_mm256_cmp_ps(x, _mm256_set1_ps(pm::kExpFloatMin), _CMP_LT_OQ), y);
  y = _mm256_blendv_ps(y, _mm256_set1_ps(HUGE_VALF), _mm256_cmp_ps(x, _mm256_set1_ps(pm::kExpFloatMax), _CMP_GT_OQ));
  return _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

// The softmax's exponentials, x[i] − shifts[i % lanes]: eight at a time for one shift or for
// rows whose lanes are a multiple of eight (attention's scores); the rest one by one.
void exp_shifted(float* x, const float* shifts, int lanes, int64_t n) {
  int64_t i = 0;
  if (lanes == 1) {
    const __m256 s = _mm256_set1_ps(shifts[0]);
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), s)));
  } else if (lanes % 8 == 0) {
    for (; i + lanes <= n; i += lanes) {
      for (int j = 0; j < lanes; j += 8) _mm256_storeu_ps(x + i + j, exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i + j), _mm256_loadu_ps(shifts + j))));
    }
  }
  for (; i < n; i++) x[i] = portable_math::exp(x[i] - shifts[i % lanes]);
}

}  // namespace

void avx512_overrides(KernelTable& t) {
  t.dot_f16_f16 = dot_f16_f16;
  set_nibble_kernels<NibbleKernels, Nibbles::Q4_0, Nibbles::IQ4_NL, Nibbles::Q5_0, Nibbles::Q4_1, Nibbles::Q5_1>(t);
  t.isa = "avx512";
  t.dot_q4_0_q8_0 = dot_q4_0_q8_0;
  t.dot_q8_0_q8_0 = dot_q8_0_q8_0;
  t.dot_q4_0_q8_0_sums = dot_q4_0_q8_0_sums;
  t.dot_q4_0_q8_0_x4_sums = dot_q4_0_q8_0_x4_sums;
  t.axpy_f16_rows_heads = axpy_f16_rows_heads;
  t.dot_f16_f32_rows_heads = dot_f16_f32_rows_heads;
  t.exp_shifted = exp_shifted;
  t.gemm_q8_0x16 = gemm_q8_0x16;
  t.dot_q8_0x16_row = dot_q8_0x16_row;
}

}  // namespace st::kernels
#endif
