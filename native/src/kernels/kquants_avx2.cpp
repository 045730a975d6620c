// AVX2 Q8_K activations and dot products of the K-quants that llama-quantize's common presets are made of (Q4_K,
// Q5_K, Q6_K) against the Q8_K activation, on the blocks as the file stores them. Each
// super-block's integer sum is exact, as in the scalar reference
// (kernels_scalar_blocks.cpp), and scaled by the same float expression, so the two agree to
// rounding. Compiled with -mavx2 -mfma -mf16c and used only after dispatch.cpp has checked
// the CPU; the AVX-512 table takes them too.
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "count_dispatch.h"
#include "fp16.h"
#include "hsum_x86.h"
#include "kernels.h"
#include "kquant_scales_x86.h"
#include "packed_q4k_scales_avx2.h"
#include "packed_q6k_scales_avx2.h"
#include "pack_rows_x86.h"
#include "prefetch.h"
#include "unroll.h"

namespace st::kernels {
namespace {

inline float half(uint16_t h) { return _cvtsh_ss(h); }

inline __m256i load(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }


// Σ min_i · Σx over sub-block i (the activation's sums of 16, two per sub-block of 32), as
// four int32 partial sums.
inline __m128i mins_dot_sums(__m128i mins16, const int16_t* bsums) {
  const __m128i pairs = _mm_hadd_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bsums)),
                                       _mm_loadu_si128(reinterpret_cast<const __m128i*>(bsums + 8)));
  return _mm_madd_epi16(pairs, mins16);
}

// Every 16-bit lane of the result holds 16-bit lane i of `both` (both halves alike).
inline __m256i broadcast_lane(__m256i both, int i) {
  const __m256i pick = _mm256_set1_epi16(static_cast<int16_t>((2 * i) | ((2 * i + 1) << 8)));
  return _mm256_shuffle_epi8(both, pick);
}

// The weight side of one super-block, read for however many activations it meets: code(i)
// gives the codes of values 32i .. 32i+32 as unsigned bytes, scale(i) their scales as 16-bit
// lanes, and offset() what comes off the integer sum (Q4_K/Q5_K's mins times dmin, Q6_K's
// code offset 32 times d), as four float partial sums.

// Q4_K and Q5_K: eight 6-bit scales and mins for the sub-blocks of 32.
struct K4Scales {
  __m256i scales;  // the eight scales as 16-bit lanes, in both halves
  __m128i mins16;
  float d, dmin;
  K4Scales(const uint8_t* packed, uint16_t d16, uint16_t dmin16) {
    const __m128i bytes = scales_mins_k4(packed);
    scales = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(bytes));
    mins16 = _mm_cvtepu8_epi16(_mm_srli_si128(bytes, 8));
    d = half(d16);
    dmin = half(dmin16);
  }
  __m256i scale(int i) const { return broadcast_lane(scales, i); }
  __m128 offset(const BlockQ8_K& x, __m128 acc) const {
    return _mm_fmadd_ps(_mm_set1_ps(x.d * dmin), _mm_cvtepi32_ps(mins_dot_sums(mins16, x.bsums)), acc);
  }
};

// Nibbles of sub-block i: sub-block pair p is qs[32p .. 32p+32), the low nibbles first.
inline __m256i nibbles(const uint8_t* qs, int i) {
  const __m256i q = load(qs + 32 * (i / 2));
  return _mm256_and_si256(i % 2 ? _mm256_srli_epi16(q, 4) : q, _mm256_set1_epi8(0x0f));
}

struct Q4KBlock : K4Scales {
  const BlockQ4_K& w;
  explicit Q4KBlock(const BlockQ4_K& b) : K4Scales(b.scales, b.d, b.dmin), w(b) {}
  __m256i code(int i) const { return nibbles(w.qs, i); }
};

// Q5_K: Q4_K's nibbles plus a fifth bit per value in qh (bit i for sub-block i), moved to
// bit 4 of each byte (shifting 16-bit lanes is safe: each byte holds 0 or 1 after the mask).
struct Q5KBlock : K4Scales {
  const BlockQ5_K& w;
  explicit Q5KBlock(const BlockQ5_K& b) : K4Scales(b.scales, b.d, b.dmin), w(b) {}
  __m256i code(int i) const {
    const __m256i high = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(load(w.qh), i), _mm256_set1_epi8(1)), 4);
    return _mm256_or_si256(nibbles(w.qs, i), high);
  }
};

