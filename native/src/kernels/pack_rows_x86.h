// Packing 16 rows at a time (pack_q4_0x16, pack_q4_Kx16) is a transpose of 4-byte words:
// word s of row r goes to byte 4r of vector s. Four rows' 16 bytes at once make a 4×4
// transpose of 32-bit lanes, one unaligned load per row and one store per vector, where the
// scalar packing moves every word on its own. For the x86 files only (SSE2 suffices).
#pragma once
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

namespace st::kernels {
namespace {  // internal linkage: see hsum_x86.h

// 16 bytes from each of rows[0..4) as four words each: word s of row i is stored at
// out + s·stride + 4i (vector s's bytes for those four rows).
inline void store_words_transposed_4x4(const uint8_t* const rows[4], uint8_t* out, size_t stride) {
  const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[0]));
  const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[1]));
  const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[2]));
  const __m128i d = _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[3]));
  const __m128i ab_lo = _mm_unpacklo_epi32(a, b), ab_hi = _mm_unpackhi_epi32(a, b);  // a0 b0 a1 b1, a2 b2 a3 b3
  const __m128i cd_lo = _mm_unpacklo_epi32(c, d), cd_hi = _mm_unpackhi_epi32(c, d);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm_unpacklo_epi64(ab_lo, cd_lo));               // a0 b0 c0 d0
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out + stride), _mm_unpackhi_epi64(ab_lo, cd_lo));      // a1 b1 c1 d1
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 2 * stride), _mm_unpacklo_epi64(ab_hi, cd_hi));  // a2 b2 c2 d2
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 3 * stride), _mm_unpackhi_epi64(ab_hi, cd_hi));  // a3 b3 c3 d3
}

}  // namespace
}  // namespace st::kernels
