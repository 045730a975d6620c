// NEON dot products of the 256-element types (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS) against
// the Q8_K activation, on the blocks as the file stores them: the same
// reading of the layouts as the AVX2 ones (kquants_avx2.cpp), with the int8 dot product
// instruction where the compiler targets it. The integer sum of each super-block is exact;
// the float sums run in vector lanes, so the result equals the scalar reference's up to
// rounding.
#include "kernels.h"

#if defined(__aarch64__)
#include <arm_neon.h>

#include "fp16.h"
#include "neon_dot.h"

namespace st::kernels {
namespace {

// Bytes shifted right by `bits` (a run-time count: NEON's immediate shifts need a constant).
inline uint8x16_t shift_right(uint8x16_t v, int bits) { return vshlq_u8(v, vdupq_n_s8(static_cast<int8_t>(-bits))); }

// Q4_K and Q5_K: eight 6-bit scales and mins of the sub-blocks of 32, from 12 packed bytes.
struct K4Scales {
  int scales[8], mins[8];
  float d, dmin;
  K4Scales(const uint8_t* s, uint16_t d16, uint16_t dmin16) : d(fp16_to_fp32(d16)), dmin(fp16_to_fp32(dmin16)) {
    for (int i = 0; i < 4; i++) {
      scales[i] = s[i] & 63;
      mins[i] = s[i + 4] & 63;
      scales[i + 4] = (s[i + 8] & 0x0f) | ((s[i] >> 6) << 4);
      mins[i + 4] = (s[i + 8] >> 4) | ((s[i + 4] >> 6) << 4);
    }
  }
  int32_t int_offset(const BlockQ8_K&) const { return 0; }
  // The scale of values 32i .. 32i+16 (half 0) and 32i+16 .. 32i+32 (half 1).
  int scale(int i, int) const { return scales[i]; }
  float offset(const BlockQ8_K& x) const {
    int32_t m = 0;
    for (int i = 0; i < 8; i++) m += mins[i] * (x.bsums[2 * i] + x.bsums[2 * i + 1]);
    return x.d * dmin * static_cast<float>(m);
  }
};

// Nibbles of sub-block i: sub-block pair p is qs[32p .. 32p+32), the low nibbles first.
inline int8x16x2_t nibbles(const uint8_t* qs, int i) {
  const uint8_t* q = qs + 32 * (i / 2);
  const uint8x16_t a = vld1q_u8(q), b = vld1q_u8(q + 16), low4 = vdupq_n_u8(0x0f);
  if (i % 2) return {{vreinterpretq_s8_u8(vshrq_n_u8(a, 4)), vreinterpretq_s8_u8(vshrq_n_u8(b, 4))}};
  return {{vreinterpretq_s8_u8(vandq_u8(a, low4)), vreinterpretq_s8_u8(vandq_u8(b, low4))}};
}

struct Q4KBlock : K4Scales {
  const BlockQ4_K& w;
  explicit Q4KBlock(const BlockQ4_K& b) : K4Scales(b.scales, b.d, b.dmin), w(b) {}
  int8x16x2_t code(int i) const { return nibbles(w.qs, i); }
};

// Q5_K: Q4_K's nibbles plus a fifth bit per value in qh (bit i for sub-block i).
struct Q5KBlock : K4Scales {
  const BlockQ5_K& w;
  explicit Q5KBlock(const BlockQ5_K& b) : K4Scales(b.scales, b.d, b.dmin), w(b) {}
  int8x16x2_t code(int i) const {
    int8x16x2_t c = nibbles(w.qs, i);
    const uint8x16_t one = vdupq_n_u8(1);
    for (int k = 0; k < 2; k++) {
      const uint8x16_t high = vshlq_n_u8(vandq_u8(shift_right(vld1q_u8(w.qh + 16 * k), i), one), 4);
      c.val[k] = vreinterpretq_s8_u8(vorrq_u8(vreinterpretq_u8_s8(c.val[k]), high));
    }
    return c;
  }
};

// Q6_K: codes 0..63 (four bits in ql, two in qh) standing for code − 32, sixteen int8 scales of
// 16 values. Values 128h + 32v + l: low bits from ql[64h + 32(v%2) + l] (high nibble when
// v ≥ 2), high bits from qh[32h + l] >> 2v.
struct Q6KBlock {
  const BlockQ6_K& w;
  float d;
  explicit Q6KBlock(const BlockQ6_K& b) : w(b), d(fp16_to_fp32(b.d)) {}
  int8x16x2_t code(int i) const {
    const int h = i / 4, v = i % 4;
    const uint8_t* l = w.ql + 64 * h + 32 * (v % 2);
    int8x16x2_t c;
    for (int k = 0; k < 2; k++) {
      const uint8x16_t bits = vld1q_u8(l + 16 * k);
      const uint8x16_t low = v >= 2 ? vshrq_n_u8(bits, 4) : vandq_u8(bits, vdupq_n_u8(0x0f));
      const uint8x16_t high = vshlq_n_u8(vandq_u8(shift_right(vld1q_u8(w.qh + 32 * h + 16 * k), 2 * v), vdupq_n_u8(3)), 4);
      c.val[k] = vreinterpretq_s8_u8(vorrq_u8(low, high));
    }
    return c;
  }
  int scale(int i, int half) const { return w.scales[8 * (i / 4) + 2 * (i % 4) + half]; }
  // The code offset 32 comes off the integer sums (exact; see kquants_avx2.cpp).
  int32_t int_offset(const BlockQ8_K& x) const {
    int32_t o = 0;
    for (int g = 0; g < 16; g++) o += w.scales[g] * x.bsums[g];
    return 32 * o;
  }
  float offset(const BlockQ8_K&) const { return 0; }
};

// Two-bit fields j of qs[32h .. 32h+32): values 128h + 32j + l (Q2_K and Q3_K), as bytes.
inline uint8x16x2_t two_bits(const uint8_t* qs, int i) {
  const uint8_t* q = qs + 32 * (i / 4);
  const uint8x16_t three = vdupq_n_u8(3);
  return {{vandq_u8(shift_right(vld1q_u8(q), 2 * (i % 4)), three), vandq_u8(shift_right(vld1q_u8(q + 16), 2 * (i % 4)), three)}};
}

// Q2_K: codes 0..3; sub-block k (16 values) has scale scales[k] & 15 and min scales[k] >> 4.
struct Q2KBlock {
  const BlockQ2_K& w;
  float d, dmin;
  explicit Q2KBlock(const BlockQ2_K& b) : w(b), d(fp16_to_fp32(b.d)), dmin(fp16_to_fp32(b.dmin)) {}
  int8x16x2_t code(int i) const {
    const uint8x16x2_t c = two_bits(w.qs, i);
    return {{vreinterpretq_s8_u8(c.val[0]), vreinterpretq_s8_u8(c.val[1])}};
  }
  int32_t int_offset(const BlockQ8_K&) const { return 0; }
  int scale(int i, int half) const { return w.scales[2 * i + half] & 0x0f; }
  float offset(const BlockQ8_K& x) const {
    int32_t m = 0;
    for (int k = 0; k < 16; k++) m += (w.scales[k] >> 4) * x.bsums[k];
    return x.d * dmin * static_cast<float>(m);
  }
};

// Q3_K: signed codes −4..3 (two bits in qs, the third in hmask, set meaning "no −4"); sixteen
// six-bit scales (value − 32).
struct Q3KBlock {
  const BlockQ3_K& w;
  int scales[16];
  float d;
  explicit Q3KBlock(const BlockQ3_K& b) : w(b), d(fp16_to_fp32(b.d)) {
    for (int i = 0; i < 16; i++) {
      const int low = i < 8 ? b.scales[i] & 0x0f : b.scales[i - 8] >> 4;
      const int high = (b.scales[8 + i % 4] >> (2 * (i / 4))) & 3;
      scales[i] = (low | (high << 4)) - 32;
    }
  }
  int8x16x2_t code(int i) const {
    const uint8x16x2_t c = two_bits(w.qs, i);
    int8x16x2_t out;
    for (int k = 0; k < 2; k++) {
      // hmask bit i set: the code stands as it is; clear: 4 comes off.
      const uint8x16_t high = vandq_u8(shift_right(vld1q_u8(w.hmask + 16 * k), i), vdupq_n_u8(1));
      out.val[k] = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(c.val[k], vshlq_n_u8(high, 2))), vdupq_n_s8(4));
    }
    return out;
  }
  int32_t int_offset(const BlockQ8_K&) const { return 0; }
  int scale(int i, int half) const { return scales[2 * i + half]; }
  float offset(const BlockQ8_K&) const { return 0; }
};

