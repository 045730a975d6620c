// SSE4.2 kernels (x86-64-v2: SSSE3, SSE4.1, SSE4.2, POPCNT), for the x86-64 CPUs without AVX2:
// Intel's Atom-class Celerons and Pentiums up to Jasper Lake (2021), Nehalem to Ivy Bridge
// cores, AMD's before Excavator. Compiled with those flags into their own library and called
// only after dispatch.cpp has checked the CPU. llama.cpp ships a build for this level too
// (its "sse42" CPU library); without this table such a CPU ran our scalar one against it.
//
// What it replaces: the packed Q4_0 products (decode's and prefill's main cost), the Q8_0,
// Q4_K, Q5_K and Q6_K dot products (the other files users download), attention's F16 dot
// products and value sums, and the Q4_0 packing at load (the AVX2 table's, SSE2 only). Every
// kernel here gives exactly the scalar one's values and every other kernel is the scalar
// table's, so this table gives the scalar table's numbers to the bit (it is held to the
// scalar table's kept bit-identity hashes).
//
// These CPUs have no FMA instruction and no F16C. The packed contract's one multiply-add per
// row and block, acc = fma(float(i), d_w·d_x, acc), is computed in double: the product of an
// integer below 2^15 and the product of two halves is exact there, and the sum rounded to
// double and then to float is the fused result unless the double sum lies exactly halfway
// between two floats (its 29 lowest bits 1000…0) and is not itself exact. Halfway sums are
// common (11 % of the multiply-adds of a 4B decode: the integer sums and the products of two
// halves have few bits), inexact ones among them rare; only when a quarter has such a lane is
// it redone with exact_ops.h's fma_exact. The F16 values are converted with integer
// operations (and one exact float subtraction for subnormal halves).
#if defined(__x86_64__) || defined(_M_X64)
#include <smmintrin.h>
#include <tmmintrin.h>

#include <cstring>

#include "count_dispatch.h"
#include "exact_ops.h"
#include "fp16.h"
#include "k4_scales_x86.h"
#include "kernels.h"
#include "pack_rows_x86.h"
#include "prefetch.h"
#include "unroll.h"

namespace st::kernels {
namespace {

inline int32_t load_i32(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Four IEEE halves (the low 64 bits of h, as 16-bit lanes) to floats, exactly as
// fp16_to_fp32: the exponent rebiased; a subnormal half's bits placed on 2^-14 and 2^-14
// subtracted (exact, and a normal float: flushing subnormals changes nothing); infinities and
// NaNs keep their mantissa bits.
inline __m128 halves_to_floats(__m128i h) {
  const __m128i bits = _mm_cvtepu16_epi32(h);
  const __m128i sign = _mm_slli_epi32(_mm_and_si128(bits, _mm_set1_epi32(0x8000)), 16);
  const __m128i magnitude = _mm_slli_epi32(_mm_and_si128(bits, _mm_set1_epi32(0x7fff)), 13);
  const __m128i exponent = _mm_and_si128(magnitude, _mm_set1_epi32(0x0f800000));
  __m128i out = _mm_add_epi32(magnitude, _mm_set1_epi32((127 - 15) << 23));
  // Infinity or NaN: the float exponent all ones.
  out = _mm_add_epi32(out, _mm_and_si128(_mm_cmpeq_epi32(exponent, _mm_set1_epi32(0x0f800000)), _mm_set1_epi32((128 - 16) << 23)));
  // Zero or subnormal: (2^-14 + m·2^-24) − 2^-14.
  const __m128i tiny = _mm_cmpeq_epi32(exponent, _mm_setzero_si128());
  const __m128 renormalised = _mm_sub_ps(_mm_castsi128_ps(_mm_add_epi32(out, _mm_set1_epi32(1 << 23))), _mm_castsi128_ps(_mm_set1_epi32(113 << 23)));
  const __m128 value = _mm_blendv_ps(_mm_castsi128_ps(out), renormalised, _mm_castsi128_ps(tiny));
  return _mm_or_ps(value, _mm_castsi128_ps(sign));
}

// Whether all 16 row scales of a packed block are normal halves (no zero, subnormal, infinity
// or NaN), which normal_halves_to_floats converts.
inline bool scales_are_normal(const uint8_t* block) {
  const __m128i exponent = _mm_set1_epi16(0x7c00);
  const __m128i a = _mm_and_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block)), exponent);
  const __m128i b = _mm_and_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 16)), exponent);
  const __m128i odd = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi16(a, _mm_setzero_si128()), _mm_cmpeq_epi16(a, exponent)),
                                   _mm_or_si128(_mm_cmpeq_epi16(b, _mm_setzero_si128()), _mm_cmpeq_epi16(b, exponent)));
  return _mm_testz_si128(odd, odd);
}

