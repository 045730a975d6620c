// AVX-512 (BW, VNNI) dot products of Q2_K, Q3_K, Q4_K, Q5_K and Q6_K rows against four Q8_K activations
// (prefill; one activation stays with AVX2): the same reading of the layouts as
// kquants_avx2.cpp, 64 values per step instead of 32; and the packed 16-row products of Q4_K,
// Q5_K, Q6_K and IQ4_XS (…x16, kernels.h). The
// codes (unsigned bytes) times the activation's bytes give 16-bit pair sums (VPMADDUBSW),
// which VPDPWSSD multiplies by the sub-block scales and adds into 32-bit sums in one
// instruction. Each super-block's integer sum is exact; the float sums run in vector lanes.
// Compiled with the AVX-512 flags and used only after dispatch.cpp has checked the CPU.
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "count_dispatch.h"
#include "hsum_x86.h"
#include "load_unsplit_avx512.h"
#include "kernels.h"
#include "prefetch.h"
#include "kquant_scales_x86.h"
#include "unroll.h"

namespace st::kernels {
namespace {

inline float half(uint16_t h) { return _cvtsh_ss(h); }
inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline __m512i load512(const void* p) { return _mm512_loadu_si512(p); }
// Two 32-byte halves as one vector: a in values 0..31, b in 32..63.
inline __m512i join(__m256i a, __m256i b) { return _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1); }

// Each 16-bit lane of 128-bit lane j gets 16-bit lane idx[j] of `v` (which holds the same
// eight 16-bit values in all four 128-bit lanes).
inline __m512i pick_per_lane(__m512i v, int i0, int i1, int i2, int i3) {
  auto pair = [](int i) { return static_cast<int16_t>((2 * i) | ((2 * i + 1) << 8)); };
  const __m512i mask = _mm512_inserti64x4(
      _mm512_castsi256_si512(_mm256_set_m128i(_mm_set1_epi16(pair(i1)), _mm_set1_epi16(pair(i0)))),
      _mm256_set_m128i(_mm_set1_epi16(pair(i3)), _mm_set1_epi16(pair(i2))), 1);
  return _mm512_shuffle_epi8(v, mask);
}


struct K4Scales {
  __m512i scales;  // the eight scales as 16-bit lanes, in every 128-bit lane
  __m128i mins16;
  float d, dmin;
  K4Scales(const uint8_t* packed, uint16_t d16, uint16_t dmin16) {
    const __m128i bytes = scales_mins_k4(packed);
    scales = _mm512_broadcast_i32x4(_mm_cvtepu8_epi16(bytes));
    mins16 = _mm_cvtepu8_epi16(_mm_srli_si128(bytes, 8));
    d = half(d16);
    dmin = half(dmin16);
  }
  __m512i folded(__m512i sums, const BlockQ8_K&) const { return sums; }
  // Values 64p .. 64p+64 are sub-blocks 2p and 2p+1.
  __m512i scale(int p) const { return pick_per_lane(scales, 2 * p, 2 * p, 2 * p + 1, 2 * p + 1); }
  __m128 offset(const BlockQ8_K& x, __m128 acc) const {
    const __m128i pairs = _mm_hadd_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x.bsums)),
                                         _mm_loadu_si128(reinterpret_cast<const __m128i*>(x.bsums + 8)));
    return _mm_fmadd_ps(_mm_set1_ps(x.d * dmin), _mm_cvtepi32_ps(_mm_madd_epi16(pairs, mins16)), acc);
  }
};

// Sub-block pair p is qs[32p .. 32p+32): low nibbles (values 64p..64p+32), then high ones.
inline __m512i nibbles(const uint8_t* qs, int p) {
  const __m256i q = load256(qs + 32 * p);
  return _mm512_and_si512(join(q, _mm256_srli_epi16(q, 4)), _mm512_set1_epi8(0x0f));
}

struct Q4KBlock : K4Scales {
  const BlockQ4_K& w;
  explicit Q4KBlock(const BlockQ4_K& b) : K4Scales(b.scales, b.d, b.dmin), w(b) {}
  __m512i code(int p) const { return nibbles(w.qs, p); }
};

// Q5_K: the fifth bit of sub-block i is bit i of qh, moved to bit 4 of each byte.
struct Q5KBlock : K4Scales {
  const BlockQ5_K& w;
  explicit Q5KBlock(const BlockQ5_K& b) : K4Scales(b.scales, b.d, b.dmin), w(b) {}
  __m512i code(int p) const {
    const __m256i qh = load256(w.qh);
    const __m512i bits = join(_mm256_srli_epi16(qh, 2 * p), _mm256_srli_epi16(qh, 2 * p + 1));
    return _mm512_or_si512(nibbles(w.qs, p), _mm512_slli_epi16(_mm512_and_si512(bits, _mm512_set1_epi8(1)), 4));
  }
};

