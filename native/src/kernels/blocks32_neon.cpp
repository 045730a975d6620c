// NEON dot products of the 32-element block types beyond Q4_0 and Q8_0 (Q4_1, Q5_0, Q5_1,
// IQ4_NL), one or four activations per row, as blocks32_avx2.cpp does on x86. Each block's
// integer sum is exact; the float sums run in vector lanes, so the result equals the scalar
// reference's up to rounding.
#include "kernels.h"

#if defined(__aarch64__)
#include <arm_neon.h>

#include <cstring>

#include "fp16.h"
#include "neon_dot.h"

namespace st::kernels {
namespace {

// Elements 0..15 from the low nibbles of qs, 16..31 from the high ones.
inline uint8x16x2_t nibbles(const uint8_t* qs) {
  const uint8x16_t q = vld1q_u8(qs);
  return {{vandq_u8(q, vdupq_n_u8(0x0f)), vshrq_n_u8(q, 4)}};
}

// Bit j of the 32-bit qh as 16 in byte j (the fifth bit of Q5_0 and Q5_1 codes).
inline uint8x16x2_t fifth_bits(const uint8_t* qh) {
  uint32_t h;
  std::memcpy(&h, qh, sizeof h);
  static const uint8_t kBit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
  const uint8x16_t bit = vld1q_u8(kBit), sixteen = vdupq_n_u8(16);
  auto spread = [&](uint32_t v) {
    const uint8x16_t bytes = vcombine_u8(vdup_n_u8(static_cast<uint8_t>(v & 0xff)), vdup_n_u8(static_cast<uint8_t>((v >> 8) & 0xff)));
    return vandq_u8(vtstq_u8(bytes, bit), sixteen);
  };
  return {{spread(h), spread(h >> 16)}};
}

inline int8x16x2_t as_signed(uint8x16x2_t v) { return {{vreinterpretq_s8_u8(v.val[0]), vreinterpretq_s8_u8(v.val[1])}}; }

struct Q4_1Reader {
  using Act = BlockQ8_1;
  const BlockQ4_1& w;
  int8x16x2_t code() const { return as_signed(nibbles(w.qs)); }
  float d() const { return fp16_to_fp32(w.d); }
  float extra(const Act& x) const { return fp16_to_fp32(w.m) * fp16_to_fp32(x.s); }
};
struct Q5_1Reader {
  using Act = BlockQ8_1;
  const BlockQ5_1& w;
  int8x16x2_t code() const {
    const uint8x16x2_t n = nibbles(w.qs), h = fifth_bits(w.qh);
    return as_signed({{vorrq_u8(n.val[0], h.val[0]), vorrq_u8(n.val[1], h.val[1])}});
  }
  float d() const { return fp16_to_fp32(w.d); }
  float extra(const Act& x) const { return fp16_to_fp32(w.m) * fp16_to_fp32(x.s); }
};
struct Q5_0Reader {
  using Act = BlockQ8_0;
  const BlockQ5_0& w;
  int8x16x2_t code() const {
    const uint8x16x2_t n = nibbles(w.qs), h = fifth_bits(w.qh);
    const int8x16_t sixteen = vdupq_n_s8(16);
    return {{vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(n.val[0], h.val[0])), sixteen),
             vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(n.val[1], h.val[1])), sixteen)}};
  }
  float d() const { return fp16_to_fp32(w.d); }
  float extra(const Act&) const { return 0; }
};
struct IQ4_NLReader {
  using Act = BlockQ8_0;
  const BlockIQ4_NL& w;
  int8x16x2_t code() const {
    const int8x16_t table = vld1q_s8(kIQ4Values);
    const uint8x16x2_t n = nibbles(w.qs);
    return {{vqtbl1q_s8(table, n.val[0]), vqtbl1q_s8(table, n.val[1])}};
  }
  float d() const { return fp16_to_fp32(w.d); }
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
  float32x4_t acc[m];
  float extra[m];
  for (int t = 0; t < m; t++) {
    xs[t] = static_cast<const Act*>(xv[t]);
    acc[t] = vdupq_n_f32(0);
    extra[t] = 0;
  }
  for (int64_t b = 0; b < n / 32; b++) {
    const Read r{w[b]};
    const int8x16x2_t c = r.code();
    const float d = r.d();
    for (int t = 0; t < m; t++) {
      const Act& x = xs[t][b];
      const int32x4_t sum = dot_i8x16(dot_i8x16(vdupq_n_s32(0), c.val[0], vld1q_s8(x.qs)), c.val[1], vld1q_s8(x.qs + 16));
      acc[t] = vfmaq_n_f32(acc[t], vcvtq_f32_s32(sum), d * fp16_to_fp32(x.d));
      extra[t] += r.extra(x);
    }
  }
  for (int t = 0; t < m; t++) out[t] = vaddvq_f32(acc[t]) + extra[t];
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

void ST_NEON_EXPORT(add_neon_block32_kernels)(KernelTable& t) {
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