// IQ4_XS: signed codes kIQ4Values[nibble] (values 32i + j from the low nibbles of
// qs[16i + j], 32i + 16 + j from the high ones); eight six-bit scales (value − 32).
struct IQ4XSBlock {
  const BlockIQ4_XS& w;
  int scales[8];
  float d;
  explicit IQ4XSBlock(const BlockIQ4_XS& b) : w(b), d(fp16_to_fp32(b.d)) {
    for (int i = 0; i < 8; i++) scales[i] = (((b.scales_l[i / 2] >> (4 * (i % 2))) & 0x0f) | (((b.scales_h >> (2 * i)) & 3) << 4)) - 32;
  }
  int8x16x2_t code(int i) const {
    const int8x16_t table = vld1q_s8(kIQ4Values);
    const uint8x16_t q = vld1q_u8(w.qs + 16 * i);
    return {{vqtbl1q_s8(table, vandq_u8(q, vdupq_n_u8(0x0f))), vqtbl1q_s8(table, vshrq_n_u8(q, 4))}};
  }
  int32_t int_offset(const BlockQ8_K&) const { return 0; }
  int scale(int i, int) const { return scales[i]; }
  float offset(const BlockQ8_K&) const { return 0; }
};

template <typename Block> struct Reader;
template <> struct Reader<BlockQ4_K> { using type = Q4KBlock; };
template <> struct Reader<BlockQ5_K> { using type = Q5KBlock; };
template <> struct Reader<BlockQ6_K> { using type = Q6KBlock; };
template <> struct Reader<BlockQ2_K> { using type = Q2KBlock; };
template <> struct Reader<BlockQ3_K> { using type = Q3KBlock; };
template <> struct Reader<BlockIQ4_XS> { using type = IQ4XSBlock; };