// The sixteen scales of sub-blocks of 16 (Q2_K, Q3_K, Q6_K) for 64 values at a time: values
// 64p .. 64p+64 span sub-blocks 4p .. 4p+3, one per 128-bit lane.
struct Scales16 {
  __m128i scales16[2];  // scales 0..7 and 8..15 as 16-bit lanes
  __m512i halves[2];    // each of those in every 128-bit lane
  explicit Scales16(__m128i sc8_signed) {
    scales16[0] = _mm_cvtepi8_epi16(sc8_signed);
    scales16[1] = _mm_cvtepi8_epi16(_mm_srli_si128(sc8_signed, 8));
    halves[0] = _mm512_broadcast_i32x4(scales16[0]);
    halves[1] = _mm512_broadcast_i32x4(scales16[1]);
  }
  __m512i scale(int p) const {
    const int h = p / 2, k = p % 2;
    return pick_per_lane(halves[h], 4 * k, 4 * k + 1, 4 * k + 2, 4 * k + 3);
  }
  // Σ_m scale_m · Σx over sub-block m, as four int32 partial sums.
  __m128i times_sums(const BlockQ8_K& x) const {
    return _mm_add_epi32(_mm_madd_epi16(scales16[0], _mm_loadu_si128(reinterpret_cast<const __m128i*>(x.bsums))),
                         _mm_madd_epi16(scales16[1], _mm_loadu_si128(reinterpret_cast<const __m128i*>(x.bsums + 8))));
  }
  // sums − 2^shift·Σ scale·Σx: a code offset taken off the integer sums (exact; see kquants_avx2.cpp).
  __m512i fold_offset(__m512i sums, const BlockQ8_K& x, int shift) const {
    return _mm512_sub_epi32(sums, _mm512_inserti32x4(_mm512_setzero_si512(), _mm_sll_epi32(times_sums(x), _mm_cvtsi32_si128(shift)), 0));
  }
};

// Q6_K: values 128h + 64k .. +64 are 32v + l for v = 2k, 2k+1: low bits from ql[64h .. 64h+64)
// (the high nibbles when k = 1), high bits from qh[32h + l] >> 2v. Each 16 values has its
// own scale, i.e. each 128-bit lane: scales[8h + 4k + j] for lane j.
struct Q6KBlock : Scales16 {
  const BlockQ6_K& w;
  float d;
  explicit Q6KBlock(const BlockQ6_K& b)
      : Scales16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales))), w(b), d(half(b.d)) {}
  __m512i code(int i) const {
    const int h = i / 2, k = i % 2;
    const __m512i l = load512(w.ql + 64 * h);
    const __m512i low = _mm512_and_si512(k ? _mm512_srli_epi16(l, 4) : l, _mm512_set1_epi8(0x0f));
    const __m256i qh = load256(w.qh + 32 * h);
    const __m512i bits = join(_mm256_srli_epi16(qh, 4 * k), _mm256_srli_epi16(qh, 4 * k + 2));
    return _mm512_or_si512(low, _mm512_slli_epi16(_mm512_and_si512(bits, _mm512_set1_epi8(3)), 4));
  }
  // The code offset 32 comes off the integer sums.
  __m512i folded(__m512i sums, const BlockQ8_K& x) const { return fold_offset(sums, x, 5); }
  __m128 offset(const BlockQ8_K&, __m128 acc) const { return acc; }
};

// Two-bit fields of qs[32h .. 32h+32) for values 64p .. 64p+64 (h = p / 2): fields 2(p % 2) and
// 2(p % 2) + 1, i.e. values 128h + 32j + l for j = 2(p % 2), 2(p % 2) + 1 (Q2_K and Q3_K).
inline __m512i two_bit_pair(const uint8_t* qs, int p) {
  const __m256i q = load256(qs + 32 * (p / 2));
  const int j = 2 * (p % 2);
  return _mm512_and_si512(join(_mm256_srli_epi16(q, 2 * j), _mm256_srli_epi16(q, 2 * j + 2)), _mm512_set1_epi8(3));
}

// Q2_K: codes 0..3, sixteen scales (low nibbles) and mins (high nibbles) of 16 values.
struct Q2KBlock : Scales16 {
  const BlockQ2_K& w;
  Scales16 mins;
  float d, dmin;
  explicit Q2KBlock(const BlockQ2_K& b)
      : Scales16(_mm_and_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales)), _mm_set1_epi8(0x0f))),
        w(b),
        mins(_mm_and_si128(_mm_srli_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales)), 4), _mm_set1_epi8(0x0f))),
        d(half(b.d)),
        dmin(half(b.dmin)) {}
  __m512i code(int p) const { return two_bit_pair(w.qs, p); }
  __m512i folded(__m512i sums, const BlockQ8_K&) const { return sums; }
  __m128 offset(const BlockQ8_K& x, __m128 acc) const {
    return _mm_fmadd_ps(_mm_set1_ps(x.d * dmin), _mm_cvtepi32_ps(mins.times_sums(x)), acc);
  }
};