// Four normal halves to floats: the half's bits moved into place, the exponent rebiased.
inline __m128 normal_halves_to_floats(__m128i h) {
  const __m128i high = _mm_unpacklo_epi16(_mm_setzero_si128(), h);  // each half in the top 16 bits
  const __m128i sign = _mm_and_si128(high, _mm_set1_epi32(int32_t(0x80000000u)));
  const __m128i magnitude = _mm_srli_epi32(_mm_and_si128(high, _mm_set1_epi32(0x7fff0000)), 3);
  return _mm_castsi128_ps(_mm_or_si128(_mm_add_epi32(magnitude, _mm_set1_epi32((127 - 15) << 23)), sign));
}

// Rows 4k..4k+3's scales of a packed block as doubles (rows 4k, 4k+1 in lo; 4k+2, 4k+3 in hi).
struct QuarterScales {
  __m128d lo, hi;
};
inline QuarterScales quarter_scales(const uint8_t* block, int k, bool normal) {
  const __m128i h = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(block + 8 * k));
  const __m128 f = normal ? normal_halves_to_floats(h) : halves_to_floats(h);
  return {_mm_cvtps_pd(f), _mm_cvtps_pd(_mm_movehl_ps(f, f))};
}

// s = p + c in double: the lanes where rounding s to float could differ from rounding the exact
// sum, those halfway between two floats (see the top of the file) whose sum was not exact (the
// two-sum's error e ≠ 0).
inline __m128i tie_of_inexact_sum(__m128d s, __m128d p, __m128d c) {
  const __m128i below_float = _mm_set1_epi64x((int64_t(1) << 29) - 1), half = _mm_set1_epi64x(int64_t(1) << 28);
  const __m128i halfway = _mm_cmpeq_epi64(_mm_and_si128(_mm_castpd_si128(s), below_float), half);
  const __m128d s_minus_p = _mm_sub_pd(s, p);
  const __m128d e = _mm_add_pd(_mm_sub_pd(p, _mm_sub_pd(s, s_minus_p)), _mm_sub_pd(c, s_minus_p));
  return _mm_and_si128(halfway, _mm_castpd_si128(_mm_cmpneq_pd(e, _mm_setzero_pd())));
}

