// Operations the scalar kernels need exactly, written so that every platform gives the same
// bits, from hardware conversions and IEEE arithmetic only. The C libraries do not all get them
// right: MinGW's roundf gives 1 for 0.49999997 (it adds one half, which rounds up to 1, then
// floors), and its fmaf rounds twice. (The SIMD files use the FMA instructions themselves.)
#pragma once
#include <cstdint>
#include <cstring>

namespace st::kernels {
// Internal linkage, as for every helper the kernel files share: the SSE4.2 file calls
// fma_exact, and its copy must not serve the scalar kernels (hsum_x86.h says why).
namespace {

// Halves away from zero, as roundf should (|x| < 2^31).
inline int32_t round_half_away(float x) {
  int32_t i = static_cast<int32_t>(x);  // toward zero
  const float rest = x - static_cast<float>(i);  // exact
  if (rest >= 0.5f) i++;
  else if (rest <= -0.5f) i--;
  return i;
}

// Halves to even, as nearbyint in the default rounding mode (|x| < 2^22): the sum with 1.5·2^23
// has no fraction bits, so the addition itself rounds, to nearest even (IEEE arithmetic, which
// compilers may not simplify away without -ffast-math).
inline int32_t round_half_even(float x) {
  const float shifted = x + 12582912.0f;
  return static_cast<int32_t>(shifted - 12582912.0f);
}

// a·b + c rounded once, as IEEE fma. The product is exact in double (24 + 24 bits) and the sum's
// rounding error e exactly known (two-sum: s + e == a·b + c). Rounding s to float is then right,
// unless s lies exactly halfway between two floats and e moves the exact value off the halfway
// point: then s is stepped one double ulp toward it first.
inline float fma_exact(float a, float b, float c) {
  const double p = static_cast<double>(a) * static_cast<double>(b);
  const double cd = c;
  double s = p + cd;
  const double s_minus_p = s - p;
  const double e = (p - (s - s_minus_p)) + (cd - s_minus_p);
  uint64_t bits;
  std::memcpy(&bits, &s, sizeof bits);
  constexpr uint64_t kBelowFloat = (uint64_t(1) << 29) - 1, kHalfway = uint64_t(1) << 28;  // the 29 bits float drops
  if (e != 0 && (bits & kBelowFloat) == kHalfway) {
    bits += (e > 0) == (s > 0) ? 1 : -1;  // away from zero when e has s's sign, else toward it
    std::memcpy(&s, &bits, sizeof s);
  }
  return static_cast<float>(s);
}

}  // namespace
}  // namespace st::kernels
