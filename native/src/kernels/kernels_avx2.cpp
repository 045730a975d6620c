// AVX2 + FMA + F16C kernels. Compiled with those flags into their own library and called
// only after dispatch.cpp has checked the CPU.
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "count_dispatch.h"
#include "fp16.h"
#include "hsum_x86.h"
#include "kernels.h"
#include "pack_rows_x86.h"
#include "packed_nibbles_avx2.h"
#include "prefetch.h"
#include "runtime/portable_math.h"
#include "unroll.h"

namespace st::kernels {
namespace {

inline float half(uint16_t h) { return _cvtsh_ss(h); }

// 32 nibbles of a Q4_0 block as signed bytes in −8..7 (elements 0..15 low, 16..31 high).
inline __m256i q4_0_bytes(const uint8_t* qs) {
  const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m256i both = _mm256_set_m128i(_mm_srli_epi16(packed, 4), packed);
  return _mm256_sub_epi8(_mm256_and_si256(both, _mm256_set1_epi8(0x0f)), _mm256_set1_epi8(8));
}

// Σ a[i]·b[i] of 32 signed bytes as 8 int32 lanes -> floats.
inline __m256 dot_i8(__m256i a, __m256i b) {
  const __m256i ax = _mm256_sign_epi8(a, a);
  const __m256i sy = _mm256_sign_epi8(b, a);
  const __m256i pairs = _mm256_maddubs_epi16(ax, sy);
  return _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

void quantize_row_q8_0(const float* x, BlockQ8_0* y, int64_t n) {
  const __m256 sign_mask = _mm256_set1_ps(-0.0f);
  for (int64_t b = 0; b < n / kQK8_0; b++) {
    const float* xb = x + b * kQK8_0;
    __m256 v[4];
    __m256 amax = _mm256_setzero_ps();
    for (int k = 0; k < 4; k++) {
      v[k] = _mm256_loadu_ps(xb + 8 * k);
      amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign_mask, v[k]));
    }
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    const float d = _mm_cvtss_f32(m) / 127.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    y[b].d = fp32_to_fp16(d);
    // Round half away from zero, exactly like roundf in the scalar version: truncate, then
    // step away from zero when the (exact) remainder is at least one half.
    const __m256 mul = _mm256_set1_ps(id);
    const __m256 one_half = _mm256_set1_ps(0.5f);
    __m256i q[4];
    for (int k = 0; k < 4; k++) {
      const __m256 s = _mm256_mul_ps(v[k], mul);
      const __m256 t = _mm256_round_ps(s, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
      const __m256 away = _mm256_cmp_ps(_mm256_andnot_ps(sign_mask, _mm256_sub_ps(s, t)), one_half, _CMP_GE_OQ);
      const __m256 step = _mm256_and_ps(away, _mm256_or_ps(_mm256_and_ps(s, sign_mask), _mm256_set1_ps(1.0f)));
      q[k] = _mm256_cvtps_epi32(_mm256_add_ps(t, step));
    }
    // Pack 32 int32 -> 32 int8 in order.
    const __m256i p01 = _mm256_packs_epi32(q[0], q[1]);
    const __m256i p23 = _mm256_packs_epi32(q[2], q[3]);
    __m256i p = _mm256_packs_epi16(p01, p23);
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[b].qs), p);
  }
}

float dot_q4_0_q8_0(const BlockQ4_0* w, const BlockQ8_0* x, int64_t n) {
  __m256 acc = _mm256_setzero_ps();
  const int64_t nb = n / kQK4_0;
  for (int64_t b = 0; b < nb; b++) {
    prefetch_ahead(w + b, kSmallBlockBytesAhead);  // one activation: prefetch.h
    const __m256 d = _mm256_set1_ps(half(w[b].d) * half(x[b].d));
    const __m256i wq = q4_0_bytes(w[b].qs);
    const __m256i xq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qs));
    acc = _mm256_fmadd_ps(d, dot_i8(wq, xq), acc);
  }
  return hsum(acc);
}

void dot_q4_0_q8_0_x4(const BlockQ4_0* w, const BlockQ8_0* const* xs, int64_t n, float* out) {
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  const int64_t nb = n / kQK4_0;
  for (int64_t b = 0; b < nb; b++) {
    const __m256i wq = q4_0_bytes(w[b].qs);
    const __m256i ax = _mm256_sign_epi8(wq, wq);
    const float dw = half(w[b].d);
    for (int t = 0; t < 4; t++) {
      const BlockQ8_0& xb = xs[t][b];
      const __m256i xq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb.qs));
      const __m256i pairs = _mm256_maddubs_epi16(ax, _mm256_sign_epi8(xq, wq));
      const __m256 v = _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(dw * half(xb.d)), v, acc[t]);
    }
  }
  for (int t = 0; t < 4; t++) out[t] = hsum(acc[t]);
}

float dot_q8_0_q8_0(const BlockQ8_0* w, const BlockQ8_0* x, int64_t n) {
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < n / kQK8_0; b++) {
    prefetch_ahead(w + b, kSmallBlockBytesAhead);  // one activation: prefetch.h
    const __m256 d = _mm256_set1_ps(half(w[b].d) * half(x[b].d));
    const __m256i wq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qs));
    const __m256i xq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qs));
    acc = _mm256_fmadd_ps(d, dot_i8(wq, xq), acc);
  }
  return hsum(acc);
}