// Q3_K: codes 0..7 standing for code − 4 (two bits in qs, the third in hmask: bit 4h+j of
// hmask[l] for values 128h + 32j + l, i.e. bits 2p and 2p + 1 for values 64p .. 64p+64);
// sixteen six-bit scales (value − 32, kquant_scales_x86.h).
struct Q3KBlock : Scales16 {
  const BlockQ3_K& w;
  float d;
  explicit Q3KBlock(const BlockQ3_K& b) : Scales16(scales_q3_K(b.scales)), w(b), d(half(b.d)) {}
  __m512i code(int p) const {
    const __m256i hm = load256(w.hmask);
    const __m512i high = _mm512_and_si512(join(_mm256_srli_epi16(hm, 2 * p), _mm256_srli_epi16(hm, 2 * p + 1)), _mm512_set1_epi8(1));
    return _mm512_or_si512(two_bit_pair(w.qs, p), _mm512_slli_epi16(high, 2));
  }
  // The code offset 4 comes off the integer sums, as Q6_K's 32 does.
  __m512i folded(__m512i sums, const BlockQ8_K& x) const { return fold_offset(sums, x, 2); }
  __m128 offset(const BlockQ8_K&, __m128 acc) const { return acc; }
};

template <typename Block> struct Reader;
template <> struct Reader<BlockQ4_K> { using type = Q4KBlock; };
template <> struct Reader<BlockQ5_K> { using type = Q5KBlock; };
template <> struct Reader<BlockQ6_K> { using type = Q6KBlock; };
template <> struct Reader<BlockQ2_K> { using type = Q2KBlock; };
template <> struct Reader<BlockQ3_K> { using type = Q3KBlock; };

// m activations against one row, each 64 of codes decoded once for all of them. Only the
// four-activation form is used: one activation alone waits on each VPDPWSSD's latency, and
// the AVX2 kernel was faster for it here (AMD Zen 4: 6.9 against 9.0 ns per super-block);
// Q6_K's one-activation kernel is dot_q6_K_one below.
template <typename Block, int m>
void dot_rows(const void* wv, const BlockQ8_K* const* xs, int64_t n, float* out) {
  using Read = typename Reader<Block>::type;
  const auto* w = static_cast<const Block*>(wv);
  __m512 acc[m];
  __m128 off[m];
  ST_UNROLL
  for (int t = 0; t < m; t++) {
    acc[t] = _mm512_setzero_ps();
    off[t] = _mm_setzero_ps();
  }
  for (int64_t b = 0; b < n / kQK_K; b++) {
    const Read r(w[b]);
    __m512i sums[m];
    ST_UNROLL
    for (int t = 0; t < m; t++) sums[t] = _mm512_setzero_si512();
    ST_UNROLL
    for (int i = 0; i < 4; i++) {
      const __m512i c = r.code(i), sc = r.scale(i);
      ST_UNROLL
      for (int t = 0; t < m; t++) sums[t] = _mm512_dpwssd_epi32(sums[t], _mm512_maddubs_epi16(c, load512(xs[t][b].qs + 64 * i)), sc);
    }
    ST_UNROLL
    for (int t = 0; t < m; t++) {
      const BlockQ8_K& x = xs[t][b];
      acc[t] = _mm512_fmadd_ps(_mm512_set1_ps(x.d * r.d), _mm512_cvtepi32_ps(r.folded(sums[t], x)), acc[t]);
      off[t] = r.offset(x, off[t]);
    }
  }
  for (int t = 0; t < m; t++) out[t] = _mm512_reduce_add_ps(acc[t]) - hsum(off[t]);
}

template <typename Block>
void dot4(const void* w, const void* const* xs, int64_t n, float* out) {
  dot_rows<Block, 4>(w, reinterpret_cast<const BlockQ8_K* const*>(xs), n, out);
}

// ---- Q6_K against one activation (decode: the head, and the down projections llama-quantize
// gives Q6_K), 64 values per step. Where the AVX2 reader takes ~8 vector operations for each
// 32 values, this takes ~7 for 64: the high bits of both quarters in one vector come from one
// broadcast of qh, masked and shifted per 256-bit half (VPSLLVW/VPSRLVW), and joined to the
// nibbles with one VPTERNLOGD. The head is a token's largest matrix (190 MB on the 4B), and
// the AVX2 reader left it bound by the arithmetic rather than the memory. The 16 lanes' integer
// sums fold into the AVX2 reader's 8 (lane j and j + 8 cover the same positions of their 32
// values) before the same float steps, so the results are the AVX2 kernel's to the bit. ----