// One block's multiply-add for four rows, acc = fma(float(i), d, acc), where d = d_w·d_x (the
// product of two halves: exact in float and in double) and the accumulators are floats held
// in doubles (lo: rows 0, 1; hi: rows 2, 3), as fma_exact gives it.
inline void fma4(__m128i i, __m128d d_lo, __m128d d_hi, __m128d& acc_lo, __m128d& acc_hi) {
  const __m128d p_lo = _mm_mul_pd(_mm_cvtepi32_pd(i), d_lo), p_hi = _mm_mul_pd(_mm_cvtepi32_pd(_mm_shuffle_epi32(i, 0xee)), d_hi);
  const __m128d s_lo = _mm_add_pd(p_lo, acc_lo), s_hi = _mm_add_pd(p_hi, acc_hi);
  const __m128i redo = _mm_or_si128(tie_of_inexact_sum(s_lo, p_lo, acc_lo), tie_of_inexact_sum(s_hi, p_hi, acc_hi));
  if (__builtin_expect(!_mm_testz_si128(redo, redo), 0)) {
    alignas(16) double a[4], d[4], c[4];
    _mm_store_pd(a, _mm_cvtepi32_pd(i));
    _mm_store_pd(a + 2, _mm_cvtepi32_pd(_mm_shuffle_epi32(i, 0xee)));
    _mm_store_pd(d, d_lo);
    _mm_store_pd(d + 2, d_hi);
    _mm_store_pd(c, acc_lo);
    _mm_store_pd(c + 2, acc_hi);
    for (int r = 0; r < 4; r++) c[r] = fma_exact(static_cast<float>(a[r]), static_cast<float>(d[r]), static_cast<float>(c[r]));
    acc_lo = _mm_load_pd(c);
    acc_hi = _mm_load_pd(c + 2);
    return;
  }
  acc_lo = _mm_cvtps_pd(_mm_cvtpd_ps(s_lo));
  acc_hi = _mm_cvtps_pd(_mm_cvtpd_ps(s_hi));
}

inline void store4(float* out, __m128d lo, __m128d hi) { _mm_storeu_ps(out, _mm_movelh_ps(_mm_cvtpd_ps(lo), _mm_cvtpd_ps(hi))); }

// Packed Q4_0 (16 rows per group, see pack_q4_0x16) in four quarters of 4 rows per 128-bit
// vector: lane r of quarter k is row 4k + r. As in the AVX2 table, four activation bytes
// broadcast to every lane meet four nibbles of each row in PMADDUBSW, and a block's eight
// 16-bit partial sums (≤ 8·2·15·128 = 30720) add up before one PMADDWD makes them 32-bit.
// N activations: the quarter's low and high nibbles of its four columns (8 registers) are
// taken once per block for all of them. (Making the activations' broadcast bytes once per
// call rather than once per quarter bought 1-3 % of a prompt: not kept.)
template <int N>
void gemm_q4_0x16_n(const uint8_t* group, int64_t nb, const BlockQ8_0* const* xs, const Q8_0BlockTerms* const* xterms, float* out) {
  const __m128i low4 = _mm_set1_epi8(0x0f), ones = _mm_set1_epi16(1);
  for (int k = 0; k < 4; k++) {
    __m128d acc_lo[N], acc_hi[N];
    ST_UNROLL for (int t = 0; t < N; t++) acc_lo[t] = acc_hi[t] = _mm_setzero_pd();
    for (int64_t b = 0; b < nb; b++) {
      const uint8_t* block = group + b * kPackedBlockBytes;
      __m128i lo[4], hi[4];
      ST_UNROLL for (int s = 0; s < 4; s++) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + kPackRows * sizeof(uint16_t) + 64 * s + 16 * k));
        lo[s] = _mm_and_si128(v, low4);
        hi[s] = _mm_and_si128(_mm_srli_epi16(v, 4), low4);
      }
      const QuarterScales dw = quarter_scales(block, k, scales_are_normal(block));
      ST_UNROLL for (int t = 0; t < N; t++) {
        const BlockQ8_0& x = xs[t][b];
        __m128i p = _mm_setzero_si128();
        ST_UNROLL for (int s = 0; s < 4; s++) {
          p = _mm_add_epi16(p, _mm_maddubs_epi16(lo[s], _mm_set1_epi32(load_i32(x.qs + 4 * s))));
          p = _mm_add_epi16(p, _mm_maddubs_epi16(hi[s], _mm_set1_epi32(load_i32(x.qs + 16 + 4 * s))));
        }
        const Q8_0BlockTerms& terms = xterms[t][b];
        const __m128i i32 = _mm_add_epi32(_mm_madd_epi16(p, ones), _mm_set1_epi32(terms.zero));
        const __m128d xd = _mm_set1_pd(terms.d);
        fma4(i32, _mm_mul_pd(dw.lo, xd), _mm_mul_pd(dw.hi, xd), acc_lo[t], acc_hi[t]);
      }
    }
    ST_UNROLL for (int t = 0; t < N; t++) store4(out + t * kPackRows + 4 * k, acc_lo[t], acc_hi[t]);
  }
}