// Scale vectors for sub-blocks of 16 (Q2_K, Q3_K, Q6_K): sixteen int16 scales; the scale
// vector of values 32i .. 32i+32 holds scale 2i in its low 128 bits and 2i+1 in the high ones,
// one shuffle from the even scales laid in the low half and the odd ones in the high half.
struct Scales16 {
  __m128i scales16[2];
  __m256i even_odd;
  explicit Scales16(__m128i sc8_signed) {
    scales16[0] = _mm_cvtepi8_epi16(sc8_signed);
    scales16[1] = _mm_cvtepi8_epi16(_mm_srli_si128(sc8_signed, 8));
    even_odd = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc8_signed, _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15)));
  }
  __m256i scale(int i) const { return broadcast_lane(even_odd, i); }
  // Σ_k scale_k · Σx over the k-th 16 values, as four int32 partial sums.
  __m128i times_sums(const BlockQ8_K& x) const {
    return _mm_add_epi32(_mm_madd_epi16(scales16[0], _mm_loadu_si128(reinterpret_cast<const __m128i*>(x.bsums))),
                         _mm_madd_epi16(scales16[1], _mm_loadu_si128(reinterpret_cast<const __m128i*>(x.bsums + 8))));
  }
};

// Q6_K: codes 0..63 (four bits in ql, two in qh) that stand for code − 32; sixteen int8 scales
// of 16 values each, so the scale vector of a 32 holds two of them (values 0..15, then 16..31).
// Values 128h + 32v + l: low bits from ql[64h + 32(v%2) + l] (high nibble when v ≥ 2), high
// bits from qh[32h + l] bits 2v, 2v+1. One activation streams the head's 190 MB a token
// through this reader, so each 32 values costs as few vector operations as it can (the scale
// one shuffle, the high bits a mask and at most one shift).
struct Q6KBlock {
  const BlockQ6_K& w;
  Scales16 scales;
  float d;
  explicit Q6KBlock(const BlockQ6_K& b)
      : w(b), scales(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales))), d(half(b.d)) {}
  __m256i code(int i) const {
    const int h = i / 4, v = i % 4;
    const __m256i l = load(w.ql + 64 * h + 32 * (v % 2));
    const __m256i low = _mm256_and_si256(v >= 2 ? _mm256_srli_epi16(l, 4) : l, _mm256_set1_epi8(0x0f));
    // Bits 2v, 2v+1 of each qh byte to bits 4, 5 (masked first, so no bit crosses a byte).
    const __m256i bits = _mm256_and_si256(load(w.qh + 32 * h), _mm256_set1_epi8(static_cast<char>(3 << (2 * v))));
    const __m256i high = v == 0 ? _mm256_slli_epi16(bits, 4) : v == 1 ? _mm256_slli_epi16(bits, 2) : v == 2 ? bits : _mm256_srli_epi16(bits, 2);
    return _mm256_or_si256(low, high);
  }
  __m256i scale(int i) const { return scales.scale(i); }
  // The code offset 32 comes off the integer sums (exact), not as a float afterwards: the two
  // large terms would cancel in float and lose the low bits (llama.cpp folds it the same way).
  __m256i folded(__m256i sums, const BlockQ8_K& x) const {
    return _mm256_sub_epi32(sums, _mm256_inserti128_si256(_mm256_setzero_si256(), _mm_slli_epi32(scales.times_sums(x), 5), 0));
  }
  __m128 offset(const BlockQ8_K&, __m128 acc) const { return acc; }
};

// Two-bit fields j of qs[32h .. 32h+32): values 128h + 32j + l (Q2_K and Q3_K).
inline __m256i two_bits(const uint8_t* qs, int i) {
  return _mm256_and_si256(_mm256_srli_epi16(load(qs + 32 * (i / 4)), 2 * (i % 4)), _mm256_set1_epi8(3));
}

// Q2_K: codes 0..3, sixteen scales (low nibbles) and mins (high nibbles) of 16 values.
struct Q2KBlock {
  const BlockQ2_K& w;
  Scales16 scales, mins;
  float d, dmin;
  explicit Q2KBlock(const BlockQ2_K& b)
      : w(b),
        scales(_mm_and_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales)), _mm_set1_epi8(0x0f))),
        mins(_mm_and_si128(_mm_srli_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales)), 4), _mm_set1_epi8(0x0f))),
        d(half(b.d)),
        dmin(half(b.dmin)) {}
  __m256i code(int i) const { return two_bits(w.qs, i); }
  __m256i scale(int i) const { return scales.scale(i); }
  __m128 offset(const BlockQ8_K& x, __m128 acc) const {
    return _mm_fmadd_ps(_mm_set1_ps(x.d * dmin), _mm_cvtepi32_ps(mins.times_sums(x)), acc);
  }
};