// Each 16-bit lane of 128-bit lane j gets 16-bit lane 4k + j of `v` (which holds the same eight
// 16-bit scales in every 128-bit lane): the scales of values 64k .. 64k+64 of a 128.
inline __m512i scales_of_quarter_pair(__m512i v, int k) { return pick_per_lane(v, 4 * k, 4 * k + 1, 4 * k + 2, 4 * k + 3); }

float dot_q6_K_one(const void* wv, const void* xv, int64_t n) {
  const auto* w = static_cast<const BlockQ6_K*>(wv);
  const auto* x = static_cast<const BlockQ8_K*>(xv);
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  // Bytes 0..31 of a 64 hold quarter 2k's values, bytes 32..63 quarter 2k+1's: the low pair
  // (k = 0) takes qh bits 0-1 and 2-3 to bits 4-5, the high pair (k = 1) bits 4-5 and 6-7.
  const __m512i mask_lo = _mm512_inserti64x4(_mm512_set1_epi8(0x03), _mm256_set1_epi8(0x0c), 1);
  const __m512i shift_lo = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
  const __m512i mask_hi = _mm512_inserti64x4(_mm512_set1_epi8(0x30), _mm256_set1_epi8(static_cast<char>(0xc0)), 1);
  const __m512i shift_hi = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / kQK_K; b++) {
    prefetch_ahead(w + b, kSuperBlocksAhead * sizeof(BlockQ6_K), sizeof(BlockQ6_K));  // as the AVX2 kernel (prefetch.h)
    const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].scales));
    const __m128i sc16[2] = {_mm_cvtepi8_epi16(sc8), _mm_cvtepi8_epi16(_mm_srli_si128(sc8, 8))};
    __m512i sums = _mm512_setzero_si512();
    ST_UNROLL
    for (int h = 0; h < 2; h++) {
      const __m512i scales = _mm512_broadcast_i32x4(sc16[h]);
      const __m512i l = load512(w[b].ql + 64 * h);
      const __m512i qh = _mm512_broadcast_i64x4(load256(w[b].qh + 32 * h));
      // (a & b) | c in one VPTERNLOGD: 0xf0 & 0xcc | 0xaa = 0xea.
      const __m512i code_lo = _mm512_ternarylogic_epi32(l, low4, _mm512_sllv_epi16(_mm512_and_si512(qh, mask_lo), shift_lo), 0xea);
      const __m512i code_hi =
          _mm512_ternarylogic_epi32(_mm512_srli_epi16(l, 4), low4, _mm512_srlv_epi16(_mm512_and_si512(qh, mask_hi), shift_hi), 0xea);
      const __m512i p_lo = _mm512_maddubs_epi16(code_lo, load512(x[b].qs + 128 * h));
      const __m512i p_hi = _mm512_maddubs_epi16(code_hi, load512(x[b].qs + 128 * h + 64));
      sums = _mm512_add_epi32(sums, _mm512_madd_epi16(p_lo, scales_of_quarter_pair(scales, 0)));
      sums = _mm512_add_epi32(sums, _mm512_madd_epi16(p_hi, scales_of_quarter_pair(scales, 1)));
    }
    __m256i sums8 = _mm256_add_epi32(_mm512_castsi512_si256(sums), _mm512_extracti64x4_epi64(sums, 1));
    // The code offset 32 off the integer sums, as the AVX2 reader folds it.
    const __m128i prod = _mm_add_epi32(_mm_madd_epi16(sc16[0], _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].bsums))),
                                       _mm_madd_epi16(sc16[1], _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].bsums + 8))));
    sums8 = _mm256_sub_epi32(sums8, _mm256_inserti128_si256(_mm256_setzero_si256(), _mm_slli_epi32(prod, 5), 0));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(x[b].d * half(w[b].d)), _mm256_cvtepi32_ps(sums8), acc);
  }
  return hsum(acc) - hsum(_mm_setzero_ps());
}

// ---- Q4_K packed 16 rows at a time (pack_q4_Kx16): lane r of every vector is row r ----

