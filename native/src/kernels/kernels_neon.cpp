// NEON kernels for aarch64 (baseline there, so no run-time check is needed); the int8 dot
// product instruction is used when the compiler targets it (Apple's cores always; on Linux the
// second build of these files, kernels_neondot.cpp and its two companions, neon_dot.h).
#include "kernels.h"

#if defined(__aarch64__)
#include <arm_neon.h>

#include <algorithm>
#include <cmath>

#include "count_dispatch.h"
#include "fp16.h"
#include "neon_dot.h"
#include "runtime/portable_math.h"
#include "unroll.h"

namespace st::kernels {
namespace {

inline float half(uint16_t h) { return fp16_to_fp32(h); }

void quantize_row_q8_0(const float* x, BlockQ8_0* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK8_0; b++) {
    const float* xb = x + b * kQK8_0;
    float32x4_t v[8];
    float32x4_t amax = vdupq_n_f32(0);
    for (int k = 0; k < 8; k++) {
      v[k] = vld1q_f32(xb + 4 * k);
      amax = vmaxq_f32(amax, vabsq_f32(v[k]));
    }
    const float d = vmaxvq_f32(amax) / 127.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    y[b].d = fp32_to_fp16(d);
    for (int k = 0; k < 8; k++) {
      int32_t q[4];
      vst1q_s32(q, vcvtaq_s32_f32(vmulq_n_f32(v[k], id)));  // round half away, as roundf
      for (int j = 0; j < 4; j++) y[b].qs[4 * k + j] = static_cast<int8_t>(q[j]);
    }
  }
}

inline int8x16x2_t q4_0_bytes(const uint8_t* qs) {
  const uint8x16_t packed = vld1q_u8(qs);
  const int8x16_t eight = vdupq_n_s8(8);
  return {{vsubq_s8(vreinterpretq_s8_u8(vandq_u8(packed, vdupq_n_u8(0x0f))), eight),
           vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(packed, 4)), eight)}};
}

// One block of 32 weights (w0, w1) against one of an activation (x0, x1): the exact integer
// sum, then acc + sum·d. Every Q4_0 and Q8_0 kernel below takes this step, so one row against
// one activation rounds alike whether it goes alone, with three more activations or with three
// more rows.
inline float32x4_t block_step(float32x4_t acc, int8x16_t w0, int8x16_t w1, int8x16_t x0, int8x16_t x1, float d) {
  const int32x4_t s = dot_i8x16(dot_i8x16(vdupq_n_s32(0), w0, x0), w1, x1);
  return vmlaq_n_f32(acc, vcvtq_f32_s32(s), d);
}

float dot_q4_0_q8_0(const BlockQ4_0* w, const BlockQ8_0* x, int64_t n) {
  float32x4_t acc = vdupq_n_f32(0);
  for (int64_t b = 0; b < n / kQK4_0; b++) {
    const int8x16x2_t wq = q4_0_bytes(w[b].qs);
    acc = block_step(acc, wq.val[0], wq.val[1], vld1q_s8(x[b].qs), vld1q_s8(x[b].qs + 16), half(w[b].d) * half(x[b].d));
  }
  return vaddvq_f32(acc);
}

// One row against four activations (prompt batches): each block of the row is unpacked once
// for all four, and each activation gets dot_q4_0_q8_0's integer sums and float steps in its
// order, so each result is that kernel's to the bit; the four accumulator chains run side by
// side where the one-row kernel has one.
void dot_q4_0_q8_0_x4(const BlockQ4_0* w, const BlockQ8_0* const* xs, int64_t n, float* out) {
  float32x4_t acc[4] = {vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0)};
  for (int64_t b = 0; b < n / kQK4_0; b++) {
    const int8x16x2_t wq = q4_0_bytes(w[b].qs);
    const float dw = half(w[b].d);
    ST_UNROLL for (int t = 0; t < 4; t++) {
      const BlockQ8_0& x = xs[t][b];
      acc[t] = block_step(acc[t], wq.val[0], wq.val[1], vld1q_s8(x.qs), vld1q_s8(x.qs + 16), dw * half(x.d));
    }
  }
  for (int t = 0; t < 4; t++) out[t] = vaddvq_f32(acc[t]);
}

