// Packing 16 rows at a time (pack_q4_0x16 and its kin, pack_q4_Kx16) is a transpose of 4-byte words:
// word s of row r goes to byte 4r of vector s. Four rows' 16 bytes at once make a 4×4
// transpose of 32-bit lanes, one unaligned load per row and one store per vector, where the
// scalar packing moves every word on its own. For the x86 files only (SSE2 suffices: the AVX2 and the SSE4.2 tables share it).
#pragma once
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels.h"

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

// The packings of pack_q4_0x16, pack_q5_0x16, pack_q4_1x16 and pack_q5_1x16 (the same bytes):
// per block column, the 16 scales one by one, the codes four rows at a time
// (store_words_transposed_4x4: a row's 16 code bytes are its four words), the Q5 types' qh
// words and the Q?_1 types' m.
template <typename Block>
inline void pack_nibbles_x16_transposing(const Block* rows, int64_t row_stride, int64_t nb, uint8_t* out) {
  for (int64_t b = 0; b < nb; b++) {
    uint8_t* block = out + b * kPackRows * sizeof(Block);
    uint8_t* codes = block + kPackRows * sizeof(uint16_t);
    for (int r = 0; r < kPackRows; r++) std::memcpy(block + r * sizeof(uint16_t), &rows[r * row_stride + b].d, sizeof(uint16_t));
    for (int r0 = 0; r0 < kPackRows; r0 += 4) {
      const uint8_t* qs[4];
      for (int i = 0; i < 4; i++) qs[i] = rows[(r0 + i) * row_stride + b].qs;
      store_words_transposed_4x4(qs, codes + 4 * r0, 64);
    }
    if constexpr (std::is_same_v<Block, BlockQ5_0> || std::is_same_v<Block, BlockQ5_1>) {
      for (int r = 0; r < kPackRows; r++) std::memcpy(block + kQ5_0xHigh + 4 * r, rows[r * row_stride + b].qh, 4);
    }
    if constexpr (std::is_same_v<Block, BlockQ4_1> || std::is_same_v<Block, BlockQ5_1>) {
      constexpr size_t kMin = std::is_same_v<Block, BlockQ4_1> ? kQ4_1xMin : kQ5_1xMin;
      for (int r = 0; r < kPackRows; r++) std::memcpy(block + kMin + 2 * r, &rows[r * row_stride + b].m, sizeof(uint16_t));
    }
  }
}
inline void pack_q4_0x16_transposing(const BlockQ4_0* rows, int64_t row_stride, int64_t nb, uint8_t* out) {
  pack_nibbles_x16_transposing(rows, row_stride, nb, out);
}
inline void pack_q5_0x16_transposing(const BlockQ5_0* rows, int64_t row_stride, int64_t nb, uint8_t* out) {
  pack_nibbles_x16_transposing(rows, row_stride, nb, out);
}
inline void pack_q4_1x16_transposing(const BlockQ4_1* rows, int64_t row_stride, int64_t nb, uint8_t* out) {
  pack_nibbles_x16_transposing(rows, row_stride, nb, out);
}
inline void pack_q5_1x16_transposing(const BlockQ5_1* rows, int64_t row_stride, int64_t nb, uint8_t* out) {
  pack_nibbles_x16_transposing(rows, row_stride, nb, out);
}

}  // namespace
}  // namespace st::kernels
