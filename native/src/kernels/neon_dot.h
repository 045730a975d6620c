// The int8 dot product of the NEON kernels: four int32 lanes, each the sum of four products,
// with the dot-product instruction where the compiler targets it (-march=armv8.2-a+dotprod).
#pragma once
#if defined(__aarch64__)
#include <arm_neon.h>

namespace st::kernels {

inline int32x4_t dot_i8x16(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if defined(__ARM_FEATURE_DOTPROD)
  return vdotq_s32(acc, a, b);
#else
  const int16x8_t lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
  const int16x8_t hi = vmull_s8(vget_high_s8(a), vget_high_s8(b));
  return vaddq_s32(acc, vaddq_s32(vpaddlq_s16(lo), vpaddlq_s16(hi)));
#endif
}

}  // namespace st::kernels
#endif