inline int32_t load_i32(const void* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

constexpr size_t kScaleWords = kQ4KxScaleWords, kD = kQ4KxD, kDmin = kQ4KxDmin, kCodes = kQ4KxCodes;

// The sixteen rows' scales and mins of sub-block i as 32-bit lanes (sc[i], mn[i]), from the
// three packed words per row: the same bit operations as scales_mins_k4, sixteen rows at once.
inline void packed_scales(const uint8_t* block, __m512i* sc, __m512i* mn) {
  const __m512i u0 = load512(block + kScaleWords), u1 = load512(block + kScaleWords + 64), u2 = load512(block + kScaleWords + 128);
  const __m512i m63 = _mm512_set1_epi32(0x3f3f3f3f), m15 = _mm512_set1_epi32(0x0f0f0f0f), m3 = _mm512_set1_epi32(0x03030303);
  const __m512i sc_lo = _mm512_and_si512(u0, m63), mn_lo = _mm512_and_si512(u1, m63);
  const __m512i sc_hi = _mm512_or_si512(_mm512_and_si512(u2, m15), _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(u0, 6), m3), 4));
  const __m512i mn_hi =
      _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(u2, 4), m15), _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(u1, 6), m3), 4));
  const __m512i byte = _mm512_set1_epi32(0xff);
  for (int k = 0; k < 4; k++) {
    sc[k] = _mm512_and_si512(_mm512_srli_epi32(sc_lo, 8 * k), byte);
    sc[k + 4] = _mm512_and_si512(_mm512_srli_epi32(sc_hi, 8 * k), byte);
    mn[k] = _mm512_and_si512(_mm512_srli_epi32(mn_lo, 8 * k), byte);
    mn[k + 4] = _mm512_and_si512(_mm512_srli_epi32(mn_hi, 8 * k), byte);
  }
}

// Two 32-bit lanes of scales (or mins) as one 16-bit pair per lane, lo in the low half.
inline __m512i pair16(__m512i lo, __m512i hi) {
  return _mm512_or_si512(_mm512_and_si512(lo, _mm512_set1_epi32(0xffff)), _mm512_slli_epi32(hi, 16));
}

// Σ_i v_i·S_i per row, for the sixteen rows' values of the eight sub-blocks of 32 paired as
// pair16(v_2k, v_2k+1) in pairs[k], and the activation's sums of 32 values S_i (in 16 bits:
// |S_i| ≤ 4,064). VPHADDW puts pair k (S_2k low, S_2k+1 high) in 32-bit lane 0, 1, 4, 5 (it adds
// within 128-bit lanes); each is broadcast to every lane for one VPDPWSSD: vector operations,
// not scalar code per pair.
inline __m512i times_sums_of_32(const __m512i* pairs, const BlockQ8_K& x) {
  const __m256i bsums = load256(x.bsums);
  const __m512i s = _mm512_castsi256_si512(_mm256_hadd_epi16(bsums, bsums));
  __m512i sum = _mm512_setzero_si512();
  for (int k = 0; k < 4; k++) sum = _mm512_dpwssd_epi32(sum, pairs[k], _mm512_permutexvar_epi32(_mm512_set1_epi32(k < 2 ? k : k + 2), s));
  return sum;
}