// One activation (decode): the block's eight 4-byte columns of the activation broadcast once
// for all four quarters (PSHUFD from two loads), then each quarter as in gemm_q4_0x16_n.
void gemm_q4_0x16_one(const uint8_t* group, int64_t nb, const BlockQ8_0* x, const Q8_0BlockTerms* xterms, float* out) {
  const __m128i low4 = _mm_set1_epi8(0x0f), ones = _mm_set1_epi16(1);
  __m128d acc_lo[4], acc_hi[4];
  ST_UNROLL for (int k = 0; k < 4; k++) acc_lo[k] = acc_hi[k] = _mm_setzero_pd();
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* block = group + b * kPackedBlockBytes;
    prefetch_ahead(block, kPackedBlocksAhead * kPackedBlockBytes, kPackedBlockBytes);
    const __m128i xl = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].qs));
    const __m128i xh = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].qs + 16));
    const __m128i xs[8] = {_mm_shuffle_epi32(xl, 0x00), _mm_shuffle_epi32(xl, 0x55), _mm_shuffle_epi32(xl, 0xaa), _mm_shuffle_epi32(xl, 0xff),
                           _mm_shuffle_epi32(xh, 0x00), _mm_shuffle_epi32(xh, 0x55), _mm_shuffle_epi32(xh, 0xaa), _mm_shuffle_epi32(xh, 0xff)};
    const __m128d xd = _mm_set1_pd(xterms[b].d);
    const __m128i zero_point = _mm_set1_epi32(xterms[b].zero);
    const bool normal = scales_are_normal(block);
    ST_UNROLL for (int k = 0; k < 4; k++) {
      __m128i p = _mm_setzero_si128();
      ST_UNROLL for (int s = 0; s < 4; s++) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + kPackRows * sizeof(uint16_t) + 64 * s + 16 * k));
        p = _mm_add_epi16(p, _mm_maddubs_epi16(_mm_and_si128(v, low4), xs[s]));
        p = _mm_add_epi16(p, _mm_maddubs_epi16(_mm_and_si128(_mm_srli_epi16(v, 4), low4), xs[4 + s]));
      }
      const QuarterScales dw = quarter_scales(block, k, normal);
      const __m128i i32 = _mm_add_epi32(_mm_madd_epi16(p, ones), zero_point);
      fma4(i32, _mm_mul_pd(dw.lo, xd), _mm_mul_pd(dw.hi, xd), acc_lo[k], acc_hi[k]);
    }
  }
  ST_UNROLL for (int k = 0; k < 4; k++) store4(out + 4 * k, acc_lo[k], acc_hi[k]);
}

void gemm_q4_0x16(const uint8_t* group, int64_t nb, const BlockQ8_0* const* xs, const Q8_0BlockTerms* const* xterms, int n_x,
                  float* out) {
  // Up to four activations at a time: their accumulators and the quarter's nibbles fit the 16
  // registers.
  for (int t0 = 0; t0 < n_x; t0 += 4) {
    if (n_x - t0 == 1) gemm_q4_0x16_one(group, nb, xs[t0], xterms[t0], out + t0 * kPackRows);
    else with_count<2, 4>(n_x - t0, [&](auto acts) { gemm_q4_0x16_n<decltype(acts)::value>(group, nb, xs + t0, xterms + t0, out + t0 * kPackRows); });
  }
}