// Four rows against one activation (decode): the activation's blocks loaded once for the four
// rows, each row's integer sums and float steps those of dot_q4_0_q8_0, so each result is that
// kernel's to the bit. What it buys is four accumulator chains side by side: the one-row
// kernel's single chain of multiply-adds waits on its own latency every block.
void dot_q4_0_q8_0_rows4(const BlockQ4_0* const* rows, const BlockQ8_0* x, int64_t n, float* out) {
  float32x4_t acc[4] = {vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0)};
  for (int64_t b = 0; b < n / kQK4_0; b++) {
    const int8x16_t x0 = vld1q_s8(x[b].qs), x1 = vld1q_s8(x[b].qs + 16);
    const float dx = half(x[b].d);
    ST_UNROLL for (int r = 0; r < 4; r++) {
      const int8x16x2_t wq = q4_0_bytes(rows[r][b].qs);
      acc[r] = block_step(acc[r], wq.val[0], wq.val[1], x0, x1, half(rows[r][b].d) * dx);
    }
  }
  for (int r = 0; r < 4; r++) out[r] = vaddvq_f32(acc[r]);
}

float dot_q8_0_q8_0(const BlockQ8_0* w, const BlockQ8_0* x, int64_t n) {
  float32x4_t acc = vdupq_n_f32(0);
  for (int64_t b = 0; b < n / kQK8_0; b++) {
    acc = block_step(acc, vld1q_s8(w[b].qs), vld1q_s8(w[b].qs + 16), vld1q_s8(x[b].qs), vld1q_s8(x[b].qs + 16), half(w[b].d) * half(x[b].d));
  }
  return vaddvq_f32(acc);
}

// The same for four Q8_0 rows, each result dot_q8_0_q8_0's to the bit.
void dot_q8_0_q8_0_rows4(const BlockQ8_0* const* rows, const BlockQ8_0* x, int64_t n, float* out) {
  float32x4_t acc[4] = {vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0)};
  for (int64_t b = 0; b < n / kQK8_0; b++) {
    const int8x16_t x0 = vld1q_s8(x[b].qs), x1 = vld1q_s8(x[b].qs + 16);
    const float dx = half(x[b].d);
    ST_UNROLL for (int r = 0; r < 4; r++) {
      const BlockQ8_0& w = rows[r][b];
      acc[r] = block_step(acc[r], vld1q_s8(w.qs), vld1q_s8(w.qs + 16), x0, x1, half(w.d) * dx);
    }
  }
  for (int r = 0; r < 4; r++) out[r] = vaddvq_f32(acc[r]);
}

// The same for Q8_0 rows (x86 packs Q8_0; here the rows stay as in the file): a row's blocks
// loaded once for four activations, each result dot_q8_0_q8_0's to the bit.
void dot_q8_0_q8_0_x4(const BlockQ8_0* w, const BlockQ8_0* const* xs, int64_t n, float* out) {
  float32x4_t acc[4] = {vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0)};
  for (int64_t b = 0; b < n / kQK8_0; b++) {
    const int8x16_t w0 = vld1q_s8(w[b].qs), w1 = vld1q_s8(w[b].qs + 16);
    const float dw = half(w[b].d);
    ST_UNROLL for (int t = 0; t < 4; t++) {
      const BlockQ8_0& x = xs[t][b];
      acc[t] = block_step(acc[t], w0, w1, vld1q_s8(x.qs), vld1q_s8(x.qs + 16), dw * half(x.d));
    }
  }
  for (int t = 0; t < 4; t++) out[t] = vaddvq_f32(acc[t]);
}

float dot_f32_f32(const float* w, const float* x, int64_t n) {
  float32x4_t acc = vdupq_n_f32(0);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) acc = vfmaq_f32(acc, vld1q_f32(w + i), vld1q_f32(x + i));
  float sum = vaddvq_f32(acc);
  for (; i < n; i++) sum += w[i] * x[i];
  return sum;
}