// Q3_K: codes 0..7 standing for code − 4 (two bits in qs, the third in hmask: bit 4h+j of
// hmask[l] for values 128h + 32j + l); sixteen six-bit scales (value − 32, kquant_scales_x86.h).
struct Q3KBlock {
  const BlockQ3_K& w;
  Scales16 scales;
  float d;
  explicit Q3KBlock(const BlockQ3_K& b) : w(b), scales(scales_q3_K(b.scales)), d(half(b.d)) {}
  __m256i code(int i) const {
    const __m256i high = _mm256_and_si256(_mm256_srli_epi16(load(w.hmask), i), _mm256_set1_epi8(1));
    return _mm256_or_si256(two_bits(w.qs, i), _mm256_slli_epi16(high, 2));
  }
  __m256i scale(int i) const { return scales.scale(i); }
  // The code offset 4 comes off the integer sums (exact), as Q6_K's 32 does.
  __m256i folded(__m256i sums, const BlockQ8_K& x) const {
    return _mm256_sub_epi32(sums, _mm256_inserti128_si256(_mm256_setzero_si256(), _mm_slli_epi32(scales.times_sums(x), 2), 0));
  }
  __m128 offset(const BlockQ8_K&, __m128 acc) const { return acc; }
};

// IQ4_XS: signed codes kIQ4Values[nibble] (values 32i + j from the low nibbles of
// qs[16i + j], 32i + 16 + j from the high ones); eight six-bit scales (value − 32).
struct IQ4XSBlock {
  static constexpr bool kSigned = true;
  const BlockIQ4_XS& w;
  __m256i scales;  // the eight scales as 16-bit lanes, in both halves
  float d;
  explicit IQ4XSBlock(const BlockIQ4_XS& b)
      : w(b), scales(_mm256_broadcastsi128_si256(scales_iq4_xs(b.scales_l, b.scales_h))), d(half(b.d)) {}
  __m256i code(int i) const {
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w.qs + 16 * i));
    const __m256i nib = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0x0f));
    const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIQ4Values)));
    return _mm256_shuffle_epi8(table, nib);
  }
  __m256i scale(int i) const { return broadcast_lane(scales, i); }
  __m128 offset(const BlockQ8_K&, __m128 acc) const { return acc; }
};

template <typename Block> struct Reader;
template <> struct Reader<BlockQ4_K> { using type = Q4KBlock; };
template <> struct Reader<BlockQ5_K> { using type = Q5KBlock; };
template <> struct Reader<BlockQ6_K> { using type = Q6KBlock; };
template <> struct Reader<BlockQ2_K> { using type = Q2KBlock; };
template <> struct Reader<BlockQ3_K> { using type = Q3KBlock; };
template <> struct Reader<BlockIQ4_XS> { using type = IQ4XSBlock; };

// Whether a reader's codes are signed (then the products take the sign trick: |c| · ±x).
template <typename Read, typename = void> struct SignedCodes { static constexpr bool value = false; };
template <typename Read> struct SignedCodes<Read, std::void_t<decltype(Read::kSigned)>> { static constexpr bool value = Read::kSigned; };
// Readers whose codes stand for code − offset (Q3_K, Q6_K) take it off the integer sums.
template <typename Read, typename = void> struct CodeOffset {
  static __m256i fold(const Read&, __m256i sums, const BlockQ8_K&) { return sums; }
};
template <typename Read> struct CodeOffset<Read, decltype(void(&Read::folded))> {
  static __m256i fold(const Read& r, __m256i sums, const BlockQ8_K& x) { return r.folded(sums, x); }
};

// m activations (1..4) against one row: each 32 of a super-block's codes decoded once for all
// of them. The integer sums of a super-block are exact; the float sums run in vector lanes
// (as llama.cpp's SIMD kernels do), so the result equals the scalar reference's up to float
// rounding.
template <typename Block, int m>
void dot_rows(const void* wv, const BlockQ8_K* const* xs, int64_t n, float* out) {
  using Read = typename Reader<Block>::type;
  const auto* w = static_cast<const Block*>(wv);
  __m256 acc[m];
  __m128 off[m];
  ST_UNROLL
  for (int t = 0; t < m; t++) {
    acc[t] = _mm256_setzero_ps();
    off[t] = _mm_setzero_ps();
  }
  for (int64_t b = 0; b < n / kQK_K; b++) {
    if (m == 1) prefetch_ahead(w + b, kSuperBlocksAhead * sizeof(Block), sizeof(Block));  // one activation: prefetch.h
    const Read r(w[b]);
    __m256i sums[m];
    ST_UNROLL
    for (int t = 0; t < m; t++) sums[t] = _mm256_setzero_si256();
    ST_UNROLL
    for (int i = 0; i < 8; i++) {
      const __m256i c = r.code(i), sc = r.scale(i);
      ST_UNROLL
      for (int t = 0; t < m; t++) {
        const __m256i x = load(xs[t][b].qs + 32 * i);
        // Signed codes (|c| ≤ 127): |c|·(±x) keeps each pair sum within 2·127·127 < 2¹⁵.
        const __m256i p = SignedCodes<Read>::value ? _mm256_maddubs_epi16(_mm256_sign_epi8(c, c), _mm256_sign_epi8(x, c))
                                                   : _mm256_maddubs_epi16(c, x);
        sums[t] = _mm256_add_epi32(sums[t], _mm256_madd_epi16(p, sc));
        if (m > 1) keep_in_register(sums[t]);
      }
    }
    ST_UNROLL
    for (int t = 0; t < m; t++) {
      const BlockQ8_K& x = xs[t][b];
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(x.d * r.d), _mm256_cvtepi32_ps(CodeOffset<Read>::fold(r, sums[t], x)), acc[t]);
      off[t] = r.offset(x, off[t]);
    }
  }
  for (int t = 0; t < m; t++) out[t] = hsum(acc[t]) - hsum(off[t]);
}