// Q4_K (kFifthBit false) or Q5_K (true: pack_q5_Kx16's super-blocks, whose fifth bits of
// sub-block i, bit i of the qh vectors, go to bit 4 of each code).
template <int N, bool kFifthBit>
void gemm_k4x16_n(const uint8_t* group, int64_t nb, const BlockQ8_K* const* xs, float* out) {
  constexpr size_t kBytes = kFifthBit ? kPackedQ5KBytes : kPackedQ4KBytes;
  const __m512i low4 = _mm512_set1_epi8(0x0f), one = _mm512_set1_epi8(1);
  __m512 acc[N];
  ST_UNROLL
  for (int t = 0; t < N; t++) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* block = group + b * kBytes;
    if (N == 1) prefetch_ahead(block, kPackedSuperBlocksAhead * kBytes, kBytes);  // as the AVX2 kernel (prefetch.h)
    __m512i sc[8], mn[8];
    packed_scales(block, sc, mn);
    // Mins in 16-bit pairs (each ≤ 63), for VPDPWSSD against pairs of the activation's sums.
    __m512i mn_pairs[4];
    for (int k = 0; k < 4; k++) mn_pairs[k] = pair16(mn[2 * k], mn[2 * k + 1]);
    __m512i isum[N];
    ST_UNROLL
    for (int t = 0; t < N; t++) isum[t] = _mm512_setzero_si512();
    for (int p = 0; p < 4; p++) {
      // Few activations would wait on each VPDPBUSD's latency: their sums are split in C
      // independent chains (integer addition is exact, so the split changes nothing).
      constexpr int C = N == 1 ? 4 : N == 2 ? 2 : 1;
      __m512i lo_sum[N][C], hi_sum[N][C];
      ST_UNROLL
      for (int t = 0; t < N; t++) {
        for (int c = 0; c < C; c++) lo_sum[t][c] = hi_sum[t][c] = _mm512_setzero_si512();
      }
      ST_UNROLL
      for (int s4 = 0; s4 < 8; s4++) {
        const __m512i v = load512(block + kCodes + 64 * (8 * p + s4));
        __m512i lo = _mm512_and_si512(v, low4), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
        if constexpr (kFifthBit) {  // bits 2p and 2p+1 of each byte, to bit 4 (16-bit shifts: each byte is 0 or 1 once masked)
          const __m512i h = load512(block + kQ5KxHigh + 64 * s4);
          lo = _mm512_or_si512(lo, _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(h, 2 * p), one), 4));
          hi = _mm512_or_si512(hi, _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(h, 2 * p + 1), one), 4));
        }
        ST_UNROLL
        for (int t = 0; t < N; t++) {
          const int8_t* x = xs[t][b].qs + 64 * p + 4 * s4;
          lo_sum[t][s4 % C] = _mm512_dpbusd_epi32(lo_sum[t][s4 % C], lo, _mm512_set1_epi32(load_i32(x)));
          hi_sum[t][s4 % C] = _mm512_dpbusd_epi32(hi_sum[t][s4 % C], hi, _mm512_set1_epi32(load_i32(x + 32)));
        }
      }
      ST_UNROLL
      for (int t = 0; t < N; t++) {
        __m512i lo = lo_sum[t][0], hi = hi_sum[t][0];
        for (int c = 1; c < C; c++) {
          lo = _mm512_add_epi32(lo, lo_sum[t][c]);
          hi = _mm512_add_epi32(hi, hi_sum[t][c]);
        }
        isum[t] = _mm512_add_epi32(isum[t], _mm512_add_epi32(_mm512_mullo_epi32(lo, sc[2 * p]), _mm512_mullo_epi32(hi, sc[2 * p + 1])));
      }
    }
    const __m512 d = _mm512_cvtph_ps(load256(block + kD)), dmin = _mm512_cvtph_ps(load256(block + kDmin));
    ST_UNROLL
    for (int t = 0; t < N; t++) {
      const BlockQ8_K& x = xs[t][b];
      const __m512i msum = times_sums_of_32(mn_pairs, x);
      const __m512 xd = _mm512_set1_ps(x.d);
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(d, xd), acc[t]);
      acc[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(msum), _mm512_mul_ps(dmin, xd), acc[t]);
    }
  }
  for (int t = 0; t < N; t++) _mm512_storeu_ps(out + t * kPackRows, acc[t]);
}

template <bool kFifthBit>
void gemm_k4x16(const uint8_t* group, int64_t nb, const BlockQ8_K* const* xs, int n_x, float* out) {
  // Four activations at a time keep the sums in registers.
  in_groups<4>(n_x, [&](int t0, auto acts) { gemm_k4x16_n<decltype(acts)::value, kFifthBit>(group, nb, xs + t0, out + t0 * kPackRows); });
}

// ---- IQ4_XS packed 16 rows at a time (pack_iq4_xsx16): lane r of every vector is row r ----
// Code vector 4i + s holds codes 4s..4s+3 of sub-block i in its low nibbles and 16+4s..16+4s+3
// in its high ones; one VPSHUFB turns each nibble into kIQ4Values[q] + 128 (1..241, the
// unsigned operand of VPDPBUSD). Each sub-block's sums are multiplied by its scale (VPMULLD),
// and the 128 comes off once per super-block as 128·Σ_i scale_i·Σx_i (VPDPWSSD of scale pairs
// against pairs of the activation's sums of 32). Exact integers (|I| < 2²⁸), then the packed
// contract's one multiply-add per row and super-block.

// The sixteen rows' scales (six bits − 32) of sub-block i as 32-bit lanes: the low four bits
// at bit 4i of each row's scales_l word, the high two at bit 2i of its scales_h.
inline void iq4_xs_scales(const uint8_t* block, __m512i* sc) {
  const __m512i low = load512(block + kIQ4XSxScalesL), high = _mm512_cvtepu16_epi32(load256(block + kIQ4XSxScalesH));
  const __m512i m15 = _mm512_set1_epi32(15), m3 = _mm512_set1_epi32(3), offset = _mm512_set1_epi32(32);
  for (int i = 0; i < 8; i++) {
    const __m512i l = _mm512_and_si512(_mm512_srli_epi32(low, 4 * i), m15);
    const __m512i h = _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(high, 2 * i), m3), 4);
    sc[i] = _mm512_sub_epi32(_mm512_or_si512(l, h), offset);
  }
}

