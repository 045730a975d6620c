// SSE4.2 kernels (x86-64-v2: SSSE3, SSE4.1, SSE4.2, POPCNT), for the x86-64 CPUs without AVX2:
// Intel's Atom-class Celerons and Pentiums up to Jasper Lake (2021), Nehalem to Ivy Bridge
// cores, AMD's before Excavator. Compiled with those flags into their own library and called
// only after dispatch.cpp has checked the CPU. llama.cpp ships a build for this level too
// (its "sse42" CPU library); without this table such a CPU ran our scalar one against it.
//
// What it replaces: the packed Q4_0 products (decode's and prefill's main cost), the dot
// products of every other weight type (Q8_0, Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K … Q6_K, IQ4_XS: the
// other files users download; one row against four of a prompt's activations too, and four
// Q8_0 rows against one), attention's F16 dot products and
// value sums, and the Q4_0 packing at load (the AVX2 table's, SSE2 only). Every kernel here
// gives exactly the scalar one's values and every other kernel is the scalar table's, so this
// table gives the scalar table's numbers to the bit (it is held to the scalar table's kept
// bit-identity hashes).
//
// kernels_avx.cpp compiles this file a second time with -mavx (Sandy and Ivy Bridge, AMD's
// Bulldozer family): the same kernels, with the packed contract's doubles four to a 256-bit
// register and the activation bytes broadcast straight from memory (VBROADCASTSS); the
// `#if defined(__AVX__)` parts below.
//
// These CPUs have no FMA instruction (nor, before Ivy Bridge, F16C: neither build uses it).
// The packed contract's one multiply-add per row and block, acc = fma(float(i), d_w·d_x, acc),
// is computed in double: the product of an integer below 2^15 and the product of two halves
// is exact there, and the sum rounded to double and then to float is the fused result unless
// the double sum lies exactly halfway between two floats (its 29 lowest bits 1000…0) and is
// not itself exact. Halfway sums are common (11 % of the multiply-adds of a 4B decode: the
// integer sums and the products of two halves have few bits), inexact ones among them rare;
// only when a quarter has such a lane is it redone with exact_ops.h's fma_exact. The F16
// values are converted with integer operations (and one exact float subtraction for subnormal
// halves).
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include <cstring>
#include <type_traits>

#include "count_dispatch.h"
#include "exact_ops.h"
#include "fp16.h"
#include "kquant_scales_x86.h"
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

// Four bytes of an activation in every 32-bit lane: under AVX one load (VBROADCASTSS), else a
// load and a shuffle.
inline __m128i broadcast_i32(const int8_t* p) {
#if defined(__AVX__)
  return _mm_castps_si128(_mm_broadcast_ss(reinterpret_cast<const float*>(p)));
#else
  return _mm_set1_epi32(load_i32(p));
#endif
}

// A half's value from a table of all 65,536 (256 KiB, filled on first use from fp16_to_fp32, so
// the same bits): the row kernels' scales in one load each, where the branchy conversion cost
// as much as a Q8_0 block's integer products (Q8_0 decode 10.1-10.8 → 14.2-15.1 tokens/s on
// one thread). A plain array in a type of this file: no library code (std::vector's) compiled
// for this instruction set that another file could be linked against.
struct HalfTable {
  float value[65536];
  HalfTable() {
    for (uint32_t h = 0; h < 65536; h++) value[h] = fp16_to_fp32(static_cast<uint16_t>(h));
  }
};
inline const float* half_table() {
  static const HalfTable table;
  return table.value;
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

// Four rows' values as doubles: the packed contract's accumulators (floats held in doubles, as
// fma_exact gives them) and the products of their scales. Under AVX one 256-bit register, else
// two 128-bit ones (rows 0, 1 in lo; 2, 3 in hi).
#if defined(__AVX__)
struct Doubles4 {
  __m256d v;
};
inline Doubles4 zero4() { return {_mm256_setzero_pd()}; }
inline Doubles4 floats_to_doubles4(__m128 f) { return {_mm256_cvtps_pd(f)}; }
inline Doubles4 times(Doubles4 a, double x) { return {_mm256_mul_pd(a.v, _mm256_set1_pd(x))}; }
inline void store4(float* out, Doubles4 a) { _mm_storeu_ps(out, _mm256_cvtpd_ps(a.v)); }
inline void to_array(double* out, Doubles4 a) { _mm256_storeu_pd(out, a.v); }
inline Doubles4 from_array(const double* in) { return {_mm256_loadu_pd(in)}; }
#else
struct Doubles4 {
  __m128d lo, hi;
};
inline Doubles4 zero4() { return {_mm_setzero_pd(), _mm_setzero_pd()}; }
inline Doubles4 floats_to_doubles4(__m128 f) { return {_mm_cvtps_pd(f), _mm_cvtps_pd(_mm_movehl_ps(f, f))}; }
inline Doubles4 times(Doubles4 a, double x) { return {_mm_mul_pd(a.lo, _mm_set1_pd(x)), _mm_mul_pd(a.hi, _mm_set1_pd(x))}; }
inline void store4(float* out, Doubles4 a) { _mm_storeu_ps(out, _mm_movelh_ps(_mm_cvtpd_ps(a.lo), _mm_cvtpd_ps(a.hi))); }
inline void to_array(double* out, Doubles4 a) {
  _mm_storeu_pd(out, a.lo);
  _mm_storeu_pd(out + 2, a.hi);
}
inline Doubles4 from_array(const double* in) { return {_mm_loadu_pd(in), _mm_loadu_pd(in + 2)}; }
#endif

// Rows 4k..4k+3's scales of a packed block as doubles.
inline Doubles4 quarter_scales(const uint8_t* block, int k, bool normal) {
  const __m128i h = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(block + 8 * k));
  return floats_to_doubles4(normal ? normal_halves_to_floats(h) : halves_to_floats(h));
}

