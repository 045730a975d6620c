// exp, sin, cos and pow computed the same way on every platform. The C libraries' versions
// differ in the last bit for some arguments (glibc picks an FMA variant on CPUs that have FMA,
// Windows' runtime and Apple's libm are other code again), and one such bit in a softmax or a
// RoPE angle changes every later logit: with these the engine's numbers are the same to the bit
// on Linux, Windows and macOS, x64 and arm64 (test/cross/platforms.test.ts checks it). Only
// IEEE-754 double operations that are exact or correctly rounded everywhere are used (+, -, *,
// /, floor, building a power of two from its bits), so no FMA may be contracted into them: the
// builds pass -ffp-contract=off. Each result is the exact value to about 1e-16 (relative),
// rounded once to float where the caller wants floats: that is the correctly rounded float in
// all but about one argument in 10^8.
#pragma once
#include <cstdint>
#include <cstring>
#include <cmath>

namespace st::portable_math {

namespace detail {

// 2^(j/64), j = 0..63, correctly rounded.
constexpr double kExp2Table[64] = {
    0x1.0000000000000p+0, 0x1.02c9a3e778061p+0, 0x1.059b0d3158574p+0, 0x1.0874518759bc8p+0,
    0x1.0b5586cf9890fp+0, 0x1.0e3ec32d3d1a2p+0, 0x1.11301d0125b51p+0, 0x1.1429aaea92de0p+0,
    0x1.172b83c7d517bp+0, 0x1.1a35beb6fcb75p+0, 0x1.1d4873168b9aap+0, 0x1.2063b88628cd6p+0,
    0x1.2387a6e756238p+0, 0x1.26b4565e27cddp+0, 0x1.29e9df51fdee1p+0, 0x1.2d285a6e4030bp+0,
    0x1.306fe0a31b715p+0, 0x1.33c08b26416ffp+0, 0x1.371a7373aa9cbp+0, 0x1.3a7db34e59ff7p+0,
    0x1.3dea64c123422p+0, 0x1.4160a21f72e2ap+0, 0x1.44e086061892dp+0, 0x1.486a2b5c13cd0p+0,
    0x1.4bfdad5362a27p+0, 0x1.4f9b2769d2ca7p+0, 0x1.5342b569d4f82p+0, 0x1.56f4736b527dap+0,
    0x1.5ab07dd485429p+0, 0x1.5e76f15ad2148p+0, 0x1.6247eb03a5585p+0, 0x1.6623882552225p+0,
    0x1.6a09e667f3bcdp+0, 0x1.6dfb23c651a2fp+0, 0x1.71f75e8ec5f74p+0, 0x1.75feb564267c9p+0,
    0x1.7a11473eb0187p+0, 0x1.7e2f336cf4e62p+0, 0x1.82589994cce13p+0, 0x1.868d99b4492edp+0,
    0x1.8ace5422aa0dbp+0, 0x1.8f1ae99157736p+0, 0x1.93737b0cdc5e5p+0, 0x1.97d829fde4e50p+0,
    0x1.9c49182a3f090p+0, 0x1.a0c667b5de565p+0, 0x1.a5503b23e255dp+0, 0x1.a9e6b5579fdbfp+0,
    0x1.ae89f995ad3adp+0, 0x1.b33a2b84f15fbp+0, 0x1.b7f76f2fb5e47p+0, 0x1.bcc1e904bc1d2p+0,
    0x1.c199bdd85529cp+0, 0x1.c67f12e57d14bp+0, 0x1.cb720dcef9069p+0, 0x1.d072d4a07897cp+0,
    0x1.d5818dcfba487p+0, 0x1.da9e603db3285p+0, 0x1.dfc97337b9b5fp+0, 0x1.e502ee78b3ff6p+0,
    0x1.ea4afa2a490dap+0, 0x1.efa1bee615a27p+0, 0x1.f50765b6e4540p+0, 0x1.fa7c1819e90d8p+0,
};

// 2^m for the exponents the callers reach (|m| < 1000), from its bits: exact.
inline double pow2(int64_t m) {
  const uint64_t bits = static_cast<uint64_t>(m + 1023) << 52;
  double d;
  std::memcpy(&d, &bits, sizeof d);
  return d;
}

// e^r for |r| <= ln2/128: the Taylor series to r^5 (the next term is below 4e-17).
inline double exp_small(double r) {
  return 1.0 + r * (1.0 + r * (1.0 / 2 + r * (1.0 / 6 + r * (1.0 / 24 + r * (1.0 / 120)))));
}

}  // namespace detail

// e^x for a float x, rounded to float. x = (64k + j)·ln2/64 + r with |r| <= ln2/128, and
// e^x = 2^k · 2^(j/64) · e^r; ln2/64 is split in two so that k·hi is exact.
// The kernels' vector versions (kernels::KernelTable::exp_shifted) use these same constants.
constexpr float kExpFloatMax = 88.8f, kExpFloatMin = -104.0f;
constexpr double kExpInvLn2Over64 = 0x1.71547652b82fep+6;
constexpr double kExpLn2Over64Hi = 0x1.62e42ff000000p-7, kExpLn2Over64Lo = -0x1.718432a1b0e26p-41;
inline float exp(float x) {
  if (x != x) return x;
  if (x > kExpFloatMax) return HUGE_VALF;
  if (x < kExpFloatMin) return 0.0f;
  const double xd = x;
  const double n = std::floor(xd * kExpInvLn2Over64 + 0.5);
  const double r = (xd - n * kExpLn2Over64Hi) - n * kExpLn2Over64Lo;
  const int64_t ni = static_cast<int64_t>(n);
  const int64_t j = ni & 63, k = (ni - j) / 64;
  return static_cast<float>(detail::kExp2Table[j] * detail::exp_small(r) * detail::pow2(k));
}

// e^x for a double x with |x| < 700: the same reduction by ln2 and the Taylor series to r^14.
inline double exp(double x) {
  constexpr double kInvLn2 = 0x1.71547652b82fep+0;
  constexpr double kLn2Hi = 0x1.62e42ff000000p-1, kLn2Lo = -0x1.718432a1b0e26p-35;
  const double n = std::floor(x * kInvLn2 + 0.5);
  const double r = (x - n * kLn2Hi) - n * kLn2Lo;  // |r| <= ln2/2
  double t = 1.0;  // 1 + r/1·(1 + r/2·(1 + … (1 + r/14)))
  for (int i = 14; i >= 1; i--) t = 1.0 + r * t / i;
  return t * detail::pow2(static_cast<int64_t>(n));
}

// ln x for a finite double x > 0: x = 2^e·m with m in [sqrt(1/2), sqrt(2)), and
// ln m = 2·atanh(s), s = (m - 1)/(m + 1), |s| <= 0.172, by its series to s^25.
inline double log(double x) {
  uint64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  int64_t e = static_cast<int64_t>((bits >> 52) & 0x7ff) - 1023;
  bits = (bits & ((uint64_t(1) << 52) - 1)) | (uint64_t(1023) << 52);
  double m;
  std::memcpy(&m, &bits, sizeof m);  // in [1, 2)
  if (m > 0x1.6a09e667f3bcdp+0) {
    m *= 0.5;
    e += 1;
  }
  const double s = (m - 1.0) / (m + 1.0), s2 = s * s;
  double series = 1.0 / 25;
  for (int i = 23; i >= 1; i -= 2) series = 1.0 / i + s2 * series;
  constexpr double kLn2Hi = 0x1.62e42ff000000p-1, kLn2Lo = -0x1.718432a1b0e26p-35;
  const double ed = static_cast<double>(e);
  return ed * kLn2Hi + (ed * kLn2Lo + 2.0 * s * series);
}

// base^e for base > 0 (the RoPE frequencies).
inline double pow(double base, double e) { return exp(e * log(base)); }

// sin x and cos x for 0 <= x < 2^19·pi (RoPE angles: a position times a frequency <= 1).
// x = k·pi/2 + y with |y| <= pi/4 (pi/2 in three 33-bit parts and a tail, so each k·part is
// exact), then the Taylor series of sin y to y^19 and of cos y to y^20, and the quadrant.
inline void sincos(double x, double* sin_out, double* cos_out) {
  constexpr double kTwoOverPi = 0x1.45f306dc9c883p-1;
  constexpr double kPio2A = 0x1.921fb54400000p+0, kPio2B = 0x1.0b4611a600000p-34, kPio2C = 0x1.3198a2e000000p-69,
                   kPio2D = 0x1.b839a252049c1p-104;
  const double k = std::floor(x * kTwoOverPi + 0.5);
  const double y = (((x - k * kPio2A) - k * kPio2B) - k * kPio2C) - k * kPio2D;
  const double y2 = y * y;
  double s = 1.0, c = 1.0;
  for (int i = 19; i >= 3; i -= 2) s = 1.0 - y2 * s / (i * (i - 1));
  for (int i = 20; i >= 2; i -= 2) c = 1.0 - y2 * c / (i * (i - 1));
  s *= y;
  switch (static_cast<int64_t>(k) & 3) {
    case 0: *sin_out = s, *cos_out = c; break;
    case 1: *sin_out = c, *cos_out = -s; break;
    case 2: *sin_out = -s, *cos_out = -c; break;
    default: *sin_out = -c, *cos_out = s; break;
  }
}

}  // namespace st::portable_math
