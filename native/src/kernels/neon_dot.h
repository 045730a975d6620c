// The int8 dot product of the NEON kernels: four int32 lanes, lane i the sum of the products
// of bytes 4i..4i+3, with the dot-product instruction (SDOT) where the compiler targets it and
// the same lanes without it (the kernels turn each lane into a float of its own, so the two
// builds give the same bits only if their lanes hold the same products). And the names the
// NEON files export from each of their builds.
#pragma once
#if defined(__aarch64__)
#include <arm_neon.h>

// The NEON files (kernels_neon.cpp, kquants_neon.cpp, blocks32_neon.cpp) are built once for
// every ARMv8 core and, where that build lacks the dot-product instruction (Linux arm64's
// addon), once more with it: the *_neondot.cpp files include them with ST_NEON_DOTPROD_BUILD
// defined and -march=armv8.2-a+dotprod. What they export carries the build's name; everything
// else in them, and dot_i8x16 here, has internal linkage, so that neither build lends the
// other a function compiled for another CPU (one with SDOT would fault on a Cortex-A72).
#if defined(ST_NEON_DOTPROD_BUILD)
#define ST_NEON_EXPORT(name) name##_dotprod
#define ST_NEON_ISA "neondot"
#else
#define ST_NEON_EXPORT(name) name
#define ST_NEON_ISA "neon"
#endif

namespace st::kernels {
namespace {

inline int32x4_t dot_i8x16(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if defined(__ARM_FEATURE_DOTPROD)
  return vdotq_s32(acc, a, b);
#else
  const int16x8_t lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
  const int16x8_t hi = vmull_s8(vget_high_s8(a), vget_high_s8(b));
  // Pairs of products, then pairs of pairs: (p0+p1+p2+p3, p4..p7 | p8..p11, p12..p15).
  return vaddq_s32(acc, vpaddq_s32(vpaddlq_s16(lo), vpaddlq_s16(hi)));
#endif
}

}  // namespace
}  // namespace st::kernels
#endif