// s = p + c in double: whether any lane is one where rounding s to float could differ from
// rounding the exact sum, one halfway between two floats (see the top of the file) whose sum
// was not exact (the two-sum's error e ≠ 0).
#if defined(__AVX__)
inline bool any_tie_of_inexact_sum(Doubles4 s, Doubles4 p, Doubles4 c) {
  // AVX has no 256-bit integer compare: the 29 low bits are compared as the mantissa of a
  // normal double (1 + m·2^-52), exactly, whatever the denormals mode.
  const __m256d below_float = _mm256_castsi256_pd(_mm256_set1_epi64x((int64_t(1) << 29) - 1));
  const __m256d one = _mm256_set1_pd(1.0);
  const __m256d low_bits = _mm256_or_pd(_mm256_and_pd(s.v, below_float), one);
  const __m256d halfway = _mm256_cmp_pd(low_bits, _mm256_or_pd(_mm256_castsi256_pd(_mm256_set1_epi64x(int64_t(1) << 28)), one), _CMP_EQ_OQ);
  const __m256d s_minus_p = _mm256_sub_pd(s.v, p.v);
  const __m256d e = _mm256_add_pd(_mm256_sub_pd(p.v, _mm256_sub_pd(s.v, s_minus_p)), _mm256_sub_pd(c.v, s_minus_p));
  return _mm256_movemask_pd(_mm256_and_pd(halfway, _mm256_cmp_pd(e, _mm256_setzero_pd(), _CMP_NEQ_UQ))) != 0;
}
#else
inline __m128i tie_of_inexact_sum(__m128d s, __m128d p, __m128d c) {
  const __m128i below_float = _mm_set1_epi64x((int64_t(1) << 29) - 1), half = _mm_set1_epi64x(int64_t(1) << 28);
  const __m128i halfway = _mm_cmpeq_epi64(_mm_and_si128(_mm_castpd_si128(s), below_float), half);
  const __m128d s_minus_p = _mm_sub_pd(s, p);
  const __m128d e = _mm_add_pd(_mm_sub_pd(p, _mm_sub_pd(s, s_minus_p)), _mm_sub_pd(c, s_minus_p));
  return _mm_and_si128(halfway, _mm_castpd_si128(_mm_cmpneq_pd(e, _mm_setzero_pd())));
}
inline bool any_tie_of_inexact_sum(Doubles4 s, Doubles4 p, Doubles4 c) {
  const __m128i redo = _mm_or_si128(tie_of_inexact_sum(s.lo, p.lo, c.lo), tie_of_inexact_sum(s.hi, p.hi, c.hi));
  return !_mm_testz_si128(redo, redo);
}
#endif

// The integers i (four 32-bit lanes) times d, and the sum with acc, in double.
#if defined(__AVX__)
inline Doubles4 products(__m128i i, Doubles4 d) { return {_mm256_mul_pd(_mm256_cvtepi32_pd(i), d.v)}; }
inline Doubles4 sum(Doubles4 a, Doubles4 b) { return {_mm256_add_pd(a.v, b.v)}; }
inline Doubles4 rounded_to_float(Doubles4 a) { return {_mm256_cvtps_pd(_mm256_cvtpd_ps(a.v))}; }
#else
inline Doubles4 products(__m128i i, Doubles4 d) {
  return {_mm_mul_pd(_mm_cvtepi32_pd(i), d.lo), _mm_mul_pd(_mm_cvtepi32_pd(_mm_shuffle_epi32(i, 0xee)), d.hi)};
}
inline Doubles4 sum(Doubles4 a, Doubles4 b) { return {_mm_add_pd(a.lo, b.lo), _mm_add_pd(a.hi, b.hi)}; }
inline Doubles4 rounded_to_float(Doubles4 a) { return {_mm_cvtps_pd(_mm_cvtpd_ps(a.lo)), _mm_cvtps_pd(_mm_cvtpd_ps(a.hi))}; }
#endif