float dot_f32_f32(const float* w, const float* x, int64_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
  }
  float sum = hsum(_mm256_add_ps(a0, a1));
  for (; i < n; i++) sum += w[i] * x[i];
  return sum;
}

float dot_f16_f32(const uint16_t* w, const float* x, int64_t n) {
  __m256 acc = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 wf = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + i)));
    acc = _mm256_fmadd_ps(wf, _mm256_loadu_ps(x + i), acc);
  }
  float sum = hsum(acc);
  for (; i < n; i++) sum += half(w[i]) * x[i];
  return sum;
}

inline __m256 bf16x8(const uint16_t* p) {
  const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

float dot_bf16_f32(const uint16_t* w, const float* x, int64_t n) {
  __m256 acc = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) acc = _mm256_fmadd_ps(bf16x8(w + i), _mm256_loadu_ps(x + i), acc);
  float sum = hsum(acc);
  for (; i < n; i++) sum += bf16_to_fp32(w[i]) * x[i];
  return sum;
}

float dot_f16_f16(const uint16_t* w, const uint16_t* x, int64_t n) {
  __m256 acc = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 wf = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + i)));
    const __m256 xf = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i)));
    acc = _mm256_fmadd_ps(wf, xf, acc);
  }
  float sum = hsum(acc);
  for (; i < n; i++) sum += half(w[i]) * half(x[i]);
  return sum;
}

float dot_bf16_bf16(const uint16_t* w, const uint16_t* x, int64_t n) {
  __m256 acc = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) acc = _mm256_fmadd_ps(bf16x8(w + i), bf16x8(x + i), acc);
  float sum = hsum(acc);
  for (; i < n; i++) sum += bf16_to_fp32(w[i]) * bf16_to_fp32(x[i]);
  return sum;
}

void axpy_q4_0(const BlockQ4_0* row, float s, float* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK4_0; b++) {
    const __m256 sd = _mm256_set1_ps(s * half(row[b].d));
    const __m256i q = q4_0_bytes(row[b].qs);
    const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    float* yb = y + b * kQK4_0;
    const __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
    for (int k = 0; k < 4; k++) {
      const __m256 f = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(parts[k]));
      _mm256_storeu_ps(yb + 8 * k, _mm256_fmadd_ps(sd, f, _mm256_loadu_ps(yb + 8 * k)));
    }
  }
}

void axpy_q8_0(const BlockQ8_0* row, float s, float* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK8_0; b++) {
    const __m256 sd = _mm256_set1_ps(s * half(row[b].d));
    float* yb = y + b * kQK8_0;
    for (int k = 0; k < 4; k++) {
      const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(row[b].qs + 8 * k));
      const __m256 f = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q));
      _mm256_storeu_ps(yb + 8 * k, _mm256_fmadd_ps(sd, f, _mm256_loadu_ps(yb + 8 * k)));
    }
  }
}

void axpy_f32(const float* row, float s, float* y, int64_t n) {
  const __m256 sv = _mm256_set1_ps(s);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(sv, _mm256_loadu_ps(row + i), _mm256_loadu_ps(y + i)));
  for (; i < n; i++) y[i] += s * row[i];
}

void axpy_f16(const uint16_t* row, float s, float* y, int64_t n) {
  const __m256 sv = _mm256_set1_ps(s);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 f = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + i)));
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(sv, f, _mm256_loadu_ps(y + i)));
  }
  for (; i < n; i++) y[i] += s * half(row[i]);
}

void axpy_bf16(const uint16_t* row, float s, float* y, int64_t n) {
  const __m256 sv = _mm256_set1_ps(s);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(sv, bf16x8(row + i), _mm256_loadu_ps(y + i)));
  for (; i < n; i++) y[i] += s * bf16_to_fp32(row[i]);
}

// Attention: one cached F16 head converted once for up to 8 query heads at a time; per head
// the same operations in the same order as dot_f16_f32 / axpy_f16 above.
// MJ heads (compile-time, so the accumulators stay in registers: with a run-time count they
// lived in a stack array zeroed by `rep stos` for every cached row).
template <int MJ>
void dot_f16_f32_heads_n(const uint16_t* row, const float* const* qs, int64_t n, float* out) {
  __m256 acc[MJ];
  for (int j = 0; j < MJ; j++) acc[j] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 wf = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + i)));
    for (int j = 0; j < MJ; j++) acc[j] = _mm256_fmadd_ps(wf, _mm256_loadu_ps(qs[j] + i), acc[j]);
  }
  for (int j = 0; j < MJ; j++) {
    float sum = hsum(acc[j]);
    for (int64_t k = i; k < n; k++) sum += half(row[k]) * qs[j][k];
    out[j] = sum;
  }
}

void dot_f16_f32_heads(const uint16_t* row, const float* const* qs, int m, int64_t n, float* out) {
  for (int j0 = 0; j0 < m; j0 += 8) {
    const float* const* q = qs + j0;
    float* o = out + j0;
    with_count<1, 8>(m - j0, [&](auto heads) { dot_f16_f32_heads_n<decltype(heads)::value>(row, q, n, o); });
  }
}