// One row of a packed group: the quarter that holds it, computed as gemm_q4_0x16 does (so its
// lane is exactly the group's value), read for one activation.
float dot_q4_0x16_row(const uint8_t* group, int64_t nb, int lane, const BlockQ8_0* x, const Q8_0BlockTerms* xterms) {
  const __m128i low4 = _mm_set1_epi8(0x0f), ones = _mm_set1_epi16(1);
  const int k = lane / 4;
  __m128d acc_lo = _mm_setzero_pd(), acc_hi = _mm_setzero_pd();
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* block = group + b * kPackedBlockBytes;
    __m128i p = _mm_setzero_si128();
    ST_UNROLL for (int s = 0; s < 4; s++) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + kPackRows * sizeof(uint16_t) + 64 * s + 16 * k));
      p = _mm_add_epi16(p, _mm_maddubs_epi16(_mm_and_si128(v, low4), _mm_set1_epi32(load_i32(x[b].qs + 4 * s))));
      p = _mm_add_epi16(p, _mm_maddubs_epi16(_mm_and_si128(_mm_srli_epi16(v, 4), low4), _mm_set1_epi32(load_i32(x[b].qs + 16 + 4 * s))));
    }
    const QuarterScales dw = quarter_scales(block, k, false);
    const __m128d xd = _mm_set1_pd(xterms[b].d);
    const __m128i i32 = _mm_add_epi32(_mm_madd_epi16(p, ones), _mm_set1_epi32(xterms[b].zero));
    fma4(i32, _mm_mul_pd(dw.lo, xd), _mm_mul_pd(dw.hi, xd), acc_lo, acc_hi);
  }
  alignas(16) float rows[4];
  store4(rows, acc_lo, acc_hi);
  return rows[lane % 4];
}

// Attention over an F16 KV cache, as the scalar kernels compute it, value by value: each
// product rounded, then added in the scalar loop's order (a dot product's sum runs from the
// first element to the last, one chain per result). Only the conversion and the products are
// four at a time; the value sums (y += s·v) are independent per element, so they are vector
// operations whole. Eight halves at a time: normal_halves_to_floats when all eight are normal
// numbers, else the general conversion.
inline void eight_halves(const uint16_t* h, __m128& a, __m128& b) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(h));
  const __m128i exponent = _mm_and_si128(v, _mm_set1_epi16(0x7c00));
  const __m128i odd = _mm_or_si128(_mm_cmpeq_epi16(exponent, _mm_setzero_si128()), _mm_cmpeq_epi16(exponent, _mm_set1_epi16(0x7c00)));
  if (_mm_testz_si128(odd, odd)) {
    a = normal_halves_to_floats(v);
    b = normal_halves_to_floats(_mm_unpackhi_epi64(v, v));
  } else {
    a = halves_to_floats(v);
    b = halves_to_floats(_mm_unpackhi_epi64(v, v));
  }
}

// sum + p[0] + p[1] + p[2] + p[3], added one at a time in that order.
inline __m128 add_in_order(__m128 sum, __m128 p) {
  sum = _mm_add_ss(sum, p);
  sum = _mm_add_ss(sum, _mm_shuffle_ps(p, p, 0x55));
  sum = _mm_add_ss(sum, _mm_movehl_ps(p, p));
  return _mm_add_ss(sum, _mm_shuffle_ps(p, p, 0xff));
}

// m key heads' dot products with one cached row (n a multiple of 8, m ≤ 16): the row converted
// once, the m sums side by side, each one chain in element order.
void dot_f16_f32_heads_8(const uint16_t* row, const float* const* qs, int m, int64_t n, float* out) {
  __m128 sums[16];
  for (int j = 0; j < m; j++) sums[j] = _mm_setzero_ps();
  for (int64_t i = 0; i < n; i += 8) {
    __m128 a, b;
    eight_halves(row + i, a, b);
    for (int j = 0; j < m; j++) {
      sums[j] = add_in_order(sums[j], _mm_mul_ps(a, _mm_loadu_ps(qs[j] + i)));
      sums[j] = add_in_order(sums[j], _mm_mul_ps(b, _mm_loadu_ps(qs[j] + i + 4)));
    }
  }
  for (int j = 0; j < m; j++) out[j] = _mm_cvtss_f32(sums[j]);
}