// One block's multiply-add for four rows, acc = fma(float(i), d, acc), where d = d_w·d_x (the
// product of two halves: exact in float and in double), as fma_exact gives it.
inline void fma4(__m128i i, Doubles4 d, Doubles4& acc) {
  const Doubles4 p = products(i, d);
  const Doubles4 s = sum(p, acc);
  if (__builtin_expect(any_tie_of_inexact_sum(s, p, acc), 0)) {
    alignas(16) int32_t a[4];
    double dd[4], c[4];
    _mm_store_si128(reinterpret_cast<__m128i*>(a), i);
    to_array(dd, d);
    to_array(c, acc);
    for (int r = 0; r < 4; r++) c[r] = fma_exact(static_cast<float>(a[r]), static_cast<float>(dd[r]), static_cast<float>(c[r]));
    acc = from_array(c);
    return;
  }
  acc = rounded_to_float(s);
}

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
    Doubles4 acc[N];
    ST_UNROLL for (int t = 0; t < N; t++) acc[t] = zero4();
    for (int64_t b = 0; b < nb; b++) {
      const uint8_t* block = group + b * kPackedBlockBytes;
      __m128i lo[4], hi[4];
      ST_UNROLL for (int s = 0; s < 4; s++) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + kPackRows * sizeof(uint16_t) + 64 * s + 16 * k));
        lo[s] = _mm_and_si128(v, low4);
        hi[s] = _mm_and_si128(_mm_srli_epi16(v, 4), low4);
      }
      const Doubles4 dw = quarter_scales(block, k, scales_are_normal(block));
      ST_UNROLL for (int t = 0; t < N; t++) {
        const BlockQ8_0& x = xs[t][b];
        __m128i p = _mm_setzero_si128();
        ST_UNROLL for (int s = 0; s < 4; s++) {
          p = _mm_add_epi16(p, _mm_maddubs_epi16(lo[s], broadcast_i32(x.qs + 4 * s)));
          p = _mm_add_epi16(p, _mm_maddubs_epi16(hi[s], broadcast_i32(x.qs + 16 + 4 * s)));
        }
        const Q8_0BlockTerms& terms = xterms[t][b];
        const __m128i i32 = _mm_add_epi32(_mm_madd_epi16(p, ones), _mm_set1_epi32(terms.zero));
        const double xd = terms.d;
        fma4(i32, times(dw, xd), acc[t]);
      }
    }
    ST_UNROLL for (int t = 0; t < N; t++) store4(out + t * kPackRows + 4 * k, acc[t]);
  }
}

// One activation (decode): the block's eight 4-byte columns of the activation broadcast once
// for all four quarters (PSHUFD from two loads), then each quarter as in gemm_q4_0x16_n.
void gemm_q4_0x16_one(const uint8_t* group, int64_t nb, const BlockQ8_0* x, const Q8_0BlockTerms* xterms, float* out) {
  const __m128i low4 = _mm_set1_epi8(0x0f), ones = _mm_set1_epi16(1);
  Doubles4 acc[4];
  ST_UNROLL for (int k = 0; k < 4; k++) acc[k] = zero4();
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* block = group + b * kPackedBlockBytes;
    prefetch_ahead(block, kPackedBlocksAhead * kPackedBlockBytes, kPackedBlockBytes);
    const __m128i xl = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].qs));
    const __m128i xh = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].qs + 16));
    const __m128i xs[8] = {_mm_shuffle_epi32(xl, 0x00), _mm_shuffle_epi32(xl, 0x55), _mm_shuffle_epi32(xl, 0xaa), _mm_shuffle_epi32(xl, 0xff),
                           _mm_shuffle_epi32(xh, 0x00), _mm_shuffle_epi32(xh, 0x55), _mm_shuffle_epi32(xh, 0xaa), _mm_shuffle_epi32(xh, 0xff)};
    const double xd = xterms[b].d;
    const __m128i zero_point = _mm_set1_epi32(xterms[b].zero);
    const bool normal = scales_are_normal(block);
    ST_UNROLL for (int k = 0; k < 4; k++) {
      __m128i p = _mm_setzero_si128();
      ST_UNROLL for (int s = 0; s < 4; s++) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + kPackRows * sizeof(uint16_t) + 64 * s + 16 * k));
        p = _mm_add_epi16(p, _mm_maddubs_epi16(_mm_and_si128(v, low4), xs[s]));
        p = _mm_add_epi16(p, _mm_maddubs_epi16(_mm_and_si128(_mm_srli_epi16(v, 4), low4), xs[4 + s]));
      }
      const Doubles4 dw = quarter_scales(block, k, normal);
      const __m128i i32 = _mm_add_epi32(_mm_madd_epi16(p, ones), zero_point);
      fma4(i32, times(dw, xd), acc[k]);
    }
  }
  ST_UNROLL for (int k = 0; k < 4; k++) store4(out + 4 * k, acc[k]);
}

void gemm_q4_0x16(const uint8_t* group, int64_t nb, const BlockQ8_0* const* xs, const Q8_0BlockTerms* const* xterms, int n_x,
                  float* out) {
  // Up to four activations at a time: their accumulators and the quarter's nibbles fit the 16
  // registers.
  in_groups<4>(n_x, [&](int t0, auto acts) {
    if constexpr (decltype(acts)::value == 1) gemm_q4_0x16_one(group, nb, xs[t0], xterms[t0], out + t0 * kPackRows);
    else gemm_q4_0x16_n<decltype(acts)::value>(group, nb, xs + t0, xterms + t0, out + t0 * kPackRows);
  });
}

// One row of a packed group: the quarter that holds it, computed as gemm_q4_0x16 does (so its
// lane is exactly the group's value), read for one activation.
float dot_q4_0x16_row(const uint8_t* group, int64_t nb, int lane, const BlockQ8_0* x, const Q8_0BlockTerms* xterms) {
  const __m128i low4 = _mm_set1_epi8(0x0f), ones = _mm_set1_epi16(1);
  const int k = lane / 4;
  Doubles4 acc = zero4();
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* block = group + b * kPackedBlockBytes;
    __m128i p = _mm_setzero_si128();
    ST_UNROLL for (int s = 0; s < 4; s++) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + kPackRows * sizeof(uint16_t) + 64 * s + 16 * k));
      p = _mm_add_epi16(p, _mm_maddubs_epi16(_mm_and_si128(v, low4), broadcast_i32(x[b].qs + 4 * s)));
      p = _mm_add_epi16(p, _mm_maddubs_epi16(_mm_and_si128(_mm_srli_epi16(v, 4), low4), broadcast_i32(x[b].qs + 16 + 4 * s)));
    }
    const Doubles4 dw = quarter_scales(block, k, false);
    const double xd = xterms[b].d;
    const __m128i i32 = _mm_add_epi32(_mm_madd_epi16(p, ones), _mm_set1_epi32(xterms[b].zero));
    fma4(i32, times(dw, xd), acc);
  }
  alignas(16) float rows[4];
  store4(rows, acc);
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