// Two rows' dots side by side: each row's accumulators take the same FMAs in the same order as
// in dot_f16_f32_heads_n, so each result is that one's; 2·MJ independent chains instead of MJ.
template <int MJ>
void dot_f16_f32_2rows_heads_n(const uint16_t* row0, const uint16_t* row1, const float* const* qs, int64_t n, float* out0,
                               float* out1) {
  __m256 acc0[MJ], acc1[MJ];
  ST_UNROLL for (int j = 0; j < MJ; j++) acc0[j] = acc1[j] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 w0 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row0 + i)));
    const __m256 w1 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row1 + i)));
    ST_UNROLL for (int j = 0; j < MJ; j++) {
      // Loaded once for both rows: folded into each FMA as a memory operand (GCC's choice), a
      // query vector cost two loads, 14 a step for 12 FMAs, and the loads set the pace: 27-31
      // against 17-23 ns a key row for six heads (Zen 5, one thread, keys in L2; same bits).
      __m256 q = _mm256_loadu_ps(qs[j] + i);
      keep_in_register(q);
      acc0[j] = _mm256_fmadd_ps(w0, q, acc0[j]);
      acc1[j] = _mm256_fmadd_ps(w1, q, acc1[j]);
    }
  }
  // Reduced in an unrolled loop apart from the tail's, so the accumulators stay registers
  // (otherwise the arrays live on the stack, zeroed by `rep stos` at every call).
  ST_UNROLL for (int j = 0; j < MJ; j++) {
    out0[j] = hsum(acc0[j]);
    out1[j] = hsum(acc1[j]);
  }
  for (int64_t k = i; k < n; k++) {
    for (int j = 0; j < MJ; j++) {
      out0[j] += half(row0[k]) * qs[j][k];
      out1[j] += half(row1[k]) * qs[j][k];
    }
  }
}

void dot_f16_f32_rows_heads(const uint16_t* const* rows, int n_rows, const float* const* qs, int m, int64_t n,
                            float* const* outs) {
  // Two rows of up to 6 heads at a time keep their 12 accumulators in registers; a last odd
  // row, or more heads, row by row.
  int r = 0;
  for (; r + 2 <= n_rows && m <= 6; r += 2) {
    const uint16_t* a = rows[r];
    const uint16_t* b = rows[r + 1];
    with_count<1, 6>(m, [&](auto heads) { dot_f16_f32_2rows_heads_n<decltype(heads)::value>(a, b, qs, n, outs[r], outs[r + 1]); });
  }
  for (; r < n_rows; r++) dot_f16_f32_heads(rows[r], qs, m, n, outs[r]);
}

void axpy_f16_heads(const uint16_t* row, const float* s, float* const* outs, int m, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 f = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + i)));
    for (int j = 0; j < m; j++) _mm256_storeu_ps(outs[j] + i, _mm256_fmadd_ps(_mm256_set1_ps(s[j]), f, _mm256_loadu_ps(outs[j] + i)));
  }
  for (; i < n; i++) {
    for (int j = 0; j < m; j++) outs[j][i] += s[j] * half(row[i]);
  }
}