float dot_f16_f32(const uint16_t* w, const float* x, int64_t n) {
  float32x4_t acc = vdupq_n_f32(0);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) acc = vfmaq_f32(acc, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(w + i))), vld1q_f32(x + i));
  float sum = vaddvq_f32(acc);
  for (; i < n; i++) sum += half(w[i]) * x[i];
  return sum;
}

// Attention's several-heads kernels (one cached F16 key or value head against the query heads
// that share it, several positions at a time). Each result is bit for bit the one-head
// kernel's, dot_f16_f32 or axpy_f16: per lane the same FMAs in the same order, the same
// reduction (vaddvq_f32) and the same tail. What changes is that a row is loaded and converted
// once for all heads, and that R·MJ independent FMA chains run side by side where the one-head
// dot had one (a 4-cycle FMA latency against several FMA pipes: Apple's cores have four).
template <int R, int MJ>
void dot_f16_f32_rows_heads_n(const uint16_t* const* rows, const float* const* qs, int64_t n, float* const* outs) {
  float32x4_t acc[R][MJ];
  ST_UNROLL for (int r = 0; r < R; r++) {
    ST_UNROLL for (int j = 0; j < MJ; j++) acc[r][j] = vdupq_n_f32(0);
  }
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    float32x4_t w[R];
    ST_UNROLL for (int r = 0; r < R; r++) w[r] = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(rows[r] + i)));
    ST_UNROLL for (int j = 0; j < MJ; j++) {
      const float32x4_t q = vld1q_f32(qs[j] + i);
      ST_UNROLL for (int r = 0; r < R; r++) acc[r][j] = vfmaq_f32(acc[r][j], w[r], q);
    }
  }
  ST_UNROLL for (int r = 0; r < R; r++) {
    ST_UNROLL for (int j = 0; j < MJ; j++) {
      float sum = vaddvq_f32(acc[r][j]);
      for (int64_t k = i; k < n; k++) sum += half(rows[r][k]) * qs[j][k];
      outs[r][j] = sum;
    }
  }
}

// Up to 6 heads at a time, more in blocks of 6. Rows go two at a time (12 accumulators): with
// four (24), GCC spilled four of them to the stack in every step.
template <int R>
void dot_f16_f32_rows_heads_r(const uint16_t* const* rows, const float* const* qs, int m, int64_t n, float* const* outs) {
  for (int j0 = 0; j0 < m; j0 += 6) {
    float* o[R];
    for (int r = 0; r < R; r++) o[r] = outs[r] + j0;
    with_count<1, 6>(m - j0, [&](auto heads) { dot_f16_f32_rows_heads_n<R, decltype(heads)::value>(rows, qs + j0, n, o); });
  }
}

void dot_f16_f32_rows_heads(const uint16_t* const* rows, int n_rows, const float* const* qs, int m, int64_t n, float* const* outs) {
  int r = 0;
  for (; r + 2 <= n_rows; r += 2) dot_f16_f32_rows_heads_r<2>(rows + r, qs, m, n, outs + r);
  if (r < n_rows) dot_f16_f32_rows_heads_r<1>(rows + r, qs, m, n, outs + r);
}

void dot_f16_f32_heads(const uint16_t* row, const float* const* qs, int m, int64_t n, float* out) {
  dot_f16_f32_rows_heads_r<1>(&row, qs, m, n, &out);
}

// Value rows: each output value gets axpy_f16's multiply-add per row, rows in order, with the
// outputs held in registers across the R rows instead of a load and store per row.
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
    for (; i + 4 <= n; i += 4) {
      float32x4_t f[R];
      ST_UNROLL for (int r = 0; r < R; r++) f[r] = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(rows[r] + i)));
      for (int j = 0; j < mm; j++) {
        float32x4_t acc = vld1q_f32(o[j] + i);
        ST_UNROLL for (int r = 0; r < R; r++) acc = vfmaq_n_f32(acc, f[r], w[j][r]);
        vst1q_f32(o[j] + i, acc);
      }
    }
    for (; i < n; i++) {
      for (int r = 0; r < R; r++) {
        for (int j = 0; j < mm; j++) o[j][i] += w[j][r] * half(rows[r][i]);
      }
    }
  }
}