float dot_f16_f32(const uint16_t* w, const float* x, int64_t n) {
  const int64_t whole = n - n % 8;
  float total;
  dot_f16_f32_heads_8(w, &x, 1, whole, &total);
  for (int64_t i = whole; i < n; i++) total += fp16_to_fp32(w[i]) * x[i];
  return total;
}

void dot_f16_f32_heads(const uint16_t* row, const float* const* qs, int m, int64_t n, float* out) {
  if (n % 8 != 0 || m > 16) {
    for (int j = 0; j < m; j++) out[j] = dot_f16_f32(row, qs[j], n);
    return;
  }
  dot_f16_f32_heads_8(row, qs, m, n, out);
}

// One value head added to m outputs with their weights (n a multiple of 8): the row converted
// once; each output element gets its one product and addition, as in the scalar loop.
void axpy_f16_heads_8(const uint16_t* row, const float* s, float* const* outs, int m, int64_t n) {
  for (int64_t i = 0; i < n; i += 8) {
    __m128 a, b;
    eight_halves(row + i, a, b);
    for (int j = 0; j < m; j++) {
      const __m128 sv = _mm_set1_ps(s[j]);
      float* y = outs[j] + i;
      _mm_storeu_ps(y, _mm_add_ps(_mm_loadu_ps(y), _mm_mul_ps(sv, a)));
      _mm_storeu_ps(y + 4, _mm_add_ps(_mm_loadu_ps(y + 4), _mm_mul_ps(sv, b)));
    }
  }
}

void axpy_f16(const uint16_t* row, float s, float* y, int64_t n) {
  const int64_t whole = n - n % 8;
  axpy_f16_heads_8(row, &s, &y, 1, whole);
  for (int64_t i = whole; i < n; i++) y[i] += s * fp16_to_fp32(row[i]);
}

void axpy_f16_heads(const uint16_t* row, const float* s, float* const* outs, int m, int64_t n) {
  if (n % 8 != 0) {
    for (int j = 0; j < m; j++) axpy_f16(row, s[j], outs[j], n);
    return;
  }
  axpy_f16_heads_8(row, s, outs, m, n);
}

// K-quant rows as in the file (this table packs none), against a Q8_K activation: the scalar
// dot_super's values. Each super-block's integer sum Σ scale·(q·x) (and Σ min·Σx) is exact
// whatever the order, here PMADDUBSW on unsigned codes and PMADDWD by the sub-block's scale;
// the float part is the scalar expression, in the same order.
inline int32_t hsum_i32(__m128i v) {
  v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0x4e));
  v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0xb1));
  return _mm_cvtsi128_si32(v);
}

// Σ over the 32 codes of a sub-block (two vectors of unsigned codes) times the activation's 32
// bytes, times the sub-block's scale, as four 32-bit sums.
inline __m128i scaled_pair(__m128i q0, __m128i q1, const int8_t* x, int scale) {
  const __m128i s16 = _mm_add_epi16(_mm_maddubs_epi16(q0, _mm_loadu_si128(reinterpret_cast<const __m128i*>(x))),
                                    _mm_maddubs_epi16(q1, _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + 16))));
  return _mm_madd_epi16(s16, _mm_set1_epi16(static_cast<int16_t>(scale)));
}

// The float part of scalar dot_super, for one super-block.
inline float super_block_sum(float sum, float xd, float d, float dmin, int32_t scaled, int32_t mins) {
  return sum + (xd * d * static_cast<float>(scaled) - xd * dmin * static_cast<float>(mins));
}