template <typename Block>
float dot(const void* w, const void* x, int64_t n) {
  const BlockQ8_K* xs[1] = {static_cast<const BlockQ8_K*>(x)};
  float out;
  dot_rows<Block, 1>(w, xs, n, &out);
  return out;
}

template <typename Block>
void dot4(const void* w, const void* const* xs, int64_t n, float* out) {
  dot_rows<Block, 4>(w, reinterpret_cast<const BlockQ8_K* const*>(xs), n, out);
}

// ---- Q4_K and Q5_K packed 16 rows at a time (pack_q4_Kx16, pack_q5_Kx16), in two halves of 8
// rows per 256-bit vector: lane r is row r. Four activation bytes broadcast to every lane meet
// four codes of each row in VPMADDUBSW; a sub-block's 16-bit partial sums add up in 16 bits
// while they cannot overflow (K4x16Codes::kSpan) before one VPMADDWD multiplies them by the
// row's scale (in both 16-bit halves of its lane). The integer sums are exact, and each row then
// gets the packed contract's two fused multiply-adds (kernels.h). ----

inline int32_t load_i32(const void* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// The codes of the packed super-blocks, four values of eight rows per vector: code vector
// 8p + s4 holds qs[32p + 4s4 ..] of each row, whose low nibbles are values 64p + 4s4 .. + 3
// (sub-block 2p) and high nibbles the same values of sub-block 2p + 1. Q5_K adds the fifth bits
// from qh vector s4 (bit 2p for the low nibbles, 2p + 1 for the high), moved to bit 4.
template <bool kFifthBit>
struct K4x16Codes {
  static constexpr size_t kBytes = kFifthBit ? kPackedQ5KBytes : kPackedQ4KBytes;
  // How many VPMADDUBSW results a 16-bit sum takes: 8·2·15·127 = 30,480 and 4·2·31·127 = 31,496.
  static constexpr int kSpan = kFifthBit ? 4 : 8;
  // lo, hi: the codes of sub-blocks 2p and 2p + 1 at step s4, half h, of the super-block at block.
  static void load(const uint8_t* block, int p, int s4, int h, __m256i& lo, __m256i& hi) {
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + kQ4KxCodes + 64 * (8 * p + s4) + 32 * h));
    lo = _mm256_and_si256(v, low4);
    hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
    if constexpr (kFifthBit) {
      // Bit 2p of each qh byte to bit 4 for the low nibbles, bit 2p + 1 for the high: one
      // 16-bit shift by a constant (the kernels pass p as one, each_p) and the mask; a shift
      // by at most 4 brings no bit of the other byte to bit 4.
      const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + kQ5KxHigh + 64 * s4 + 32 * h));
      const __m256i bit4 = _mm256_set1_epi8(0x10);
      const __m256i for_lo = p == 0 ? _mm256_slli_epi16(qh, 4) : p == 1 ? _mm256_slli_epi16(qh, 2) : p == 2 ? qh : _mm256_srli_epi16(qh, 2);
      const __m256i for_hi = p == 0 ? _mm256_slli_epi16(qh, 3) : p == 1 ? _mm256_slli_epi16(qh, 1) : p == 2 ? _mm256_srli_epi16(qh, 1) : _mm256_srli_epi16(qh, 3);
      lo = _mm256_or_si256(lo, _mm256_and_si256(for_lo, bit4));
      hi = _mm256_or_si256(hi, _mm256_and_si256(for_hi, bit4));
    }
  }
};

// Calls body(p) for p = 0..3: as constants for Q5_K, whose fifth bits then shift by a constant
// (K4x16Codes::load), in a plain loop for Q4_K (whose kernels were tuned so).
template <bool kConstant, typename Body>
inline void each_p(Body&& body) {
  if constexpr (kConstant) {
    body(std::integral_constant<int, 0>{});
    body(std::integral_constant<int, 1>{});
    body(std::integral_constant<int, 2>{});
    body(std::integral_constant<int, 3>{});
  } else {
    for (int p = 0; p < 4; p++) body(p);
  }
}

