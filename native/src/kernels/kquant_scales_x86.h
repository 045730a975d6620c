// K-quant scale unpacking shared by the x86 kernel files (SSE2 only, so any of them may
// include it whatever its instruction-set flags).
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "ggml_types.h"

namespace st::kernels {
namespace {  // internal linkage: see hsum_x86.h

// Q4_K and Q5_K: the eight 6-bit scales (bytes 0..7) and mins (bytes 8..15) of the
// sub-blocks of 32, from their 12 packed bytes, four at a time in 32-bit words (scalar bytes
// written to the stack and read back as a vector stall the store forwarding).
inline __m128i scales_mins_k4(const uint8_t* packed) {
  uint32_t u[3];
  std::memcpy(u, packed, sizeof u);
  const uint32_t m63 = 0x3f3f3f3f, m15 = 0x0f0f0f0f, m3 = 0x03030303;
  const uint32_t sc_lo = u[0] & m63, mn_lo = u[1] & m63;
  const uint32_t sc_hi = (u[2] & m15) | (((u[0] >> 6) & m3) << 4);
  const uint32_t mn_hi = ((u[2] >> 4) & m15) | (((u[1] >> 6) & m3) << 4);
  return _mm_set_epi32(static_cast<int>(mn_hi), static_cast<int>(mn_lo), static_cast<int>(sc_hi), static_cast<int>(sc_lo));
}

// Q3_K: the sixteen 6-bit scales (value − 32) of the sub-blocks of 16 as signed bytes, from
// their 12 packed bytes (low four bits of scale i in byte i % 8, the low nibble for i < 8; the
// high two in byte 8 + i % 4 at bit 2·(i / 4)), four at a time in 32-bit words.
inline __m128i scales_q3_K(const uint8_t* packed) {
  uint32_t a[3];
  std::memcpy(a, packed, sizeof a);
  const uint32_t m4 = 0x0f0f0f0f, m2 = 0x03030303;
  const uint32_t w0 = (a[0] & m4) | ((a[2] & m2) << 4);
  const uint32_t w1 = (a[1] & m4) | (((a[2] >> 2) & m2) << 4);
  const uint32_t w2 = ((a[0] >> 4) & m4) | (((a[2] >> 4) & m2) << 4);
  const uint32_t w3 = ((a[1] >> 4) & m4) | (((a[2] >> 6) & m2) << 4);
  return _mm_sub_epi8(_mm_set_epi32(static_cast<int>(w3), static_cast<int>(w2), static_cast<int>(w1), static_cast<int>(w0)),
                      _mm_set1_epi8(32));
}

// IQ4_XS: the eight 6-bit scales (value − 32) of the sub-blocks of 32 as 16-bit lanes, from
// their low nibbles (scale i's at bit 4i of scales_l) and high pairs (bit 2i of scales_h), two
// lanes at a time in 32-bit words.
inline __m128i scales_iq4_xs(const uint8_t* scales_l, uint16_t scales_h) {
  uint32_t low;
  std::memcpy(&low, scales_l, sizeof low);
  uint32_t words[4];
  for (int k = 0; k < 4; k++) {  // lanes 2k and 2k + 1
    const uint32_t l = low >> (8 * k), h = static_cast<uint32_t>(scales_h) >> (4 * k);
    words[k] = (l & 0x0f) | ((l << 12) & 0xf0000) | ((h << 4) & 0x30) | ((h << 18) & 0x300000);
  }
  return _mm_sub_epi16(_mm_set_epi32(static_cast<int>(words[3]), static_cast<int>(words[2]), static_cast<int>(words[1]), static_cast<int>(words[0])),
                       _mm_set1_epi16(32));
}

// kIQ4Values[q] + 128 as unsigned bytes (the sign bits flipped): the codes of IQ4_NL and
// IQ4_XS as VPDPBUSD's unsigned operand, looked up with one PSHUFB per 16 nibbles.
inline __m128i iq4_values_plus_128() {
  return _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIQ4Values)), _mm_set1_epi8(static_cast<char>(0x80)));
}

}  // namespace
}  // namespace st::kernels