template <int N>
void gemm_iq4_xsx16_n(const uint8_t* group, int64_t nb, const BlockQ8_K* const* xs, float* out) {
  const __m512i low4 = _mm512_set1_epi8(0x0f), values = _mm512_broadcast_i32x4(iq4_values_plus_128());
  __m512 acc[N];
  ST_UNROLL
  for (int t = 0; t < N; t++) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* block = group + b * kPackedIQ4XSBytes;
    if (N == 1) prefetch_ahead(block, kPackedSuperBlocksAhead * kPackedIQ4XSBytes, kPackedIQ4XSBytes);  // as the Q4_K kernel
    __m512i sc[8];
    iq4_xs_scales(block, sc);
    __m512i isum[N];
    ST_UNROLL
    for (int t = 0; t < N; t++) isum[t] = _mm512_setzero_si512();
    for (int i = 0; i < 8; i++) {
      // Few activations would wait on each VPDPBUSD's latency: their sums are split in C
      // independent chains (integer addition is exact, so the split changes nothing).
      constexpr int C = N == 1 ? 4 : 2;
      __m512i sub[N][C];
      ST_UNROLL
      for (int t = 0; t < N; t++) {
        for (int c = 0; c < C; c++) sub[t][c] = _mm512_setzero_si512();
      }
      ST_UNROLL
      for (int s = 0; s < 4; s++) {
        const __m512i v = load512(block + kIQ4XSxCodes + 64 * (4 * i + s));
        const __m512i lo = _mm512_shuffle_epi8(values, _mm512_and_si512(v, low4));
        const __m512i hi = _mm512_shuffle_epi8(values, _mm512_and_si512(_mm512_srli_epi16(v, 4), low4));
        ST_UNROLL
        for (int t = 0; t < N; t++) {
          const int8_t* x = xs[t][b].qs + 32 * i + 4 * s;
          sub[t][(2 * s) % C] = _mm512_dpbusd_epi32(sub[t][(2 * s) % C], lo, _mm512_set1_epi32(load_i32(x)));
          sub[t][(2 * s + 1) % C] = _mm512_dpbusd_epi32(sub[t][(2 * s + 1) % C], hi, _mm512_set1_epi32(load_i32(x + 16)));
        }
      }
      ST_UNROLL
      for (int t = 0; t < N; t++) {
        __m512i sum = sub[t][0];
        for (int c = 1; c < C; c++) sum = _mm512_add_epi32(sum, sub[t][c]);
        isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(sum, sc[i]));
      }
    }
    // Scales in 16-bit pairs (each −32..31), for VPDPWSSD against pairs of the activation's sums.
    __m512i sc_pairs[4];
    for (int k = 0; k < 4; k++) sc_pairs[k] = pair16(sc[2 * k], sc[2 * k + 1]);
    const __m512 d = _mm512_cvtph_ps(load256(block + kIQ4XSxD));
    ST_UNROLL
    for (int t = 0; t < N; t++) {
      const BlockQ8_K& x = xs[t][b];
      const __m512i total = _mm512_sub_epi32(isum[t], _mm512_slli_epi32(times_sums_of_32(sc_pairs, x), 7));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(total), _mm512_mul_ps(d, _mm512_set1_ps(x.d)), acc[t]);
    }
  }
  for (int t = 0; t < N; t++) _mm512_storeu_ps(out + t * kPackRows, acc[t]);
}

void gemm_iq4_xsx16(const uint8_t* group, int64_t nb, const BlockQ8_K* const* xs, int n_x, float* out) {
  // Four activations at a time keep the sums in registers.
  in_groups<4>(n_x, [&](int t0, auto acts) { gemm_iq4_xsx16_n<decltype(acts)::value>(group, nb, xs + t0, out + t0 * kPackRows); });
}

// ---- Q6_K packed 16 rows at a time (pack_q6_Kx16): lane r of every vector is row r ----
// Values 128h + 32k + l of a super-block: the low four bits are nibble k / 2 of ql vector
// 16h + 8(k % 2) + l / 4, the high two bits 2k, 2k+1 of qh vector 8h + l / 4. VPDPBUSD sums
// each 16 values' codes (0..63) times the activation's bytes per row; the sub-block's scale
// multiplies that sum (VPMULLD), and the offset 32 comes off once per super-block as
// 32·Σ_m scale_m·Σx_m (VPDPWSSD of scale pairs against the activation's sums of 16). Exact
// integers throughout, then the packed contract's one multiply-add per row and super-block.

// The scales of sub-block m of the 16 rows as 32-bit lanes.
inline __m512i q6_scales(const uint8_t* block, int m) {
  return _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block + kQ6KxScales + 16 * m)));
}