// Q4_K (Q5_K when Fifth): sub-block pair p's codes are qs[32p .. 32p+32), low nibbles the
// sub-block 2p, high ones 2p+1; Q5_K adds bit 2p (2p+1) of qh[l] as the fifth.
template <bool Fifth, typename Block>
float dot_k4(const void* wv, const void* xv, int64_t n) {
  const auto* w = static_cast<const Block*>(wv);
  const auto* x = static_cast<const BlockQ8_K*>(xv);
  const __m128i low4 = _mm_set1_epi8(0x0f), one = _mm_set1_epi8(1);
  float sum = 0;
  for (int64_t b = 0; b < n / kQK_K; b++) {
    alignas(16) uint8_t sm[16];  // scales 0..7, mins 8..15
    _mm_store_si128(reinterpret_cast<__m128i*>(sm), scales_mins_k4(w[b].scales));
    __m128i acc = _mm_setzero_si128();
    ST_UNROLL for (int p = 0; p < 4; p++) {
      const __m128i q0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].qs + 32 * p));
      const __m128i q1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].qs + 32 * p + 16));
      __m128i lo0 = _mm_and_si128(q0, low4), lo1 = _mm_and_si128(q1, low4);
      __m128i hi0 = _mm_and_si128(_mm_srli_epi16(q0, 4), low4), hi1 = _mm_and_si128(_mm_srli_epi16(q1, 4), low4);
      if constexpr (Fifth) {
        const __m128i h0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].qh));
        const __m128i h1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].qh + 16));
        const __m128i lo_bit = _mm_cvtsi32_si128(2 * p), hi_bit = _mm_cvtsi32_si128(2 * p + 1);
        lo0 = _mm_or_si128(lo0, _mm_slli_epi16(_mm_and_si128(_mm_srl_epi16(h0, lo_bit), one), 4));
        lo1 = _mm_or_si128(lo1, _mm_slli_epi16(_mm_and_si128(_mm_srl_epi16(h1, lo_bit), one), 4));
        hi0 = _mm_or_si128(hi0, _mm_slli_epi16(_mm_and_si128(_mm_srl_epi16(h0, hi_bit), one), 4));
        hi1 = _mm_or_si128(hi1, _mm_slli_epi16(_mm_and_si128(_mm_srl_epi16(h1, hi_bit), one), 4));
      }
      acc = _mm_add_epi32(acc, scaled_pair(lo0, lo1, x[b].qs + 64 * p, sm[2 * p]));
      acc = _mm_add_epi32(acc, scaled_pair(hi0, hi1, x[b].qs + 64 * p + 32, sm[2 * p + 1]));
    }
    int32_t mins = 0;
    for (int i = 0; i < 8; i++) mins += sm[8 + i] * (x[b].bsums[2 * i] + x[b].bsums[2 * i + 1]);
    sum = super_block_sum(sum, x[b].d, fp16_to_fp32(w[b].d), fp16_to_fp32(w[b].dmin), hsum_i32(acc), mins);
  }
  return sum;
}