void axpy_f16_rows_heads(const uint16_t* const* rows, int n_rows, const float* const* s, float* const* outs, int m, int64_t n) {
  with_count<1, kMaxAxpyRows>(n_rows, [&](auto r) { axpy_f16_rows_heads_n<decltype(r)::value>(rows, s, outs, m, n); });
}

void axpy_f16_heads(const uint16_t* row, const float* s, float* const* outs, int m, int64_t n) {
  axpy_f16_rows_heads_n<1>(&row, &s, outs, m, n);
}

inline float32x4_t bf16x4(const uint16_t* p) { return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16)); }

float dot_bf16_f32(const uint16_t* w, const float* x, int64_t n) {
  float32x4_t acc = vdupq_n_f32(0);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) acc = vfmaq_f32(acc, bf16x4(w + i), vld1q_f32(x + i));
  float sum = vaddvq_f32(acc);
  for (; i < n; i++) sum += bf16_to_fp32(w[i]) * x[i];
  return sum;
}

inline void axpy_i8x16(int8x16_t q, float sd, float* y) {
  const int16x8_t lo = vmovl_s8(vget_low_s8(q)), hi = vmovl_s8(vget_high_s8(q));
  const int32x4_t parts[4] = {vmovl_s16(vget_low_s16(lo)), vmovl_s16(vget_high_s16(lo)), vmovl_s16(vget_low_s16(hi)), vmovl_s16(vget_high_s16(hi))};
  for (int k = 0; k < 4; k++) vst1q_f32(y + 4 * k, vmlaq_n_f32(vld1q_f32(y + 4 * k), vcvtq_f32_s32(parts[k]), sd));
}

float dot_f16_f16(const uint16_t* w, const uint16_t* x, int64_t n) {
  float32x4_t acc = vdupq_n_f32(0);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    acc = vfmaq_f32(acc, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(w + i))), vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(x + i))));
  }
  float sum = vaddvq_f32(acc);
  for (; i < n; i++) sum += half(w[i]) * half(x[i]);
  return sum;
}

float dot_bf16_bf16(const uint16_t* w, const uint16_t* x, int64_t n) {
  float32x4_t acc = vdupq_n_f32(0);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) acc = vfmaq_f32(acc, bf16x4(w + i), bf16x4(x + i));
  float sum = vaddvq_f32(acc);
  for (; i < n; i++) sum += bf16_to_fp32(w[i]) * bf16_to_fp32(x[i]);
  return sum;
}

void axpy_q4_0(const BlockQ4_0* row, float s, float* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK4_0; b++) {
    const int8x16x2_t q = q4_0_bytes(row[b].qs);
    const float sd = s * half(row[b].d);
    axpy_i8x16(q.val[0], sd, y + b * kQK4_0);
    axpy_i8x16(q.val[1], sd, y + b * kQK4_0 + 16);
  }
}

void axpy_q8_0(const BlockQ8_0* row, float s, float* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK8_0; b++) {
    const float sd = s * half(row[b].d);
    axpy_i8x16(vld1q_s8(row[b].qs), sd, y + b * kQK8_0);
    axpy_i8x16(vld1q_s8(row[b].qs + 16), sd, y + b * kQK8_0 + 16);
  }
}

void axpy_f32(const float* row, float s, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vld1q_f32(row + i), s));
  for (; i < n; i++) y[i] += s * row[i];
}

void axpy_f16(const uint16_t* row, float s, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(row + i))), s));
  for (; i < n; i++) y[i] += s * half(row[i]);
}

void axpy_bf16(const uint16_t* row, float s, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), bf16x4(row + i), s));
  for (; i < n; i++) y[i] += s * bf16_to_fp32(row[i]);
}