// Σ w16_i · bsums_i over the activation's sixteen sums of 16 values: how the K-quants take a
// weight per sub-block (a scale, a min, an offset's scale) against Σx of that sub-block.
inline int32_t times_bsums(const BlockQ8_K& x, const __m128i w16[2]) {
  const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x.bsums));
  const __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x.bsums + 8));
  return hsum_i32(_mm_add_epi32(_mm_madd_epi16(lo, w16[0]), _mm_madd_epi16(hi, w16[1])));
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
// sub-block 2p, high ones 2p+1; Q5_K adds bit 2p (2p+1) of qh[l] as the fifth. M activations
// (1: dot; 4: dot4, a prompt's four tokens): the codes decoded once for all of them, each
// activation's sums and float part exactly as for it alone.
template <bool Fifth, typename Block, int M>
void dot_k4_n(const void* wv, const void* const* xvs, int64_t n, float* out) {
  const auto* w = static_cast<const Block*>(wv);
  const BlockQ8_K* x[M];
  ST_UNROLL for (int t = 0; t < M; t++) x[t] = static_cast<const BlockQ8_K*>(xvs[t]);
  const __m128i low4 = _mm_set1_epi8(0x0f), one = _mm_set1_epi8(1);
  const float* halves = half_table();
  float sum[M];
  ST_UNROLL for (int t = 0; t < M; t++) sum[t] = 0;
  for (int64_t b = 0; b < n / kQK_K; b++) {
    if constexpr (M == 1) prefetch_ahead(w + b, kSuperBlocksAhead * sizeof(Block));  // one activation: prefetch.h
    alignas(16) uint8_t sm[16];  // scales 0..7, mins 8..15
    _mm_store_si128(reinterpret_cast<__m128i*>(sm), scales_mins_k4(w[b].scales));
    __m128i acc[M];
    ST_UNROLL for (int t = 0; t < M; t++) acc[t] = _mm_setzero_si128();
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
      ST_UNROLL for (int t = 0; t < M; t++) {
        acc[t] = _mm_add_epi32(acc[t], scaled_pair(lo0, lo1, x[t][b].qs + 64 * p, sm[2 * p]));
        acc[t] = _mm_add_epi32(acc[t], scaled_pair(hi0, hi1, x[t][b].qs + 64 * p + 32, sm[2 * p + 1]));
      }
    }
    // Σ min_i·Σx over sub-block i, from the activation's sums of 16 (bsums 2i and 2i+1 are
    // sub-block i's halves): each min as two 16-bit lanes against them in PMADDWD.
    const __m128i mins16 = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(sm + 8)));
    const __m128i mins_per_16[2] = {_mm_unpacklo_epi16(mins16, mins16), _mm_unpackhi_epi16(mins16, mins16)};
    const float d = halves[w[b].d], dmin = halves[w[b].dmin];
    ST_UNROLL for (int t = 0; t < M; t++) {
      sum[t] = super_block_sum(sum[t], x[t][b].d, d, dmin, hsum_i32(acc[t]), times_bsums(x[t][b], mins_per_16));
    }
  }
  ST_UNROLL for (int t = 0; t < M; t++) out[t] = sum[t];
}

// Q6_K: codes q − 32 with q's low four bits in ql and two high ones in qh, 16 sub-blocks of
// 16 with int8 scales. The unsigned q meet the activation in PMADDUBSW, and 32·Σx of each
// sub-block (its bsums) comes off: Σ(q − 32)·x = Σq·x − 32·Σx. M activations as in dot_k4_n.
template <int M>
void dot_q6_K_n(const void* wv, const void* const* xvs, int64_t n, float* out) {
  const auto* w = static_cast<const BlockQ6_K*>(wv);
  const BlockQ8_K* x[M];
  ST_UNROLL for (int t = 0; t < M; t++) x[t] = static_cast<const BlockQ8_K*>(xvs[t]);
  const __m128i low4 = _mm_set1_epi8(0x0f), high2 = _mm_set1_epi8(0x30);
  const float* halves = half_table();
  float sum[M];
  ST_UNROLL for (int t = 0; t < M; t++) sum[t] = 0;
  for (int64_t b = 0; b < n / kQK_K; b++) {
    if constexpr (M == 1) prefetch_ahead(w + b, kSuperBlocksAhead * sizeof(BlockQ6_K));  // one activation: prefetch.h
    __m128i acc[M];
    ST_UNROLL for (int t = 0; t < M; t++) acc[t] = _mm_setzero_si128();
    ST_UNROLL for (int h = 0; h < 2; h++) {
      const uint8_t* ql = w[b].ql + 64 * h;
      const uint8_t* qh = w[b].qh + 32 * h;
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
          const __m128i scale = _mm_set1_epi16(sc[2 * g + j]);
          ST_UNROLL for (int t = 0; t < M; t++) {
            const __m128i xs = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[t][b].qs + 128 * h + 32 * g + 16 * j));
            acc[t] = _mm_add_epi32(acc[t], _mm_madd_epi16(_mm_maddubs_epi16(q[g], xs), scale));
          }
        }
      }
    }
    // Σ scale_g·Σx over sub-block g (the activation's sums of 16) in PMADDWD.
    const __m128i scales = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].scales));
    const __m128i scales16[2] = {_mm_cvtepi8_epi16(scales), _mm_cvtepi8_epi16(_mm_unpackhi_epi64(scales, scales))};
    const float d = halves[w[b].d];
    ST_UNROLL for (int t = 0; t < M; t++) {
      sum[t] = super_block_sum(sum[t], x[t][b].d, d, 0.0f, hsum_i32(acc[t]) - 32 * times_bsums(x[t][b], scales16), 0);
    }
  }
  ST_UNROLL for (int t = 0; t < M; t++) out[t] = sum[t];
}