// The row count is a template parameter so that the converted rows stay in registers (with a
// run-time count they were spilled to the stack and reloaded for every output head).
// The weights are copied into a local block first: read through s[r] they cost a pointer load
// per weight per 8 values (the compiler cannot tell the outputs' stores from them).
template <int R>
void axpy_f16_rows_heads_n(const uint16_t* const* rows, const float* const* s, float* const* outs, int m, int64_t n) {
  constexpr int kHeads = 16;
  for (int j0 = 0; j0 < m; j0 += kHeads) {
    const int mm = std::min(kHeads, m - j0);
    float w[kHeads][R];
    for (int j = 0; j < mm; j++) {
      ST_UNROLL for (int r = 0; r < R; r++) w[j][r] = s[r][j0 + j];
    }
    float* const* o = outs + j0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      __m256 f[R];
      ST_UNROLL for (int r = 0; r < R; r++) f[r] = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[r] + i)));
      for (int j = 0; j < mm; j++) {
        __m256 acc = _mm256_loadu_ps(o[j] + i);
        ST_UNROLL for (int r = 0; r < R; r++) acc = _mm256_fmadd_ps(_mm256_set1_ps(w[j][r]), f[r], acc);
        _mm256_storeu_ps(o[j] + i, acc);
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

// Packed Q4_0 (16 rows per group, see pack_q4_0x16), in two halves of 8 rows per 256-bit
// vector: lane r is row r. Four activation bytes broadcast to every lane meet four nibbles
// of each row in VPMADDUBSW; the block's eight 16-bit partial sums stay below 8·2·15·128 =
// 30720, so they add up in 16 bits before one VPMADDWD makes them 32-bit. The block's integer
// sum is exact, and each row then gets the packed contract's one multiply-add.
//
// Q5_0×16, Q4_1×16 and Q5_1×16 (kernels.h, packed_nibbles.h) share these code vectors and
// kernels, read by packed_nibbles_avx2.h: the Q5 forms' fifth bits come from the rows' qh
// words, and their codes (up to 31) keep the low and the high elements' sums apart, each of
// 8 products within 8·31·128 = 31744 < 2¹⁵; Q5_0's chain starts at 2·zero = −16·Σx, and the
// _1 forms (unsigned codes, Q8_1 activations) add m·s per block. IQ4_NL×16 too, whose codes
// stand for kIQ4Values[q] + 128 (up to 241, which would overflow VPMADDUBSW's pair sums): each
// is looked up as its two nibbles, 16·u_hi + u_lo, and the sums of each part are Q4_0's (one
// chain for the low parts, one for the high ones, shifted back by 4 once widened); its chain
// starts at 16·zero = −128·Σx.
inline int32_t load_i32(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// The block's 32-bit sums from its two 16-bit chains: the low and the high elements' (added
// first where they cannot overflow), or IQ4_NL's low and high parts.
template <Nibbles C>
inline __m256i widened(__m256i lo, __m256i hi) {
  const __m256i ones = _mm256_set1_epi16(1);
  if constexpr (C == Nibbles::IQ4_NL) return _mm256_add_epi32(_mm256_madd_epi16(lo, ones), _mm256_slli_epi32(_mm256_madd_epi16(hi, ones), 4));
  else if constexpr (kFifthBits<C>) return _mm256_add_epi32(_mm256_madd_epi16(lo, ones), _mm256_madd_epi16(hi, ones));
  else return _mm256_madd_epi16(_mm256_add_epi16(lo, hi), ones);
}

// IQ4_NL's kIQ4Values[q] + 128 as two VPSHUFB tables: its low nibble and its high one.
struct IQ4Parts {
  __m256i low, high;
};
inline IQ4Parts iq4_parts() {
  const __m256i values = iq4_unsigned_values(), low4 = _mm256_set1_epi8(0x0f);
  return {_mm256_and_si256(values, low4), _mm256_and_si256(_mm256_srli_epi16(values, 4), low4)};
}

// The 16-bit products of one code vector's IQ4_NL codes (nibbles q of 8 rows, four elements
// each) with four activation bytes broadcast (x4): the low parts' added into lo, the high
// parts' into hi.
inline void add_iq4_products(__m256i q, __m256i x4, const IQ4Parts& parts, __m256i& lo, __m256i& hi) {
  lo = _mm256_add_epi16(lo, _mm256_maddubs_epi16(_mm256_shuffle_epi8(parts.low, q), x4));
  hi = _mm256_add_epi16(hi, _mm256_maddubs_epi16(_mm256_shuffle_epi8(parts.high, q), x4));
}

// Several activations (prefill): one half of the group (8 rows) at a time over all blocks, so
// that the N accumulators of that half, the N 16-bit block sums and one code vector's low and
// high nibbles fit the 16 vector registers (with both halves' accumulators and all eight
// nibble vectors live, GCC kept them on the stack: 26 ns a block for four activations, 18 now;
// Zen 5, one thread, L2). The group is read twice, from L1. Each activation's block scale and
// zero point are broadcast from its terms (loads, no vector µops): 19.0 → 16.3 ns a block.
// Its own function (ST_NOINLINE): inlined into gemm_x16_of beside the other counts, GCC 12 kept
// Q4_0's four block sums on the stack between the loop and the multiply-adds, a store and a
// load per activation and half block: 6.7 ns a block and activation, 5.6 now (Zen 3, one
// thread, four activations; the Q5_0, Q8_0 and Q4_K kernels gained nothing from the same).
template <int N, Nibbles C>
ST_NOINLINE void gemm_x16_n(const uint8_t* group, int64_t nb, const NibbleActivation<C>* const* xs, const Q8_0BlockTerms* const* xterms, float* out) {
  // IQ4_NL's codes are looked up below, as parts (add_iq4_products).
  constexpr Nibbles kRead = C == Nibbles::IQ4_NL ? Nibbles::Q4_0 : C;
  constexpr bool kOneChain = C == Nibbles::Q4_0 || C == Nibbles::Q4_1;  // 4-bit codes: one 16-bit chain
  const __m256i none = _mm256_setzero_si256();
  const IQ4Parts parts = C == Nibbles::IQ4_NL ? iq4_parts() : IQ4Parts{none, none};
  for (int h = 0; h < 2; h++) {
    __m256 acc[N];
    ST_UNROLL for (int t = 0; t < N; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
      const uint8_t* block = group + b * kNibbleBlockBytes<C>;
      // Per activation, the block's 16-bit sums for rows 8h..8h+7: the 4-bit forms' all in lo
      // (≤ 8 · 3,810), the Q5 forms' low elements' in lo and high ones' in hi, IQ4_NL's low
      // parts' in lo and high parts' in hi.
      __m256i lo[N], hi[N];
      ST_UNROLL for (int t = 0; t < N; t++) lo[t] = hi[t] = none;
      ST_UNROLL for (int s = 0; s < 4; s++) {
        __m256i vl, vh;
        nibble_codes<kRead>(block, s, h, none, vl, vh);
        ST_UNROLL for (int t = 0; t < N; t++) {
          const auto& x = xs[t][b];
          const __m256i xl = _mm256_set1_epi32(load_i32(x.qs + 4 * s)), xh = _mm256_set1_epi32(load_i32(x.qs + 16 + 4 * s));
          if constexpr (C == Nibbles::IQ4_NL) {
            add_iq4_products(vl, xl, parts, lo[t], hi[t]);
            add_iq4_products(vh, xh, parts, lo[t], hi[t]);
          } else if constexpr (kOneChain) {
            lo[t] = _mm256_add_epi16(lo[t], _mm256_add_epi16(_mm256_maddubs_epi16(vl, xl), _mm256_maddubs_epi16(vh, xh)));
          } else {
            lo[t] = _mm256_add_epi16(lo[t], _mm256_maddubs_epi16(vl, xl));
            hi[t] = _mm256_add_epi16(hi[t], _mm256_maddubs_epi16(vh, xh));
          }
          keep_in_register(lo[t]);  // added now, not all products first (GCC kept those on the stack)
          if constexpr (!kOneChain) keep_in_register(hi[t]);
        }
      }
      const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 16 * h)));
      ST_UNROLL for (int t = 0; t < N; t++) {
        const BlockTerms xt = terms_of<C>(xs[t][b], kAffine<C> ? nullptr : &xterms[t][b]);
        const __m256i sums = kOneChain ? _mm256_madd_epi16(lo[t], _mm256_set1_epi16(1)) : widened<C>(lo[t], hi[t]);
        const __m256i i32 = _mm256_add_epi32(sums, _mm256_set1_epi32(xt.start));
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i32), _mm256_mul_ps(dw, _mm256_set1_ps(xt.d)), acc[t]);
        acc[t] = plus_min_times_sum<C>(block, h, xt.s, acc[t]);
      }
    }
    ST_UNROLL for (int t = 0; t < N; t++) _mm256_storeu_ps(out + t * kPackRows + 8 * h, acc[t]);
  }
}