// One activation (decode) against the 16 rows: each broadcast of four activation bytes serves
// both halves, and the 16-bit sums (low and high nibbles, two halves) stay in registers
// (keep_in_register: unrolled and reassociated they spilled, which cost decode ~10 % of this
// kernel's time). Prompt batches take gemm_k4x16_halves below.
template <bool kFifthBit>
void gemm_k4x16_one(const uint8_t* group, int64_t nb, const BlockQ8_K* xb, float* out) {
  using Codes = K4x16Codes<kFifthBit>;
  __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* block = group + b * Codes::kBytes;
    const BlockQ8_K& x = xb[b];
    prefetch_ahead(block, kPackedSuperBlocksAhead * Codes::kBytes, Codes::kBytes);  // one activation: prefetch.h
    const PackedHalfScales scales[2] = {PackedHalfScales(block, 0), PackedHalfScales(block, 1)};
    __m256i isum[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
    each_p<kFifthBit>([&](auto p) {
      for (int s0 = 0; s0 < 8; s0 += Codes::kSpan) {
        __m256i lo_sum[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()}, hi_sum[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
        ST_UNROLL
        for (int s4 = s0; s4 < s0 + Codes::kSpan; s4++) {
          const int8_t* xq = x.qs + 64 * p + 4 * s4;
          const __m256i xlo = _mm256_set1_epi32(load_i32(xq)), xhi = _mm256_set1_epi32(load_i32(xq + 32));
          ST_UNROLL
          for (int h = 0; h < 2; h++) {
            __m256i lo, hi;
            Codes::load(block, p, s4, h, lo, hi);
            lo_sum[h] = _mm256_add_epi16(lo_sum[h], _mm256_maddubs_epi16(lo, xlo));
            hi_sum[h] = _mm256_add_epi16(hi_sum[h], _mm256_maddubs_epi16(hi, xhi));
            keep_in_register(lo_sum[h]);
            keep_in_register(hi_sum[h]);
          }
        }
        for (int h = 0; h < 2; h++) {
          isum[h] = _mm256_add_epi32(isum[h], _mm256_add_epi32(_mm256_madd_epi16(lo_sum[h], scales[h].sc16[2 * p]),
                                                               _mm256_madd_epi16(hi_sum[h], scales[h].sc16[2 * p + 1])));
        }
      }
    });
    const Q8KSumPairs sums = sum_pairs(x);
    for (int h = 0; h < 2; h++) acc[h] = scales[h].add_to(acc[h], isum[h], x, sums);
  }
  _mm256_storeu_ps(out, acc[0]);
  _mm256_storeu_ps(out + 8, acc[1]);
}

// N activations (2 to 4, prompt batches) against the 16 rows, one half of 8 rows at a time:
// both halves of two activations at once (the earlier kernel) left the compiler more 16-bit
// sums than the 16 vector registers hold, and it spilled them to the stack between every two
// instructions. Per half, the sums of four activations (8 registers) stay in registers
// (keep_in_register, unroll.h); each activation's bytes are broadcast where they are used (a
// load each, which the load ports absorb). Integer sums are exact and the float steps are
// those of gemm_k4x16_one, in the same order, so the results are the same to the bit.
template <int N, bool kFifthBit>
void gemm_k4x16_halves(const uint8_t* group, int64_t nb, const BlockQ8_K* const* xs, float* out) {
  using Codes = K4x16Codes<kFifthBit>;
  __m256 acc[N][2];
  for (int t = 0; t < N; t++) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* block = group + b * Codes::kBytes;
    Q8KSumPairs sums[N];  // once for both halves
    for (int t = 0; t < N; t++) sums[t] = sum_pairs(xs[t][b]);
    for (int h = 0; h < 2; h++) {
      const PackedHalfScales scales(block, h);
      __m256i isum[N];
      for (int t = 0; t < N; t++) isum[t] = _mm256_setzero_si256();
      each_p<kFifthBit>([&](auto p) {
        for (int s0 = 0; s0 < 8; s0 += Codes::kSpan) {
          __m256i lo_sum[N], hi_sum[N];
          ST_UNROLL
          for (int t = 0; t < N; t++) lo_sum[t] = hi_sum[t] = _mm256_setzero_si256();
          ST_UNROLL
          for (int s4 = s0; s4 < s0 + Codes::kSpan; s4++) {
            __m256i lo, hi;
            Codes::load(block, p, s4, h, lo, hi);
            ST_UNROLL
            for (int t = 0; t < N; t++) {
              const int8_t* x = xs[t][b].qs + 64 * p + 4 * s4;
              lo_sum[t] = _mm256_add_epi16(lo_sum[t], _mm256_maddubs_epi16(lo, _mm256_set1_epi32(load_i32(x))));
              hi_sum[t] = _mm256_add_epi16(hi_sum[t], _mm256_maddubs_epi16(hi, _mm256_set1_epi32(load_i32(x + 32))));
              keep_in_register(lo_sum[t]);
              keep_in_register(hi_sum[t]);
            }
          }
          ST_UNROLL
          for (int t = 0; t < N; t++) {
            isum[t] = _mm256_add_epi32(isum[t], _mm256_add_epi32(_mm256_madd_epi16(lo_sum[t], scales.sc16[2 * p]),
                                                                 _mm256_madd_epi16(hi_sum[t], scales.sc16[2 * p + 1])));
          }
        }
      });
      for (int t = 0; t < N; t++) acc[t][h] = scales.add_to(acc[t][h], isum[t], xs[t][b], sums[t]);
    }
  }
  for (int t = 0; t < N; t++) {
    _mm256_storeu_ps(out + t * kPackRows, acc[t][0]);
    _mm256_storeu_ps(out + t * kPackRows + 8, acc[t][1]);
  }
}