// portable_math::exp of 2 floats (as doubles), lane by lane the scalar version's operations
// in its order (no FMA: the build passes -ffp-contract=off), so each result is the scalar one.
inline float64x2_t exp2_lanes(float64x2_t xd) {
  namespace pm = portable_math;
  const float64x2_t n = vrndmq_f64(vaddq_f64(vmulq_f64(xd, vdupq_n_f64(pm::kExpInvLn2Over64)), vdupq_n_f64(0.5)));
  const float64x2_t r = vsubq_f64(vsubq_f64(xd, vmulq_f64(n, vdupq_n_f64(pm::kExpLn2Over64Hi))),
                                  vmulq_f64(n, vdupq_n_f64(pm::kExpLn2Over64Lo)));
  const int64x2_t ni = vcvtq_s64_f64(n);  // n is an integer: exact
  const float64x2_t table = {pm::detail::kExp2Table[vgetq_lane_s64(ni, 0) & 63], pm::detail::kExp2Table[vgetq_lane_s64(ni, 1) & 63]};
  float64x2_t p = vaddq_f64(vdupq_n_f64(1.0 / 24), vmulq_f64(r, vdupq_n_f64(1.0 / 120)));
  p = vaddq_f64(vdupq_n_f64(1.0 / 6), vmulq_f64(r, p));
  p = vaddq_f64(vdupq_n_f64(1.0 / 2), vmulq_f64(r, p));
  p = vaddq_f64(vdupq_n_f64(1.0), vmulq_f64(r, p));
  p = vaddq_f64(vdupq_n_f64(1.0), vmulq_f64(r, p));
  // 2^k with k = (n − j)/64 = n >> 6, from its bits.
  const int64x2_t bits = vshlq_n_s64(vaddq_s64(vshrq_n_s64(ni, 6), vdupq_n_s64(1023)), 52);
  return vmulq_f64(vmulq_f64(table, p), vreinterpretq_f64_s64(bits));
}

inline float32x4_t exp4(float32x4_t x) {
  namespace pm = portable_math;
  float32x4_t y = vcvt_high_f32_f64(vcvt_f32_f64(exp2_lanes(vcvt_f64_f32(vget_low_f32(x)))), exp2_lanes(vcvt_high_f64_f32(x)));
  // The scalar version's special cases: 0 below −104, +inf above 88.8, NaN stays.
  y = vreinterpretq_f32_u32(vbicq_u32(vreinterpretq_u32_f32(y), vcltq_f32(x, vdupq_n_f32(pm::kExpFloatMin))));
  y = vbslq_f32(vcgtq_f32(x, vdupq_n_f32(pm::kExpFloatMax)), vdupq_n_f32(HUGE_VALF), y);
  return vbslq_f32(vceqq_f32(x, x), y, x);
}

void exp_shifted(float* x, const float* shifts, int lanes, int64_t n) {
  int64_t i = 0;
  if (lanes == 1) {
    const float32x4_t s = vdupq_n_f32(shifts[0]);
    for (; i + 4 <= n; i += 4) vst1q_f32(x + i, exp4(vsubq_f32(vld1q_f32(x + i), s)));
  } else if (lanes % 4 == 0) {
    for (; i + lanes <= n; i += lanes) {
      for (int j = 0; j < lanes; j += 4) vst1q_f32(x + i + j, exp4(vsubq_f32(vld1q_f32(x + i + j), vld1q_f32(shifts + j))));
    }
  }
  for (; i < n; i++) x[i] = portable_math::exp(x[i] - shifts[i % lanes]);
}