// 16-bit lane i of v in every lane (PSHUFB with a constant control once unrolled).
inline __m128i broadcast_scale(__m128i v, int i) {
  return _mm_shuffle_epi8(v, _mm_set1_epi16(static_cast<int16_t>(0x0101 * (2 * i) + 0x0100)));
}

// Q2_K and Q3_K: two-bit fields j of qs[32h .. 32h+32) hold values 128h + 32j + l, so
// sub-block i of 16 values (h = i / 8, j = i / 2 % 4, l from 16·(i % 2)) is one shift and mask
// of the 16 bytes at qs + 32h + 16(i % 2). Q2_K's codes are those fields (0..3) with sixteen
// scales (low nibbles) and mins (high nibbles); Q3_K's stand for field + 4·(bit 4h + j of
// hmask[l]) − 4 with sixteen six-bit scales (kquant_scales_x86.h): the unsigned field + 4·bit
// meets the activation in PMADDUBSW and 4·Σ scale·Σx comes off, as Q6_K's 32. M activations as
// in dot_k4_n.
template <typename Block, int M>
void dot_two_bit_n(const void* wv, const void* const* xvs, int64_t n, float* out) {
  constexpr bool kQ3 = std::is_same_v<Block, BlockQ3_K>;
  const auto* w = static_cast<const Block*>(wv);
  const BlockQ8_K* x[M];
  ST_UNROLL for (int t = 0; t < M; t++) x[t] = static_cast<const BlockQ8_K*>(xvs[t]);
  const __m128i three = _mm_set1_epi8(3), four = _mm_set1_epi8(4), low4 = _mm_set1_epi8(0x0f);
  const float* halves = half_table();
  float sum[M];
  ST_UNROLL for (int t = 0; t < M; t++) sum[t] = 0;
  for (int64_t b = 0; b < n / kQK_K; b++) {
    if constexpr (M == 1) prefetch_ahead(w + b, kSuperBlocksAhead * sizeof(Block));  // one activation: prefetch.h
    __m128i scales8;  // the sixteen scales as signed bytes
    if constexpr (kQ3) {
      scales8 = scales_q3_K(w[b].scales);
    } else {
      scales8 = _mm_and_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].scales)), low4);
    }
    const __m128i scales16[2] = {_mm_cvtepi8_epi16(scales8), _mm_cvtepi8_epi16(_mm_unpackhi_epi64(scales8, scales8))};
    __m128i acc[M];
    ST_UNROLL for (int t = 0; t < M; t++) acc[t] = _mm_setzero_si128();
    ST_UNROLL for (int k = 0; k < 2; k++) {
      __m128i hmask = _mm_setzero_si128();
      if constexpr (kQ3) hmask = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].hmask + 16 * k));
      ST_UNROLL for (int h = 0; h < 2; h++) {
        const __m128i qs = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].qs + 32 * h + 16 * k));
        ST_UNROLL for (int j = 0; j < 4; j++) {
          __m128i code = _mm_and_si128(_mm_srli_epi16(qs, 2 * j), three);
          if constexpr (kQ3) {  // bit 4h + j of each byte to bit 2 (a shift within the byte, then a mask)
            const int bit = 4 * h + j;
            const __m128i moved = bit >= 2 ? _mm_srli_epi16(hmask, bit - 2) : _mm_slli_epi16(hmask, 2 - bit);
            code = _mm_or_si128(code, _mm_and_si128(moved, four));
          }
          const int i = 8 * h + 2 * j + k;
          const __m128i scale = broadcast_scale(scales16[h], 2 * j + k);
          ST_UNROLL for (int t = 0; t < M; t++) {
            const __m128i xs = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[t][b].qs + 16 * i));
            acc[t] = _mm_add_epi32(acc[t], _mm_madd_epi16(_mm_maddubs_epi16(code, xs), scale));
          }
        }
      }
    }
    const float d = halves[w[b].d];
    __m128i mins16[2] = {};
    float dmin = 0;
    if constexpr (!kQ3) {
      const __m128i mins8 = _mm_and_si128(_mm_srli_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].scales)), 4), low4);
      mins16[0] = _mm_cvtepu8_epi16(mins8);
      mins16[1] = _mm_cvtepu8_epi16(_mm_unpackhi_epi64(mins8, mins8));
      dmin = halves[w[b].dmin];
    }
    ST_UNROLL for (int t = 0; t < M; t++) {
      if constexpr (kQ3) {  // Σ scale_i·Σx over sub-block i, four times, off the sum of the unsigned codes
        sum[t] = super_block_sum(sum[t], x[t][b].d, d, 0.0f, hsum_i32(acc[t]) - 4 * times_bsums(x[t][b], scales16), 0);
      } else {
        sum[t] = super_block_sum(sum[t], x[t][b].d, d, dmin, hsum_i32(acc[t]), times_bsums(x[t][b], mins16));
      }
    }
  }
  ST_UNROLL for (int t = 0; t < M; t++) out[t] = sum[t];
}