template <bool kFifthBit>
void gemm_k4x16(const uint8_t* group, int64_t nb, const BlockQ8_K* const* xs, int n_x, float* out) {
  in_groups<4>(n_x, [&](int t0, auto acts) {
    if constexpr (decltype(acts)::value == 1) gemm_k4x16_one<kFifthBit>(group, nb, xs[t0], out + t0 * kPackRows);
    else gemm_k4x16_halves<decltype(acts)::value, kFifthBit>(group, nb, xs + t0, out + t0 * kPackRows);
  });
}

// ---- Q6_K packed 16 rows at a time (pack_q6_Kx16), in two halves of 8 rows per vector ----
// The sums of the AVX-VNNI kernel (kernels_avxvnni.cpp) without VPDPBUSD: VPMADDUBSW multiplies
// four codes (0..63) of each row by four activation bytes (|x| ≤ 127) into two 16-bit pair sums
// of at most 2·63·127 = 16,002, two such vectors add up in 16 bits (≤ 32,004), and VPMADDWD
// multiplies them by the sub-block's scale (in both 16-bit halves of the row's lane) into 32
// bits. The offset 32 comes off once per super-block as 32·Σ_m scale_m·Σx_m. Exact integers and
// the reference's float steps, so every table's packed Q6_K gives the same bits.
template <int N>
void gemm_q6_Kx16_n(const uint8_t* group, int64_t nb, const BlockQ8_K* const* xs, float* out) {
  __m256 acc[N][2];
  for (int t = 0; t < N; t++) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* block = group + b * kPackedQ6KBytes;
    if (N == 1) prefetch_ahead(block, kPackedSuperBlocksAhead * kPackedQ6KBytes, kPackedQ6KBytes);  // one activation: prefetch.h
    for (int half = 0; half < 2; half++) {
      const PackedQ6KHalf q6(block, half);
      __m256i isum[N];
      ST_UNROLL for (int t = 0; t < N; t++) isum[t] = _mm256_setzero_si256();
      for (int h = 0; h < 2; h++) {
        ST_UNROLL for (int k = 0; k < 4; k++) {  // unrolled: q6_codes shifts by a constant
          const int m = 8 * h + 2 * k;  // values 128h + 32k + 4g .. +3: sub-block m + g / 4
          const __m256i sc16[2] = {q6.scale16(m), q6.scale16(m + 1)};
          ST_UNROLL for (int gp = 0; gp < 4; gp++) {
            __m256i code[2];
            ST_UNROLL for (int e = 0; e < 2; e++) {
              const int g = 2 * gp + e;
              code[e] = q6_codes(load(block + kQ6KxLow + 64 * (16 * h + 8 * (k % 2) + g) + 32 * half),
                                 load(block + kQ6KxHigh + 64 * (8 * h + g) + 32 * half), k);
            }
            ST_UNROLL for (int t = 0; t < N; t++) {
              const int8_t* x = xs[t][b].qs + 128 * h + 32 * k + 8 * gp;
              const __m256i pairs = _mm256_add_epi16(_mm256_maddubs_epi16(code[0], _mm256_set1_epi32(load_i32(x))),
                                                     _mm256_maddubs_epi16(code[1], _mm256_set1_epi32(load_i32(x + 4))));
              isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(pairs, sc16[gp / 2]));
              keep_in_register(isum[t]);
            }
          }
        }
      }
      ST_UNROLL for (int t = 0; t < N; t++) acc[t][half] = q6.add_to(acc[t][half], isum[t], xs[t][b]);
    }
  }
  for (int t = 0; t < N; t++) {
    _mm256_storeu_ps(out + t * kPackRows, acc[t][0]);
    _mm256_storeu_ps(out + t * kPackRows + 8, acc[t][1]);
  }
}

void gemm_q6_Kx16(const uint8_t* group, int64_t nb, const BlockQ8_K* const* xs, int n_x, float* out) {
  in_groups<4>(n_x, [&](int t0, auto acts) { gemm_q6_Kx16_n<decltype(acts)::value>(group, nb, xs + t0, out + t0 * kPackRows); });
}