// m activations (1..4) against one row, each 32 of codes decoded once for all of them.
template <typename Block, int m>
void dot_rows(const void* wv, const BlockQ8_K* const* xs, int64_t n, float* out) {
  using Read = typename Reader<Block>::type;
  const auto* w = static_cast<const Block*>(wv);
  float32x4_t acc[m];
  float off[m];
  for (int t = 0; t < m; t++) {
    acc[t] = vdupq_n_f32(0);
    off[t] = 0;
  }
  for (int64_t b = 0; b < n / kQK_K; b++) {
    const Read r(w[b]);
    int32x4_t sums[m];
    for (int t = 0; t < m; t++) sums[t] = vdupq_n_s32(0);
    for (int i = 0; i < 8; i++) {
      const int8x16x2_t c = r.code(i);
      const int s0 = r.scale(i, 0), s1 = r.scale(i, 1);
      for (int t = 0; t < m; t++) {
        const int8_t* x = xs[t][b].qs + 32 * i;
        sums[t] = vmlaq_n_s32(sums[t], dot_i8x16(vdupq_n_s32(0), c.val[0], vld1q_s8(x)), s0);
        sums[t] = vmlaq_n_s32(sums[t], dot_i8x16(vdupq_n_s32(0), c.val[1], vld1q_s8(x + 16)), s1);
      }
    }
    for (int t = 0; t < m; t++) {
      const BlockQ8_K& x = xs[t][b];
      const int32x4_t folded = vsubq_s32(sums[t], vsetq_lane_s32(r.int_offset(x), vdupq_n_s32(0), 0));
      acc[t] = vfmaq_n_f32(acc[t], vcvtq_f32_s32(folded), x.d * r.d);
      off[t] += r.offset(x);
    }
  }
  for (int t = 0; t < m; t++) out[t] = vaddvq_f32(acc[t]) - off[t];
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

}  // namespace

void ST_NEON_EXPORT(add_neon_kquant_kernels)(KernelTable& t) {
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