// One activation (decode): per half and per four-byte column s, one load gives the low and
// the high nibbles of 8 rows, each met by its four activation bytes broadcast in place (loads
// only; keep_in_register stops the compiler from hoisting all sixteen broadcasts of a block
// into registers it does not have). Two 16-bit chains per half, then the same block sum and
// multiply-add as gemm_x16_n.
template <Nibbles C>
void gemm_x16_one(const uint8_t* group, int64_t nb, const NibbleActivation<C>* x, const Q8_0BlockTerms* xterms, float* out) {
  constexpr size_t kBytes = kNibbleBlockBytes<C>;
  constexpr Nibbles kRead = C == Nibbles::IQ4_NL ? Nibbles::Q4_0 : C;
  const __m256i none = _mm256_setzero_si256();
  const IQ4Parts parts = C == Nibbles::IQ4_NL ? iq4_parts() : IQ4Parts{none, none};
  __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* block = group + b * kBytes;
    prefetch_ahead(block, kPackedBlocksAhead * kBytes, kBytes);  // one activation: prefetch.h
    const BlockTerms xt = terms_of<C>(x[b], kAffine<C> ? nullptr : &xterms[b]);
    const __m256 xd = _mm256_set1_ps(xt.d);
    const __m256i zero_point = _mm256_set1_epi32(xt.start);
    ST_UNROLL for (int h = 0; h < 2; h++) {
      const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 16 * h)));
      __m256i lo = _mm256_setzero_si256(), hi = _mm256_setzero_si256();
      ST_UNROLL for (int s = 0; s < 4; s++) {
        __m256i xl = _mm256_set1_epi32(load_i32(x[b].qs + 4 * s)), xh = _mm256_set1_epi32(load_i32(x[b].qs + 16 + 4 * s));
        keep_in_register(xl);
        keep_in_register(xh);
        __m256i vl, vh;
        nibble_codes<kRead>(block, s, h, none, vl, vh);
        if constexpr (C == Nibbles::IQ4_NL) {
          add_iq4_products(vl, xl, parts, lo, hi);
          add_iq4_products(vh, xh, parts, lo, hi);
        } else {
          lo = _mm256_add_epi16(lo, _mm256_maddubs_epi16(vl, xl));
          hi = _mm256_add_epi16(hi, _mm256_maddubs_epi16(vh, xh));
        }
      }
      const __m256i i32 = _mm256_add_epi32(widened<C>(lo, hi), zero_point);
      acc[h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i32), _mm256_mul_ps(dw, xd), acc[h]);
      acc[h] = plus_min_times_sum<C>(block, h, xt.s, acc[h]);
    }
  }
  _mm256_storeu_ps(out, acc[0]);
  _mm256_storeu_ps(out + 8, acc[1]);
}

template <Nibbles C>
void gemm_x16_of(const uint8_t* group, int64_t nb, const NibbleActivation<C>* const* xs, const Q8_0BlockTerms* const* xterms, int n_x,
                 float* out) {
  // Four activations at a time keep the accumulators and one half's weights in registers
  // (IQ4_NL: three, with its two lookup tables).
  in_groups<C == Nibbles::IQ4_NL ? 3 : 4>(n_x, [&](int t0, auto acts) {
    const Q8_0BlockTerms* const* terms = kAffine<C> ? nullptr : xterms + t0;
    if constexpr (decltype(acts)::value == 1) gemm_x16_one<C>(group, nb, xs[t0], terms ? terms[0] : nullptr, out + t0 * kPackRows);
    else gemm_x16_n<decltype(acts)::value, C>(group, nb, xs + t0, terms, out + t0 * kPackRows);
  });
}