template <int N>
void gemm_q6_Kx16_n(const uint8_t* group, int64_t nb, const BlockQ8_K* const* xs, float* out) {
  const __m512i low4 = _mm512_set1_epi8(0x0f), two = _mm512_set1_epi8(3);
  __m512 acc[N];
  ST_UNROLL
  for (int t = 0; t < N; t++) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* block = group + b * kPackedQ6KBytes;
    if (N == 1) prefetch_ahead(block, kPackedSuperBlocksAhead * kPackedQ6KBytes, kPackedQ6KBytes);
    __m512i isum[N];
    ST_UNROLL
    for (int t = 0; t < N; t++) isum[t] = _mm512_setzero_si512();
    for (int h = 0; h < 2; h++) {
      for (int k = 0; k < 4; k++) {
        __m512i sub[N][2];  // per activation, the sums of sub-blocks 8h + 2k and 8h + 2k + 1
        ST_UNROLL
        for (int t = 0; t < N; t++) sub[t][0] = sub[t][1] = _mm512_setzero_si512();
        ST_UNROLL
        for (int g = 0; g < 8; g++) {
          const __m512i ql = load_unsplit(block + kQ6KxLow + 64 * (16 * h + 8 * (k % 2) + g));
          const __m512i qh = load_unsplit(block + kQ6KxHigh + 64 * (8 * h + g));
          // Masked after the 16-bit shifts, each byte keeps only its own bits.
          const __m512i code = _mm512_or_si512(_mm512_and_si512(k < 2 ? ql : _mm512_srli_epi16(ql, 4), low4),
                                               _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(qh, 2 * k), two), 4));
          ST_UNROLL
          for (int t = 0; t < N; t++) {
            sub[t][g / 4] = _mm512_dpbusd_epi32(sub[t][g / 4], code, _mm512_set1_epi32(load_i32(xs[t][b].qs + 128 * h + 32 * k + 4 * g)));
          }
        }
        const int m = 8 * h + 2 * k;
        const __m512i sc0 = q6_scales(block, m), sc1 = q6_scales(block, m + 1);
        ST_UNROLL
        for (int t = 0; t < N; t++) {
          isum[t] = _mm512_add_epi32(isum[t], _mm512_add_epi32(_mm512_mullo_epi32(sub[t][0], sc0), _mm512_mullo_epi32(sub[t][1], sc1)));
        }
      }
    }
    // The offset: 32·Σ_m scale_m·bsums[m], scales in 16-bit pairs against pairs of sums.
    __m512i offset[N];
    ST_UNROLL
    for (int t = 0; t < N; t++) offset[t] = _mm512_setzero_si512();
    for (int j = 0; j < 8; j++) {
      const __m512i pair = _mm512_or_si512(_mm512_and_si512(q6_scales(block, 2 * j), _mm512_set1_epi32(0xffff)),
                                           _mm512_slli_epi32(q6_scales(block, 2 * j + 1), 16));
      ST_UNROLL
      for (int t = 0; t < N; t++) {
        const int16_t* bs = xs[t][b].bsums + 2 * j;
        const uint32_t sums = (static_cast<uint32_t>(bs[0]) & 0xffff) | (static_cast<uint32_t>(bs[1]) << 16);
        offset[t] = _mm512_dpwssd_epi32(offset[t], pair, _mm512_set1_epi32(static_cast<int32_t>(sums)));
      }
    }
    const __m512 d = _mm512_cvtph_ps(load256(block + kQ6KxD));
    ST_UNROLL
    for (int t = 0; t < N; t++) {
      const __m512i total = _mm512_sub_epi32(isum[t], _mm512_slli_epi32(offset[t], 5));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(total), _mm512_mul_ps(d, _mm512_set1_ps(xs[t][b].d)), acc[t]);
    }
  }
  for (int t = 0; t < N; t++) _mm512_storeu_ps(out + t * kPackRows, acc[t]);
}

void gemm_q6_Kx16(const uint8_t* group, int64_t nb, const BlockQ8_K* const* xs, int n_x, float* out) {
  // Four activations at a time keep the sums in registers.
  in_groups<4>(n_x, [&](int t0, auto acts) { gemm_q6_Kx16_n<decltype(acts)::value>(group, nb, xs + t0, out + t0 * kPackRows); });
}

}  // namespace

void add_avx512_kquant_kernels(KernelTable& t) {
  t.gemm_q4_Kx16 = gemm_k4x16<false>;
  t.gemm_q5_Kx16 = gemm_k4x16<true>;
  t.gemm_q6_Kx16 = gemm_q6_Kx16;
  t.gemm_iq4_xsx16 = gemm_iq4_xsx16;
  t.q4_K.dot4 = dot4<BlockQ4_K>;
  t.q5_K.dot4 = dot4<BlockQ5_K>;
  t.q6_K.dot4 = dot4<BlockQ6_K>;
  t.q2_K.dot4 = dot4<BlockQ2_K>;
  t.q3_K.dot4 = dot4<BlockQ3_K>;
  t.q6_K.dot = dot_q6_K_one;
}

}  // namespace st::kernels
#endif