// IQ4_XS: signed codes kIQ4Values[nibble] (values 32i + j from the low nibbles of qs[16i + j],
// 32i + 16 + j from the high ones; PSHUFB looks them up), eight six-bit scales (value − 32) for
// the sub-blocks of 32. The products take the sign trick, |code| · (x with code's sign): a Q8_K
// activation byte is never −128 (quantize_row_q8_K maps into ±127), and each pair of products
// (≤ 2·127·127) fits PMADDUBSW's 16 bits, so each half of a sub-block goes to PMADDWD alone.
template <int M>
void dot_iq4_xs_n(const void* wv, const void* const* xvs, int64_t n, float* out) {
  const auto* w = static_cast<const BlockIQ4_XS*>(wv);
  const BlockQ8_K* x[M];
  ST_UNROLL for (int t = 0; t < M; t++) x[t] = static_cast<const BlockQ8_K*>(xvs[t]);
  const __m128i low4 = _mm_set1_epi8(0x0f);
  const __m128i values = _mm_loadu_si128(reinterpret_cast<const __m128i*>(kIQ4Values));
  const float* halves = half_table();
  float sum[M];
  ST_UNROLL for (int t = 0; t < M; t++) sum[t] = 0;
  for (int64_t b = 0; b < n / kQK_K; b++) {
    if constexpr (M == 1) prefetch_ahead(w + b, kSuperBlocksAhead * sizeof(BlockIQ4_XS));  // one activation: prefetch.h
    const __m128i scales16 = scales_iq4_xs(w[b].scales_l, w[b].scales_h);
    __m128i acc[M];
    ST_UNROLL for (int t = 0; t < M; t++) acc[t] = _mm_setzero_si128();
    ST_UNROLL for (int i = 0; i < 8; i++) {
      const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].qs + 16 * i));
      const __m128i lo = _mm_shuffle_epi8(values, _mm_and_si128(q, low4));
      const __m128i hi = _mm_shuffle_epi8(values, _mm_and_si128(_mm_srli_epi16(q, 4), low4));
      const __m128i lo_abs = _mm_abs_epi8(lo), hi_abs = _mm_abs_epi8(hi);
      const __m128i scale = broadcast_scale(scales16, i);
      ST_UNROLL for (int t = 0; t < M; t++) {
        const __m128i x0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[t][b].qs + 32 * i));
        const __m128i x1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[t][b].qs + 32 * i + 16));
        acc[t] = _mm_add_epi32(acc[t], _mm_madd_epi16(_mm_maddubs_epi16(lo_abs, _mm_sign_epi8(x0, lo)), scale));
        acc[t] = _mm_add_epi32(acc[t], _mm_madd_epi16(_mm_maddubs_epi16(hi_abs, _mm_sign_epi8(x1, hi)), scale));
      }
    }
    const float d = halves[w[b].d];
    ST_UNROLL for (int t = 0; t < M; t++) sum[t] = super_block_sum(sum[t], x[t][b].d, d, 0.0f, hsum_i32(acc[t]), 0);
  }
  ST_UNROLL for (int t = 0; t < M; t++) out[t] = sum[t];
}

// The table's two forms of each: one activation (dot) and four (dot4).
template <void (*Kernel)(const void*, const void* const*, int64_t, float*)>
float dot_one(const void* w, const void* x, int64_t n) {
  float out;
  Kernel(w, &x, n, &out);
  return out;
}

// Q8_0 rows as in the file (this table packs none): each block's Σ w·x exact (PSIGNB moves
// the weight's sign onto the activation, so PMADDUBSW multiplies |w| ≤ 128 by it; an
// activation byte is never −128, quantize_row_q8_0 rounds into ±127), the float part the
// scalar expression: sum += float(Σ)·d_w·d_x, block after block.
inline __m128i q8_0_block_partial_sums(__m128i w0, __m128i w1, const BlockQ8_0& x) {
  const __m128i ones = _mm_set1_epi16(1);
  const __m128i x0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x.qs));
  const __m128i x1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x.qs + 16));
  return _mm_add_epi32(_mm_madd_epi16(_mm_maddubs_epi16(_mm_abs_epi8(w0), _mm_sign_epi8(x0, w0)), ones),
                       _mm_madd_epi16(_mm_maddubs_epi16(_mm_abs_epi8(w1), _mm_sign_epi8(x1, w1)), ones));
}

inline __m128i load_q8_0_half(const BlockQ8_0& w, int h) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(w.qs + 16 * h)); }

float dot_q8_0_q8_0(const BlockQ8_0* w, const BlockQ8_0* x, int64_t n) {
  const float* halves = half_table();
  float sum = 0;
  for (int64_t b = 0; b < n / kQK8_0; b++) {
    prefetch_ahead(w + b, kSmallBlockBytesAhead);
    const int32_t total = hsum_i32(q8_0_block_partial_sums(load_q8_0_half(w[b], 0), load_q8_0_half(w[b], 1), x[b]));
    sum += static_cast<float>(total) * halves[w[b].d] * halves[x[b].d];
  }
  return sum;
}