// Q6_K: codes q − 32 with q's low four bits in ql and two high ones in qh, 16 sub-blocks of
// 16 with int8 scales. The unsigned q meet the activation in PMADDUBSW, and 32·Σx of each
// sub-block (its bsums) comes off: Σ(q − 32)·x = Σq·x − 32·Σx.
float dot_q6_K(const void* wv, const void* xv, int64_t n) {
  const auto* w = static_cast<const BlockQ6_K*>(wv);
  const auto* x = static_cast<const BlockQ8_K*>(xv);
  const __m128i low4 = _mm_set1_epi8(0x0f), high2 = _mm_set1_epi8(0x30);
  float sum = 0;
  for (int64_t b = 0; b < n / kQK_K; b++) {
    __m128i acc = _mm_setzero_si128();
    ST_UNROLL for (int h = 0; h < 2; h++) {
      const uint8_t* ql = w[b].ql + 64 * h;
      const uint8_t* qh = w[b].qh + 32 * h;
      const int8_t* xq = x[b].qs + 128 * h;
      const int8_t* sc = w[b].scales + 8 * h;
      ST_UNROLL for (int j = 0; j < 2; j++) {
        const __m128i bits = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qh + 16 * j));
        const __m128i l0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(ql + 16 * j));
        const __m128i l1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(ql + 32 + 16 * j));
        const __m128i q[4] = {
            _mm_or_si128(_mm_and_si128(l0, low4), _mm_and_si128(_mm_slli_epi16(bits, 4), high2)),                     // values l
            _mm_or_si128(_mm_and_si128(l1, low4), _mm_and_si128(_mm_slli_epi16(bits, 2), high2)),                     // l + 32
            _mm_or_si128(_mm_and_si128(_mm_srli_epi16(l0, 4), low4), _mm_and_si128(bits, high2)),                     // l + 64
            _mm_or_si128(_mm_and_si128(_mm_srli_epi16(l1, 4), low4), _mm_and_si128(_mm_srli_epi16(bits, 2), high2)),  // l + 96
        };
        ST_UNROLL for (int g = 0; g < 4; g++) {
          const __m128i xs = _mm_loadu_si128(reinterpret_cast<const __m128i*>(xq + 32 * g + 16 * j));
          acc = _mm_add_epi32(acc, _mm_madd_epi16(_mm_maddubs_epi16(q[g], xs), _mm_set1_epi16(sc[2 * g + j])));
        }
      }
    }
    int32_t offset = 0;
    for (int g = 0; g < 16; g++) offset += w[b].scales[g] * x[b].bsums[g];
    sum = super_block_sum(sum, x[b].d, fp16_to_fp32(w[b].d), 0.0f, hsum_i32(acc) - 32 * offset, 0);
  }
  return sum;
}

// Q8_0 rows as in the file (this table packs none): each block's Σ w·x exact (PSIGNB moves
// the weight's sign onto the activation, so PMADDUBSW multiplies |w| ≤ 128 by it; an
// activation byte is never −128, quantize_row_q8_0 rounds into ±127), the float part the
// scalar expression.
float dot_q8_0_q8_0(const BlockQ8_0* w, const BlockQ8_0* x, int64_t n) {
  const __m128i ones = _mm_set1_epi16(1);
  float sum = 0;
  for (int64_t b = 0; b < n / kQK8_0; b++) {
    __m128i acc = _mm_setzero_si128();
    ST_UNROLL for (int h = 0; h < 2; h++) {
      const __m128i wq = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].qs + 16 * h));
      const __m128i xq = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].qs + 16 * h));
      acc = _mm_add_epi32(acc, _mm_madd_epi16(_mm_maddubs_epi16(_mm_abs_epi8(wq), _mm_sign_epi8(xq, wq)), ones));
    }
    sum += static_cast<float>(hsum_i32(acc)) * fp16_to_fp32(w[b].d) * fp16_to_fp32(x[b].d);
  }
  return sum;
}

}  // namespace

void sse42_overrides(KernelTable& t) {
  t.isa = "sse42";
  t.dot_f16_f32 = dot_f16_f32;
  t.dot_f16_f32_heads = dot_f16_f32_heads;
  t.axpy_f16 = axpy_f16;
  t.axpy_f16_heads = axpy_f16_heads;
  t.dot_q8_0_q8_0 = dot_q8_0_q8_0;
  t.dot_q8_0_q8_0_rows4 = [](const BlockQ8_0* const* rows, const BlockQ8_0* x, int64_t n, float* out) {
    for (int r = 0; r < 4; r++) out[r] = dot_q8_0_q8_0(rows[r], x, n);
  };
  t.q4_K.dot = dot_k4<false, BlockQ4_K>;
  t.q5_K.dot = dot_k4<true, BlockQ5_K>;
  t.q6_K.dot = dot_q6_K;
  t.gemm_q4_0x16 = gemm_q4_0x16;
  t.pack_q4_0x16 = pack_q4_0x16_transposing;
  t.dot_q4_0x16_row = dot_q4_0x16_row;
}

}  // namespace st::kernels
#endif
