// AVX2 dot products of the 32-element block types beyond Q4_0 and Q8_0 (Q4_1, Q5_0, Q5_1,
// IQ4_NL) against their activations (Q8_1 for Q4_1 and Q5_1, Q8_0 for the others), one or
// four activations per row. Each block's integer sum is exact; the float sums run in vector
// lanes, so the result equals the scalar reference's (kernels_scalar_blocks.cpp) up to
// rounding. Compiled with -mavx2 -mfma -mf16c; used only after dispatch.cpp has checked the CPU.
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include <cstring>

#include "fifth_bits_avx2.h"
#include "hsum_x86.h"
#include "kernels.h"
#include "prefetch.h"
#include "unroll.h"

namespace st::kernels {
namespace {

inline float half(uint16_t h) { return _cvtsh_ss(h); }

// Element j of a block: the low nibble of qs[j] for j < 16, the high nibble of qs[j − 16] after.
inline __m256i nibbles(const uint8_t* qs) {
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0x0f));
}

// The fifth bits of Q5_0 and Q5_1 codes (fifth_bits_avx2.h), from a block's qh bytes.
inline __m256i fifth_bits(const uint8_t* qh) {
  uint32_t bits;
  std::memcpy(&bits, qh, sizeof bits);
  return fifth_bits(bits);
}

// Each reader: code() as bytes (unsigned, or signed when kSigned), d, and the per-block
// float term that is added (Q4_1/Q5_1: m·s of the activation).
struct Q4_1Reader {
  using Act = BlockQ8_1;
  static constexpr bool kSigned = false;
  const BlockQ4_1& w;
  __m256i code() const { return nibbles(w.qs); }
  float d() const { return half(w.d); }
  float extra(const Act& x) const { return half(w.m) * half(x.s); }
};
struct Q5_1Reader {
  using Act = BlockQ8_1;
  static constexpr bool kSigned = false;
  const BlockQ5_1& w;
  __m256i code() const { return _mm256_or_si256(nibbles(w.qs), fifth_bits(w.qh)); }
  float d() const { return half(w.d); }
  float extra(const Act& x) const { return half(w.m) * half(x.s); }
};
struct Q5_0Reader {
  using Act = BlockQ8_0;
  static constexpr bool kSigned = true;
  const BlockQ5_0& w;
  __m256i code() const { return _mm256_sub_epi8(_mm256_or_si256(nibbles(w.qs), fifth_bits(w.qh)), _mm256_set1_epi8(16)); }
  float d() const { return half(w.d); }
  float extra(const Act&) const { return 0; }
};
struct IQ4_NLReader {
  using Act = BlockQ8_0;
  static constexpr bool kSigned = true;
  const BlockIQ4_NL& w;
  __m256i code() const {
    const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIQ4Values)));
    return _mm256_shuffle_epi8(table, nibbles(w.qs));
  }
  float d() const { return half(w.d); }
  float extra(const Act&) const { return 0; }
};

template <typename Block> struct Reader;
template <> struct Reader<BlockQ4_1> { using type = Q4_1Reader; };
template <> struct Reader<BlockQ5_1> { using type = Q5_1Reader; };
template <> struct Reader<BlockQ5_0> { using type = Q5_0Reader; };
template <> struct Reader<BlockIQ4_NL> { using type = IQ4_NLReader; };

template <typename Block, int m>
void dot_rows(const void* wv, const void* const* xv, int64_t n, float* out) {
  using Read = typename Reader<Block>::type;
  using Act = typename Read::Act;
  const auto* w = static_cast<const Block*>(wv);
  const Act* xs[m];
  __m256 acc[m];
  float extra[m];
  const __m256i ones = _mm256_set1_epi16(1);
  ST_UNROLL
  for (int t = 0; t < m; t++) {
    xs[t] = static_cast<const Act*>(xv[t]);
    acc[t] = _mm256_setzero_ps();
    extra[t] = 0;
  }
  for (int64_t b = 0; b < n / 32; b++) {
    if (m == 1) prefetch_ahead(w + b, kSmallBlockBytesAhead);  // one activation: prefetch.h
    const Read r{w[b]};
    const __m256i c = r.code();
    const float d = r.d();
    ST_UNROLL
    for (int t = 0; t < m; t++) {
      const Act& x = xs[t][b];
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs));
      // Signed codes (|c| ≤ 127): |c|·(±x), each pair sum within 2·127·127 < 2¹⁵.
      const __m256i p = Read::kSigned ? _mm256_maddubs_epi16(_mm256_sign_epi8(c, c), _mm256_sign_epi8(q, c)) : _mm256_maddubs_epi16(c, q);
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * half(x.d)), _mm256_cvtepi32_ps(_mm256_madd_epi16(p, ones)), acc[t]);
      extra[t] += r.extra(x);
    }
  }
  for (int t = 0; t < m; t++) out[t] = hsum(acc[t]) + extra[t];
}

template <typename Block>
float dot(const void* w, const void* x, int64_t n) {
  float out;
  dot_rows<Block, 1>(w, &x, n, &out);
  return out;
}

template <typename Block>
void dot4(const void* w, const void* const* xs, int64_t n, float* out) {
  dot_rows<Block, 4>(w, xs, n, out);
}

}  // namespace

void add_avx2_block32_kernels(KernelTable& t) {
  t.q4_1.dot = dot<BlockQ4_1>;
  t.q4_1.dot4 = dot4<BlockQ4_1>;
  t.q5_1.dot = dot<BlockQ5_1>;
  t.q5_1.dot4 = dot4<BlockQ5_1>;
  t.q5_0.dot = dot<BlockQ5_0>;
  t.q5_0.dot4 = dot4<BlockQ5_0>;
  t.iq4_nl.dot = dot<BlockIQ4_NL>;
  t.iq4_nl.dot4 = dot4<BlockIQ4_NL>;
}

}  // namespace st::kernels
#endif