// One row against four activations (a prompt's tokens), each exactly dot_q8_0_q8_0's: the
// row's bytes loaded once, the four blocks' totals in one vector (PHADDD, exact; below 2^24,
// so exact as floats too), times d_w, times d_x, added to four sums that each run block after
// block. (Decode's four rows against one activation go one row at a time: the same four-wide
// form of that, measured, was slower than the one-row loop with the table's scales.)
inline __m128i totals4(const __m128i s[4]) { return _mm_hadd_epi32(_mm_hadd_epi32(s[0], s[1]), _mm_hadd_epi32(s[2], s[3])); }

void dot_q8_0_q8_0_x4(const BlockQ8_0* w, const BlockQ8_0* const* xs, int64_t n, float* out) {
  const float* halves = half_table();
  __m128 sum = _mm_setzero_ps();
  for (int64_t b = 0; b < n / kQK8_0; b++) {
    const __m128i w0 = load_q8_0_half(w[b], 0), w1 = load_q8_0_half(w[b], 1);
    __m128i s[4];
    ST_UNROLL for (int t = 0; t < 4; t++) s[t] = q8_0_block_partial_sums(w0, w1, xs[t][b]);
    const __m128 dw = _mm_set1_ps(halves[w[b].d]);
    const __m128 dx = _mm_setr_ps(halves[xs[0][b].d], halves[xs[1][b].d], halves[xs[2][b].d], halves[xs[3][b].d]);
    sum = _mm_add_ps(sum, _mm_mul_ps(_mm_mul_ps(_mm_cvtepi32_ps(totals4(s)), dw), dx));
  }
  _mm_storeu_ps(out, sum);
}

// Q4_1, Q5_0, Q5_1 and IQ4_NL rows as in the file (the legacy 32-value types; llama-quantize
// still writes IQ4_NL, and the K-quant files fall back to them for rows not a multiple of 256)
// against a Q8_0 activation (Q5_0, IQ4_NL) or a Q8_1 one (Q4_1, Q5_1): element j of a block is
// the low nibble of qs[j] (j < 16) or the high nibble of qs[j − 16], the Q5 types take bit j of
// qh as bit 4, Q5_0 stands for code − 16 and IQ4_NL for kIQ4Values[code]. Each block's Σ q·x
// is exact (unsigned codes straight into PMADDUBSW; signed ones with the sign trick, a Q8_0 or
// Q8_1 activation byte never being −128), the float part the scalar expression in its order:
// sum += d_w·d_x·float(Σ) (+ m·s for the types with a min), block after block.
template <typename Block> struct Blocks32;
template <> struct Blocks32<BlockQ4_1> { static constexpr bool kFifth = false, kMin = true, kSigned = false; using X = BlockQ8_1; };
template <> struct Blocks32<BlockQ5_0> { static constexpr bool kFifth = true, kMin = false, kSigned = true; using X = BlockQ8_0; };
template <> struct Blocks32<BlockQ5_1> { static constexpr bool kFifth = true, kMin = true, kSigned = false; using X = BlockQ8_1; };
template <> struct Blocks32<BlockIQ4_NL> { static constexpr bool kFifth = false, kMin = false, kSigned = true; using X = BlockQ8_0; };

// Bit 4 of elements 0..15 (half 0) or 16..31 (half 1) from the block's 32 bits of qh: each
// byte of the half's two qh bytes spread over eight lanes, its own bit tested.
inline __m128i fifth_bits(__m128i qh, int half) {
  const __m128i spread = _mm_shuffle_epi8(qh, half == 0 ? _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1)
                                                        : _mm_setr_epi8(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
  const __m128i bit = _mm_set1_epi64x(static_cast<int64_t>(0x8040201008040201ULL));
  return _mm_and_si128(_mm_cmpeq_epi8(_mm_and_si128(spread, bit), bit), _mm_set1_epi8(16));
}

template <typename Block, int M>
void dot_blocks32_n(const void* wv, const void* const* xvs, int64_t n, float* out) {
  using Type = Blocks32<Block>;
  using X = typename Type::X;
  const auto* w = static_cast<const Block*>(wv);
  const X* x[M];
  ST_UNROLL for (int t = 0; t < M; t++) x[t] = static_cast<const X*>(xvs[t]);
  const __m128i low4 = _mm_set1_epi8(0x0f), ones = _mm_set1_epi16(1);
  const float* halves = half_table();
  float sum[M];
  ST_UNROLL for (int t = 0; t < M; t++) sum[t] = 0;
  for (int64_t b = 0; b < n / 32; b++) {
    if constexpr (M == 1) prefetch_ahead(w + b, kSmallBlockBytesAhead);  // one activation: prefetch.h
    const __m128i qs = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].qs));
    __m128i code[2] = {_mm_and_si128(qs, low4), _mm_and_si128(_mm_srli_epi16(qs, 4), low4)};
    if constexpr (Type::kFifth) {
      uint32_t qh;
      std::memcpy(&qh, w[b].qh, sizeof qh);
      const __m128i bits = _mm_cvtsi32_si128(static_cast<int>(qh));
      ST_UNROLL for (int h = 0; h < 2; h++) code[h] = _mm_or_si128(code[h], fifth_bits(bits, h));
    }
    if constexpr (std::is_same_v<Block, BlockQ5_0>) {
      ST_UNROLL for (int h = 0; h < 2; h++) code[h] = _mm_sub_epi8(code[h], _mm_set1_epi8(16));
    } else if constexpr (std::is_same_v<Block, BlockIQ4_NL>) {
      const __m128i values = _mm_loadu_si128(reinterpret_cast<const __m128i*>(kIQ4Values));
      ST_UNROLL for (int h = 0; h < 2; h++) code[h] = _mm_shuffle_epi8(values, code[h]);
    }
    __m128i magnitude[2] = {code[0], code[1]};
    if constexpr (Type::kSigned) {
      ST_UNROLL for (int h = 0; h < 2; h++) magnitude[h] = _mm_abs_epi8(code[h]);
    }
    __m128i s[M];
    ST_UNROLL for (int t = 0; t < M; t++) {
      __m128i p[2];
      ST_UNROLL for (int h = 0; h < 2; h++) {
        __m128i xs = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[t][b].qs + 16 * h));
        if constexpr (Type::kSigned) xs = _mm_sign_epi8(xs, code[h]);
        p[h] = _mm_maddubs_epi16(magnitude[h], xs);
      }
      // IQ4_NL's pairs of products reach 2·127·127: each half to 32 bits alone. The others'
      // (codes below 32) add in 16 bits first.
      if constexpr (std::is_same_v<Block, BlockIQ4_NL>) {
        s[t] = _mm_add_epi32(_mm_madd_epi16(p[0], ones), _mm_madd_epi16(p[1], ones));
      } else {
        s[t] = _mm_madd_epi16(_mm_add_epi16(p[0], p[1]), ones);
      }
    }
    const float dw = halves[w[b].d];
    float m = 0;
    if constexpr (Type::kMin) m = halves[w[b].m];
    ST_UNROLL for (int t = 0; t < M; t++) {
      const float term = dw * halves[x[t][b].d] * static_cast<float>(hsum_i32(s[t]));
      if constexpr (Type::kMin) {
        sum[t] += term + m * halves[x[t][b].s];
      } else {
        sum[t] += term;
      }
    }
  }
  ST_UNROLL for (int t = 0; t < M; t++) out[t] = sum[t];
}