// One row of a packed group (the up rows of the few active neurons): its block gathered back,
// then its exact integer sums and the same two fused multiply-adds per super-block.
inline void unpack_x16_row(const uint8_t* block, int lane, BlockQ4_K& w) { unpack_q4_Kx16_row(block, lane, w); }
inline void unpack_x16_row(const uint8_t* block, int lane, BlockQ5_K& w) { unpack_q5_Kx16_row(block, lane, w); }

// Σ_i scale_i · Σ code·x over the eight 32s of one super-block against one activation, as
// eight exact int32 partial sums (the one-row kernels of the packed groups).
template <typename Read>
__m256i scaled_code_sums(const Read& r, const BlockQ8_K& x) {
  __m256i sums = _mm256_setzero_si256();
  for (int i = 0; i < 8; i++) {
    const __m256i c = r.code(i), xi = load(x.qs + 32 * i);
    const __m256i p = SignedCodes<Read>::value ? _mm256_maddubs_epi16(_mm256_sign_epi8(c, c), _mm256_sign_epi8(xi, c))
                                               : _mm256_maddubs_epi16(c, xi);
    sums = _mm256_add_epi32(sums, _mm256_madd_epi16(p, r.scale(i)));
  }
  return sums;
}

// One row of a packed Q4_K or Q5_K group (Block), unpacked back into its super-blocks.
template <typename Block>
float dot_k4x16_row(const uint8_t* group, int64_t nb, int lane, const BlockQ8_K* x) {
  float acc = 0;
  Block w;
  for (int64_t b = 0; b < nb; b++) {
    unpack_x16_row(group + b * kPackRows * sizeof(Block), lane, w);
    const typename Reader<Block>::type r(w);
    const __m256i sums = scaled_code_sums(r, x[b]);
    const int32_t msum = hsum_i32(mins_dot_sums(r.mins16, x[b].bsums));
    acc = std::fma(static_cast<float>(hsum_i32(sums)), r.d * x[b].d, acc);
    acc = std::fma(-static_cast<float>(msum), r.dmin * x[b].d, acc);
  }
  return acc;
}

inline void unpack_x16_row(const uint8_t* block, int lane, BlockQ6_K& w) { unpack_q6_Kx16_row(block, lane, w); }
inline void unpack_x16_row(const uint8_t* block, int lane, BlockIQ4_XS& w) { unpack_iq4_xsx16_row(block, lane, w); }

// One row of a packed Q6_K or IQ4_XS group (one float scale a super-block, no mins), unpacked
// back into its super-blocks: the reader's exact integer sums (Q6_K's offset 32 folded in),
// then the packed contract's one multiply-add.
template <typename Block>
float dot_one_scale_x16_row(const uint8_t* group, int64_t nb, int lane, const BlockQ8_K* x) {
  using Read = typename Reader<Block>::type;
  float acc = 0;
  Block w;
  for (int64_t b = 0; b < nb; b++) {
    unpack_x16_row(group + b * kPackRows * sizeof(Block), lane, w);
    const Read r(w);
    acc = std::fma(static_cast<float>(hsum_i32(CodeOffset<Read>::fold(r, scaled_code_sums(r, x[b]), x[b]))), r.d * x[b].d, acc);
  }
  return acc;
}

// x (n floats, n a multiple of 256) as Q8_K blocks, byte for byte what the scalar reference
// writes: the value of largest magnitude (the first, on a tie) maps to −127, codes are
// rounded to nearest even (nearbyint in the default mode) and capped at 127.
void quantize_row_q8_K(const float* x, BlockQ8_K* y, int64_t n) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int64_t b = 0; b < n / kQK_K; b++) {
    const float* xb = x + b * kQK_K;
    __m256 amax_v = _mm256_setzero_ps();
    for (int j = 0; j < kQK_K; j += 8) amax_v = _mm256_max_ps(amax_v, _mm256_andnot_ps(sign, _mm256_loadu_ps(xb + j)));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(amax_v), _mm256_extractf128_ps(amax_v, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
    if (amax == 0) {
      std::memset(&y[b], 0, sizeof y[b]);
      continue;
    }
    float max = 0;
    const __m256 target = _mm256_set1_ps(amax);
    for (int j = 0; j < kQK_K; j += 8) {
      const int hits = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(xb + j)), target, _CMP_EQ_OQ));
      if (hits) {
        max = xb[j + __builtin_ctz(static_cast<unsigned>(hits))];
        break;
      }
    }
    const float iscale = -127.0f / max;
    const __m256 scale = _mm256_set1_ps(iscale);
    const __m256i cap = _mm256_set1_epi32(127);
    for (int g = 0; g < kQK_K / 16; g++) {
      __m256i q[2];
      for (int h = 0; h < 2; h++) {
        const __m256 v = _mm256_mul_ps(scale, _mm256_loadu_ps(xb + 16 * g + 8 * h));
        q[h] = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)), cap);
      }
      // 16 int32 -> 16 int8 in order (the packs work within 128-bit lanes).
      const __m256i w16 = _mm256_permute4x64_epi64(_mm256_packs_epi32(q[0], q[1]), _MM_SHUFFLE(3, 1, 2, 0));
      const __m128i w8 = _mm_packs_epi16(_mm256_castsi256_si128(w16), _mm256_extracti128_si256(w16, 1));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(y[b].qs + 16 * g), w8);
      y[b].bsums[g] = static_cast<int16_t>(hsum_i32(_mm256_add_epi32(q[0], q[1])));
    }
    y[b].d = 1.0f / iscale;
  }
}

}  // namespace