// Sampling's scans, four logits at a time. The running maxima take x only where x > m (a NaN
// never is, as in the scalar loop), so they never hold a NaN.
int64_t first_max(const float* x, int64_t n, float* best) {
  const float32x4_t none = vdupq_n_f32(-HUGE_VALF);
  float32x4_t m0 = none, m1 = none;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const float32x4_t a = vld1q_f32(x + i), b = vld1q_f32(x + i + 4);
    m0 = vbslq_f32(vcgtq_f32(a, m0), a, m0);
    m1 = vbslq_f32(vcgtq_f32(b, m1), b, m1);
  }
  float largest = vmaxvq_f32(vmaxq_f32(m0, m1));
  for (; i < n; i++) {
    if (x[i] > largest) largest = x[i];
  }
  const float32x4_t target = vdupq_n_f32(largest);
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {
    if (vmaxvq_u32(vceqq_f32(vld1q_f32(x + j), target)) != 0) break;  // which of the four: below
  }
  for (; j < n; j++) {
    if (x[j] == largest) {
      *best = x[j];
      return j;
    }
  }
  return -1;  // every value NaN (a largest of −inf is found above)
}

int64_t first_above(const float* x, int64_t n, float t) {
  const float32x4_t tv = vdupq_n_f32(t);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    if (vmaxvq_u32(vorrq_u32(vcgtq_f32(vld1q_f32(x + i), tv), vcgtq_f32(vld1q_f32(x + i + 4), tv))) != 0) break;
  }
  for (; i < n; i++) {
    if (x[i] > t) return i;
  }
  return n;
}

// FCVTN rounds to nearest even as fp32_to_fp16 does (the default rounding mode, which nothing
// here changes); a NaN keeps its payload's top bits there, so a vector holding one goes
// through the scalar conversion, as on x86.
void to_f16(const float* x, uint16_t* y, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const float32x4_t v = vld1q_f32(x + i);
    if (vminvq_u32(vceqq_f32(v, v)) == 0) {  // a lane is not equal to itself: NaN
      for (int j = 0; j < 4; j++) y[i + j] = fp32_to_fp16(x[i + j]);
      continue;
    }
    vst1_u16(y + i, vreinterpret_u16_f16(vcvt_f16_f32(v)));
  }
  for (; i < n; i++) y[i] = fp32_to_fp16(x[i]);
}

const KernelTable kNeon = {
    ST_NEON_ISA, quantize_row_q8_0, dot_q4_0_q8_0, dot_q4_0_q8_0_x4, dot_q8_0_q8_0, dot_f32_f32, dot_f16_f32, dot_bf16_f32, dot_f16_f16, dot_bf16_bf16,
    axpy_q4_0, axpy_q8_0, axpy_f32, axpy_f16, axpy_bf16,
    dot_f16_f32_heads, axpy_f16_heads,
    nullptr, nullptr,  // no *_sums dot products: the plain ones above serve
    nullptr, nullptr,  // no packed Q4_0: rows stay as in the file
};

}  // namespace

void ST_NEON_EXPORT(add_neon_kquant_kernels)(KernelTable& t);   // kquants_neon.cpp
void ST_NEON_EXPORT(add_neon_block32_kernels)(KernelTable& t);  // blocks32_neon.cpp

// neon_table(), or neon_table_dotprod() in the build with the dot-product instruction (neon_dot.h).
const KernelTable* ST_NEON_EXPORT(neon_table)() {
  static const KernelTable table = [] {
    KernelTable t = kNeon;
    t.exp_shifted = exp_shifted;
    t.first_max = first_max;
    t.first_above = first_above;
    t.to_f16 = to_f16;
    t.dot_f16_f32_rows_heads = dot_f16_f32_rows_heads;
    t.axpy_f16_rows_heads = axpy_f16_rows_heads;
    t.dot_q8_0_q8_0_x4 = dot_q8_0_q8_0_x4;
    t.dot_q4_0_q8_0_rows4 = dot_q4_0_q8_0_rows4;
    t.dot_q8_0_q8_0_rows4 = dot_q8_0_q8_0_rows4;
    ST_NEON_EXPORT(add_neon_kquant_kernels)(t);
    ST_NEON_EXPORT(add_neon_block32_kernels)(t);
    return with_scalar_fallbacks(t);
  }();
  return &table;
}

}  // namespace st::kernels

#else

namespace st::kernels {
const KernelTable* neon_table() { return nullptr; }
}  // namespace st::kernels

#endif