// One row of a packed group (packed_row_dot): VPMADDUBSW and VPMADDWD per block.
template <Nibbles C>
float dot_x16_row_of(const uint8_t* group, int64_t nb, int lane, const NibbleActivation<C>* x, const Q8_0BlockTerms* xterms) {
  const __m256i values = C == Nibbles::IQ4_NL ? iq4_unsigned_values() : _mm256_setzero_si256();
  return packed_row_dot<C>(group, nb, lane, x, xterms, values, [](__m256i codes, __m256i xq) {
    const __m256i ones = _mm256_set1_epi16(1), low4 = _mm256_set1_epi8(0x0f);
    if constexpr (C == Nibbles::IQ4_NL) {  // codes up to 241: as their two nibbles
      const __m256i low = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_and_si256(codes, low4), xq), ones);
      const __m256i high = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(codes, 4), low4), xq), ones);
      return _mm256_add_epi32(low, _mm256_slli_epi32(high, 4));
    } else {
      return _mm256_madd_epi16(_mm256_maddubs_epi16(codes, xq), ones);  // pairs ≤ 2·31·128
    }
  });
}
template <Nibbles C>
struct NibbleKernels {
  static constexpr auto gemm = gemm_x16_of<C>;
  static constexpr auto row = dot_x16_row_of<C>;
};

// Packed Q8_0 (pack_q8_0x16) without VNNI. VPMADDUBSW multiplies unsigned by signed bytes
// and adds pairs in 16 bits, where the stored (q + 128)·x would overflow; so the code's sign
// moves onto the activation byte (|q| ≤ 128 as unsigned, x·sign(q)): a pair is then at most
// 2·128·127 = 32,512, and VPMADDWD makes each vector's sums 32-bit. The block's integer sum is
// Σ q·x itself, exact (no term to take off): the packed contract's values, as every table's.
inline __m256i q8_0_codes(__m256i v) { return _mm256_xor_si256(v, _mm256_set1_epi8(static_cast<char>(0x80))); }
inline __m256i q8_0_dot4(__m256i q, __m256i abs_q, __m256i x4, __m256i ones) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(abs_q, _mm256_sign_epi8(x4, q)), ones);
}

template <int N>
void gemm_q8_0x16_n(const uint8_t* group, int64_t nb, const BlockQ8_0* const* xs, const Q8_0BlockTerms* const* xterms, float* out) {
  const __m256i ones = _mm256_set1_epi16(1);
  for (int h = 0; h < 2; h++) {
    __m256 acc[N];
    ST_UNROLL for (int t = 0; t < N; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
      const uint8_t* block = group + b * kPackedQ8_0BlockBytes;
      __m256i sum[N];
      ST_UNROLL for (int t = 0; t < N; t++) sum[t] = _mm256_setzero_si256();
      ST_UNROLL for (int s = 0; s < 8; s++) {
        const __m256i q = q8_0_codes(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + kPackRows * sizeof(uint16_t) + 64 * s + 32 * h)));
        const __m256i abs_q = _mm256_abs_epi8(q);
        ST_UNROLL for (int t = 0; t < N; t++) {
          sum[t] = _mm256_add_epi32(sum[t], q8_0_dot4(q, abs_q, _mm256_set1_epi32(load_i32(xs[t][b].qs + 4 * s)), ones));
          keep_in_register(sum[t]);
        }
      }
      const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 16 * h)));
      ST_UNROLL for (int t = 0; t < N; t++) {
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum[t]), _mm256_mul_ps(dw, _mm256_set1_ps(xterms[t][b].d)), acc[t]);
      }
    }
    ST_UNROLL for (int t = 0; t < N; t++) _mm256_storeu_ps(out + t * kPackRows + 8 * h, acc[t]);
  }
}

// One activation (decode): both halves in one pass, each block read from memory once; each
// half's sum in two chains (exact integer additions: gemm_q8_0x16_n's sums).
void gemm_q8_0x16_one(const uint8_t* group, int64_t nb, const BlockQ8_0* x, const Q8_0BlockTerms* xterms, float* out) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* block = group + b * kPackedQ8_0BlockBytes;
    prefetch_ahead(block, kPackedQ8_0BlocksAhead * kPackedQ8_0BlockBytes, kPackedQ8_0BlockBytes);  // one activation: prefetch.h
    const __m256 xd = _mm256_set1_ps(xterms[b].d);
    ST_UNROLL for (int h = 0; h < 2; h++) {
      __m256i sum[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
      ST_UNROLL for (int s = 0; s < 8; s++) {
        const __m256i q = q8_0_codes(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + kPackRows * sizeof(uint16_t) + 64 * s + 32 * h)));
        __m256i x4 = _mm256_set1_epi32(load_i32(x[b].qs + 4 * s));
        keep_in_register(x4);
        sum[s % 2] = _mm256_add_epi32(sum[s % 2], q8_0_dot4(q, _mm256_abs_epi8(q), x4, ones));
      }
      const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 16 * h)));
      acc[h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(sum[0], sum[1])), _mm256_mul_ps(dw, xd), acc[h]);
    }
  }
  _mm256_storeu_ps(out, acc[0]);
  _mm256_storeu_ps(out + 8, acc[1]);
}