namespace {
// The 32 code vectors of super-block column b (Q4_K×16's and IQ4_XS×16's, the same bytes the
// scalar packing places) four rows and four words at a time (store_words_transposed_4x4).
template <typename Block>
void pack_code_words_transposing(const Block* rows, int64_t row_stride, int64_t b, uint8_t* codes) {
  for (int r0 = 0; r0 < kPackRows; r0 += 4) {
    for (int j = 0; j < 8; j++) {  // code words 4j..4j+3 of each row: vectors 4j..4j+3
      const uint8_t* qs[4];
      for (int i = 0; i < 4; i++) qs[i] = rows[(r0 + i) * row_stride + b].qs + 16 * j;
      store_words_transposed_4x4(qs, codes + 64 * 4 * j + 4 * r0, 64);
    }
  }
}

// The packings of pack_q4_Kx16 and pack_iq4_xsx16 (the same bytes): per super-block column,
// what is not codes as the scalar packing places it, then the codes.
void pack_q4_Kx16_transposing(const BlockQ4_K* rows, int64_t row_stride, int64_t nb, uint8_t* out) {
  for (int64_t b = 0; b < nb; b++) {
    uint8_t* block = out + b * kPackedQ4KBytes;
    pack_q4_Kx16_scales(rows, row_stride, b, block);
    pack_code_words_transposing(rows, row_stride, b, block + kQ4KxCodes);
  }
}
void pack_iq4_xsx16_transposing(const BlockIQ4_XS* rows, int64_t row_stride, int64_t nb, uint8_t* out) {
  for (int64_t b = 0; b < nb; b++) {
    uint8_t* block = out + b * kPackedIQ4XSBytes;
    pack_iq4_xsx16_scales(rows, row_stride, b, block);
    pack_code_words_transposing(rows, row_stride, b, block + kIQ4XSxCodes);
  }
}
}  // namespace

void add_avx2_kquant_kernels(KernelTable& t) {
  t.gemm_q4_Kx16 = gemm_k4x16<false>;
  t.gemm_q5_Kx16 = gemm_k4x16<true>;
  t.pack_q4_Kx16 = pack_q4_Kx16_transposing;
  t.dot_q4_Kx16_row = dot_k4x16_row<BlockQ4_K>;
  t.dot_q5_Kx16_row = dot_k4x16_row<BlockQ5_K>;
  t.gemm_q6_Kx16 = gemm_q6_Kx16;
  t.dot_q6_Kx16_row = dot_one_scale_x16_row<BlockQ6_K>;
  // IQ4_XS×16's one-row kernel and packing for the VNNI tables that build on this one: without
  // VPDPBUSD the looked-up codes (kIQ4Values + 128, up to 241) overflow VPMADDUBSW's 16-bit
  // pair sums, so this table keeps IQ4_XS rows as in the file.
  t.dot_iq4_xsx16_row = dot_one_scale_x16_row<BlockIQ4_XS>;
  t.pack_iq4_xsx16 = pack_iq4_xsx16_transposing;
  t.quantize_row_q8_K = quantize_row_q8_K;
  t.q4_K.dot = dot<BlockQ4_K>;
  t.q4_K.dot4 = dot4<BlockQ4_K>;
  t.q5_K.dot = dot<BlockQ5_K>;
  t.q5_K.dot4 = dot4<BlockQ5_K>;
  t.q6_K.dot = dot<BlockQ6_K>;
  t.q6_K.dot4 = dot4<BlockQ6_K>;
  t.q2_K.dot = dot<BlockQ2_K>;
  t.q2_K.dot4 = dot4<BlockQ2_K>;
  t.q3_K.dot = dot<BlockQ3_K>;
  t.q3_K.dot4 = dot4<BlockQ3_K>;
  t.iq4_xs.dot = dot<BlockIQ4_XS>;
  t.iq4_xs.dot4 = dot4<BlockIQ4_XS>;
}

}  // namespace st::kernels
#endif