void add_overrides(KernelTable& t) {
  t.dot_f16_f32 = dot_f16_f32;
  t.dot_f16_f32_heads = dot_f16_f32_heads;
  t.axpy_f16 = axpy_f16;
  t.axpy_f16_heads = axpy_f16_heads;
  t.dot_q8_0_q8_0 = dot_q8_0_q8_0;
  t.dot_q8_0_q8_0_x4 = dot_q8_0_q8_0_x4;
  t.dot_q8_0_q8_0_rows4 = [](const BlockQ8_0* const* rows, const BlockQ8_0* x, int64_t n, float* out) {
    for (int r = 0; r < 4; r++) out[r] = dot_q8_0_q8_0(rows[r], x, n);
  };
  t.q4_K.dot = dot_one<dot_k4_n<false, BlockQ4_K, 1>>;
  t.q4_K.dot4 = dot_k4_n<false, BlockQ4_K, 4>;
  t.q5_K.dot = dot_one<dot_k4_n<true, BlockQ5_K, 1>>;
  t.q5_K.dot4 = dot_k4_n<true, BlockQ5_K, 4>;
  t.q6_K.dot = dot_one<dot_q6_K_n<1>>;
  t.q6_K.dot4 = dot_q6_K_n<4>;
  t.q2_K.dot = dot_one<dot_two_bit_n<BlockQ2_K, 1>>;
  t.q2_K.dot4 = dot_two_bit_n<BlockQ2_K, 4>;
  t.q3_K.dot = dot_one<dot_two_bit_n<BlockQ3_K, 1>>;
  t.q3_K.dot4 = dot_two_bit_n<BlockQ3_K, 4>;
  t.iq4_xs.dot = dot_one<dot_iq4_xs_n<1>>;
  t.iq4_xs.dot4 = dot_iq4_xs_n<4>;
  t.q4_1.dot = dot_one<dot_blocks32_n<BlockQ4_1, 1>>;
  t.q4_1.dot4 = dot_blocks32_n<BlockQ4_1, 4>;
  t.q5_0.dot = dot_one<dot_blocks32_n<BlockQ5_0, 1>>;
  t.q5_0.dot4 = dot_blocks32_n<BlockQ5_0, 4>;
  t.q5_1.dot = dot_one<dot_blocks32_n<BlockQ5_1, 1>>;
  t.q5_1.dot4 = dot_blocks32_n<BlockQ5_1, 4>;
  t.iq4_nl.dot = dot_one<dot_blocks32_n<BlockIQ4_NL, 1>>;
  t.iq4_nl.dot4 = dot_blocks32_n<BlockIQ4_NL, 4>;
  t.gemm_q4_0x16 = gemm_q4_0x16;
  t.pack_q4_0x16 = pack_q4_0x16_transposing;
  t.pack_q5_0x16 = pack_q5_0x16_transposing;
  t.pack_q4_1x16 = pack_q4_1x16_transposing;
  t.pack_q5_1x16 = pack_q5_1x16_transposing;
  t.dot_q4_0x16_row = dot_q4_0x16_row;
}

}  // namespace

#if defined(__AVX__)
void avx_overrides(KernelTable& t) {  // kernels_avx.cpp's compilation
  t.isa = "avx";
  add_overrides(t);
}
#else
void sse42_overrides(KernelTable& t) {
  t.isa = "sse42";
  add_overrides(t);
}
#endif

}  // namespace st::kernels
#endif