void gemm_q8_0x16(const uint8_t* group, int64_t nb, const BlockQ8_0* const* xs, const Q8_0BlockTerms* const* xterms, int n_x,
                  float* out) {
  in_groups<4>(n_x, [&](int t0, auto acts) {  // four activations' sums and a code vector's forms fit the 16 registers
    if constexpr (decltype(acts)::value == 1) gemm_q8_0x16_one(group, nb, xs[t0], xterms[t0], out + t0 * kPackRows);
    else gemm_q8_0x16_n<decltype(acts)::value>(group, nb, xs + t0, xterms + t0, out + t0 * kPackRows);
  });
}

// One row of a packed Q8_0 group: its eight 4-byte pieces per block gathered back into the
// block's 32 codes, then the block's sum as above.
float dot_q8_0x16_row(const uint8_t* group, int64_t nb, int lane, const BlockQ8_0* x, const Q8_0BlockTerms* xterms) {
  float acc = 0;
  const int8_t* p = reinterpret_cast<const int8_t*>(group + kPackRows * sizeof(uint16_t) + 4 * lane);
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t b = 0; b < nb; b++, p += kPackedQ8_0BlockBytes) {
    const __m256i q = q8_0_codes(_mm256_setr_epi32(load_i32(p), load_i32(p + 64), load_i32(p + 128), load_i32(p + 192), load_i32(p + 256),
                                                   load_i32(p + 320), load_i32(p + 384), load_i32(p + 448)));
    const __m256i v = q8_0_dot4(q, _mm256_abs_epi8(q), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qs)), ones);
    const int32_t total = hsum_i32(v);
    uint16_t dw;
    std::memcpy(&dw, group + b * kPackedQ8_0BlockBytes + lane * sizeof(uint16_t), sizeof dw);
    acc = std::fma(static_cast<float>(total), half(dw) * xterms[b].d, acc);
  }
  return acc;
}

// portable_math::exp of 4 floats, each lane in double with the scalar version's operations in
// its order (no FMA: the build passes -ffp-contract=off), so each result is the scalar one.
inline __m128 exp4(__m128 x) {
  namespace pm = portable_math;
  const __m256d xd = _mm256_cvtps_pd(x);
  const __m256d n = _mm256_floor_pd(_mm256_add_pd(_mm256_mul_pd(xd, _mm256_set1_pd(pm::kExpInvLn2Over64)), _mm256_set1_pd(0.5)));
  const __m256d r = _mm256_sub_pd(_mm256_sub_pd(xd, _mm256_mul_pd(n, _mm256_set1_pd(pm::kExpLn2Over64Hi))),
                                  _mm256_mul_pd(n, _mm256_set1_pd(pm::kExpLn2Over64Lo)));
  // n is an integer; where the lane's result is used (-104 <= x <= 88.8), |n| < 10,000.
  const __m128i ni = _mm256_cvtpd_epi32(n);
  // The table's four entries loaded one by one, not gathered: on the Intel cores whose
  // microcode mitigates Gather Data Sampling (Skylake to Tiger Lake, Xeons to Ice Lake) a
  // gather is much slower, and on Zen 5 these loads cost what the gather did.
  const __m128i j = _mm_and_si128(ni, _mm_set1_epi32(63));
  const double* t = pm::detail::kExp2Table;
  const __m256d table = _mm256_setr_pd(t[_mm_cvtsi128_si32(j)], t[_mm_extract_epi32(j, 1)], t[_mm_extract_epi32(j, 2)], t[_mm_extract_epi32(j, 3)]);
  __m256d p = _mm256_add_pd(_mm256_set1_pd(1.0 / 24), _mm256_mul_pd(r, _mm256_set1_pd(1.0 / 120)));
  p = _mm256_add_pd(_mm256_set1_pd(1.0 / 6), _mm256_mul_pd(r, p));
  p = _mm256_add_pd(_mm256_set1_pd(1.0 / 2), _mm256_mul_pd(r, p));
  p = _mm256_add_pd(_mm256_set1_pd(1.0), _mm256_mul_pd(r, p));
  p = _mm256_add_pd(_mm256_set1_pd(1.0), _mm256_mul_pd(r, p));
  // 2^k with k = (n − j)/64 = n >> 6, from its bits.
  const __m256i k = _mm256_cvtepi32_epi64(_mm_srai_epi32(ni, 6));
  const __m256d scale = _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_add_epi64(k, _mm256_set1_epi64x(1023)), 52));
  __m128 y = _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_mul_pd(table, p), scale));
  // The scalar version's special cases: 0 below −104, +inf above 88.8, NaN stays.
  y = _mm_andnot_ps(_mm_cmp_ps(x, _mm_set1_ps(pm::kExpFloatMin), _CMP_LT_OQ), y);
  y = _mm_blendv_ps(y, _mm_set1_ps(HUGE_VALF), _mm_cmp_ps(x, _mm_set1_ps(pm::kExpFloatMax), _CMP_GT_OQ));
  return _mm_blendv_ps(y, x, _mm_cmp_ps(x, x, _CMP_UNORD_Q));
}

void exp_shifted(float* x, const float* shifts, int lanes, int64_t n) {
  int64_t i = 0;
  if (lanes == 1) {
    const __m128 s = _mm_set1_ps(shifts[0]);
    for (; i + 4 <= n; i += 4) _mm_storeu_ps(x + i, exp4(_mm_sub_ps(_mm_loadu_ps(x + i), s)));
  } else if (lanes % 4 == 0) {
    for (; i + lanes <= n; i += lanes) {
      for (int j = 0; j < lanes; j += 4) _mm_storeu_ps(x + i + j, exp4(_mm_sub_ps(_mm_loadu_ps(x + i + j), _mm_loadu_ps(shifts + j))));
    }
  }
  for (; i < n; i++) x[i] = portable_math::exp(x[i] - shifts[i % lanes]);
}

// Sampling's scans, eight logits at a time. VMAXPS gives its second operand when either is NaN,
// so max(x, m) passes over a NaN of x and the running maxima never hold one; the first index
// holding the largest value is then one compare per eight.
inline int first_lane(int mask) { return __builtin_ctz(static_cast<unsigned>(mask)); }

int64_t first_max(const float* x, int64_t n, float* best) {
  const __m256 none = _mm256_set1_ps(-HUGE_VALF);
  __m256 m0 = none, m1 = none, m2 = none, m3 = none;
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    m0 = _mm256_max_ps(_mm256_loadu_ps(x + i), m0);
    m1 = _mm256_max_ps(_mm256_loadu_ps(x + i + 8), m1);
    m2 = _mm256_max_ps(_mm256_loadu_ps(x + i + 16), m2);
    m3 = _mm256_max_ps(_mm256_loadu_ps(x + i + 24), m3);
  }
  for (; i + 8 <= n; i += 8) m0 = _mm256_max_ps(_mm256_loadu_ps(x + i), m0);
  const __m256 m = _mm256_max_ps(_mm256_max_ps(m0, m1), _mm256_max_ps(m2, m3));
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
  float largest = _mm_cvtss_f32(h);
  for (; i < n; i++) {
    if (x[i] > largest) largest = x[i];
  }
  const __m256 target = _mm256_set1_ps(largest);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const int hit = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + j), target, _CMP_EQ_OQ));
    if (hit) {
      *best = x[j + first_lane(hit)];
      return j + first_lane(hit);
    }
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
  const __m256 tv = _mm256_set1_ps(t);
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256 a = _mm256_or_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i), tv, _CMP_GT_OQ),
                                  _mm256_cmp_ps(_mm256_loadu_ps(x + i + 8), tv, _CMP_GT_OQ));
    const __m256 b = _mm256_or_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i + 16), tv, _CMP_GT_OQ),
                                  _mm256_cmp_ps(_mm256_loadu_ps(x + i + 24), tv, _CMP_GT_OQ));
    if (_mm256_movemask_ps(_mm256_or_ps(a, b))) break;  // which of the 32: the loop below
  }
  for (; i + 8 <= n; i += 8) {
    const int hit = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i), tv, _CMP_GT_OQ));
    if (hit) return i + first_lane(hit);
  }
  for (; i < n; i++) {
    if (x[i] > t) return i;
  }
  return n;
}

// VCVTPS2PH rounds to nearest even as fp32_to_fp16 does, flush modes or not (a subnormal float
// becomes a signed zero either way, and the F16 subnormals come out as such). A NaN keeps its
// payload's top bits there, where fp32_to_fp16 gives the one quiet NaN: such a vector goes
// through the scalar conversion.
void to_f16(const float* x, uint16_t* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    if (_mm256_movemask_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q)) != 0) {
      for (int j = 0; j < 8; j++) y[i + j] = fp32_to_fp16(x[i + j]);
      continue;
    }
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  for (; i < n; i++) y[i] = fp32_to_fp16(x[i]);
}

const KernelTable kAvx2 = {
    "avx2", quantize_row_q8_0, dot_q4_0_q8_0, dot_q4_0_q8_0_x4, dot_q8_0_q8_0, dot_f32_f32, dot_f16_f32, dot_bf16_f32, dot_f16_f16, dot_bf16_bf16,
    axpy_q4_0, axpy_q8_0, axpy_f32, axpy_f16, axpy_bf16,
    dot_f16_f32_heads, axpy_f16_heads,
    nullptr, nullptr,  // no *_sums dot products: the plain ones above serve
    nullptr, nullptr,  // the packed Q4_0 kernels: set below with the other code forms'
};

}  // namespace

const KernelTable* avx2_table_impl() {
  static const KernelTable table = [] {
    KernelTable t = kAvx2;
    t.axpy_f16_rows_heads = axpy_f16_rows_heads;
    t.exp_shifted = exp_shifted;
    t.first_max = first_max;
    t.first_above = first_above;
    t.to_f16 = to_f16;
    t.dot_f16_f32_rows_heads = dot_f16_f32_rows_heads;
    t.gemm_q8_0x16 = gemm_q8_0x16;
    t.dot_q8_0x16_row = dot_q8_0x16_row;
    t.pack_q4_0x16 = pack_q4_0x16_transposing;
    t.pack_q5_0x16 = pack_q5_0x16_transposing;
    t.pack_q4_1x16 = pack_q4_1x16_transposing;
    t.pack_q5_1x16 = pack_q5_1x16_transposing;
    set_nibble_kernels<NibbleKernels, Nibbles::Q4_0, Nibbles::IQ4_NL, Nibbles::Q5_0, Nibbles::Q4_1, Nibbles::Q5_1>(t);
    return t;
  }();
  return &table;
}

}  // namespace st::kernels
#endif
