// AVX-VNNI kernels: the packed Q4_0 products (decode's and prefill's hot loop) with the
// 256-bit VEX form of VPDPBUSD, which Intel's client cores since Alder Lake (12th generation
// Core, Core Ultra) have without AVX-512, as do AMD's Zen 5 cores. One VPDPBUSD multiplies
// four unsigned nibbles by four signed activation bytes and adds the four products into a
// 32-bit lane, where AVX2 needs VPMADDUBSW, a 16-bit addition and, once per block, VPMADDWD.
// Measured on a Zen 5 (one thread, the group in L2): 5.8 ns per packed block for one
// activation against 6.9 with the AVX2 table, 15 against 19 for four. The packed Q4_K products
// too (the most common download, Q4_K_M): on that Zen 5 only as fast as AVX2's in isolation
// (both seem bound there by one 256-bit multiply a cycle, VPMADDUBSW or VPDPBUSD) and 3-4 % faster in
// prefill, but 22 % fewer cycles a step in llvm-mca's Alder Lake model (docs/benchmarks.md).
// Every other entry of the table stays AVX2. Compiled with -mavx2 -mfma -mf16c -mavxvnni into
// their own library and used only after dispatch.cpp has checked the CPU.
//
// Integer sums are exact in any order, and the float steps are the packed contract's
// (kernels.h), so every result is the scalar reference's to the bit, as on the other tables.
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "count_dispatch.h"
#include "hsum_x86.h"
#include "kernels.h"
#include "kquant_scales_x86.h"
#include "packed_nibbles_avx2.h"
#include "packed_q4k_scales_avx2.h"
#include "packed_q6k_scales_avx2.h"
#include "prefetch.h"
#include "unroll.h"

namespace st::kernels {
namespace {

inline float half(uint16_t h) { return _cvtsh_ss(h); }
inline __m256i load(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline int32_t load_i32(const void* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
// Four activation bytes in every 32-bit lane.
inline __m256i broadcast4(const int8_t* x) { return _mm256_set1_epi32(load_i32(x)); }
inline __m256i dpbusd(__m256i acc, __m256i u8, __m256i s8) { return _mm256_dpbusd_avx_epi32(acc, u8, s8); }

// ---- Q4_0 packed 16 rows at a time (pack_q4_0x16), in two halves of 8 rows per vector ----

// Activations t of N (2 to 4, prompt batches) against the 16 rows, one half of 8 rows at a
// time over the whole group (the second half's pass reads the group from the cache the first
// pass filled). Per four-byte column s, one load gives the low and the high nibbles of 8 rows,
// split once for all N activations; each activation keeps two 32-bit chains, the low elements'
// (starting at −8·Σx, the zero point) and the high ones', added at the end of the block. With
// both chains of every activation, its accumulator, the two nibble vectors and the mask, 15 of
// the 16 vector registers are live; keep_in_register holds GCC to that order (at -O2 it
// computed the products first and kept them on the stack). Four activations: 16.3 ns a block
// before, 15.3 at the engine's -O3 (Zen 5, one thread, L2). The chains start from the block
// terms' zero point and the scales come from them too (broadcasts from memory: loads);
// keep_in_register on each accumulator, or GCC kept one on the stack across blocks. That made
// it 16.0 ns on Zen 5 (which never takes this table: it has AVX-512) and 17 % fewer cycles in
// llvm-mca's Intel models (docs/benchmarks.md): to be measured on an Intel client core.
//
// IQ4_NL×16, Q5_0×16, Q4_1×16 and Q5_1×16 (kernels.h) share these code vectors
// (packed_nibbles.h). IQ4_NL's codes stand for kIQ4Values[q]: each nibble vector becomes
// kIQ4Values[q] + 128 (one VPSHUFB from the 16 values with their sign bits flipped), an
// unsigned byte. The Q5 types' gain their fifth bits (as 16) from the rows' qh words
// (fifth_bits_avx2.h). The chains start from the multiple of the block term zero = −8·Σx that
// takes each form's offset back off; the _1 types (unsigned codes, Q8_1 activations) add m·s
// per block. A function of its own (ST_NOINLINE), as the AVX2 kernel: inlined into gemm_x16_of,
// GCC 12 moved block sums and accumulators through the stack in the four-activation loop (127
// instructions a block; 121 on its own, none to the stack; llvm-mca's Intel models 27.1 → 25.1
// cycles a block). Prompts 9 % faster with this table forced on Zen 5 (docs/benchmarks.md).
template <int N, Nibbles C>
ST_NOINLINE void gemm_q4_0x16_n(const uint8_t* group, int64_t nb, const NibbleActivation<C>* const* xs, const Q8_0BlockTerms* const* xterms,
                    float* out) {
  const __m256i values = C == Nibbles::IQ4_NL ? iq4_unsigned_values() : _mm256_setzero_si256();
  for (int h = 0; h < 2; h++) {
    __m256 acc[N];
    ST_UNROLL for (int t = 0; t < N; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
      const uint8_t* block = group + b * kNibbleBlockBytes<C>;
      __m256i lo[N], hi[N];
      ST_UNROLL for (int t = 0; t < N; t++) {
        lo[t] = _mm256_set1_epi32(terms_of<C>(xs[t][b], kAffine<C> ? nullptr : &xterms[t][b]).start);
        hi[t] = _mm256_setzero_si256();
      }
      ST_UNROLL for (int s = 0; s < 4; s++) {
        __m256i vl, vh;
        nibble_codes<C>(block, s, h, values, vl, vh);
        ST_UNROLL for (int t = 0; t < N; t++) {
          lo[t] = dpbusd(lo[t], vl, broadcast4(xs[t][b].qs + 4 * s));
          hi[t] = dpbusd(hi[t], vh, broadcast4(xs[t][b].qs + 16 + 4 * s));
          keep_in_register(lo[t]);
          keep_in_register(hi[t]);
        }
      }
      const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 16 * h)));
      ST_UNROLL for (int t = 0; t < N; t++) {
        const BlockTerms xt = terms_of<C>(xs[t][b], kAffine<C> ? nullptr : &xterms[t][b]);
        const __m256i sum = _mm256_add_epi32(lo[t], hi[t]);
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_mul_ps(dw, _mm256_set1_ps(xt.d)), acc[t]);
        acc[t] = plus_min_times_sum<C>(block, h, xt.s, acc[t]);
        keep_in_register(acc[t]);
      }
    }
    ST_UNROLL for (int t = 0; t < N; t++) _mm256_storeu_ps(out + t * kPackRows + 8 * h, acc[t]);
  }
}

// One activation (decode): both halves in one pass over the group, so that each block is read
// from memory once; the same sums as gemm_q4_0x16_n. Q4_0's and Q4_1's high nibbles stay where
// they stand (16·q) and their chain is shifted back once, exact as a multiple of 16.
template <Nibbles C>
void gemm_q4_0x16_one(const uint8_t* group, int64_t nb, const NibbleActivation<C>* x, const Q8_0BlockTerms* xterms, float* out) {
  constexpr size_t kBytes = kNibbleBlockBytes<C>;
  constexpr bool kHighInPlace = C == Nibbles::Q4_0 || C == Nibbles::Q4_1;
  const __m256i low4 = _mm256_set1_epi8(0x0f), high4 = _mm256_set1_epi8(static_cast<char>(0xf0));
  const __m256i values = C == Nibbles::IQ4_NL ? iq4_unsigned_values() : _mm256_setzero_si256();
  __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* block = group + b * kBytes;
    prefetch_ahead(block, kPackedBlocksAhead * kBytes, kBytes);  // one activation: prefetch.h
    const BlockTerms xt = terms_of<C>(x[b], kAffine<C> ? nullptr : &xterms[b]);
    const __m256 xd = _mm256_set1_ps(xt.d);
    const __m256i zero_point = _mm256_set1_epi32(xt.start);
    ST_UNROLL for (int h = 0; h < 2; h++) {
      const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 16 * h)));
      __m256i lo = zero_point, hi16 = _mm256_setzero_si256();
      ST_UNROLL for (int s = 0; s < 4; s++) {
        __m256i xl = broadcast4(x[b].qs + 4 * s), xh = broadcast4(x[b].qs + 16 + 4 * s);
        keep_in_register(xl);
        keep_in_register(xh);
        if constexpr (kHighInPlace) {
          const __m256i v = load(block + kPackRows * sizeof(uint16_t) + 64 * s + 32 * h);
          lo = dpbusd(lo, _mm256_and_si256(v, low4), xl);
          hi16 = dpbusd(hi16, _mm256_and_si256(v, high4), xh);
        } else {
          __m256i vl, vh;
          nibble_codes<C>(block, s, h, values, vl, vh);
          lo = dpbusd(lo, vl, xl);
          hi16 = dpbusd(hi16, vh, xh);
        }
      }
      const __m256i sum = _mm256_add_epi32(lo, kHighInPlace ? _mm256_srai_epi32(hi16, 4) : hi16);
      acc[h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_mul_ps(dw, xd), acc[h]);
      acc[h] = plus_min_times_sum<C>(block, h, xt.s, acc[h]);
    }
  }
  _mm256_storeu_ps(out, acc[0]);
  _mm256_storeu_ps(out + 8, acc[1]);
}

template <Nibbles C>
void gemm_x16_of(const uint8_t* group, int64_t nb, const NibbleActivation<C>* const* xs, const Q8_0BlockTerms* const* xterms, int n_x,
                 float* out) {
  // Four activations at a time: their accumulators and a block's 8 code vectors stay in the
  // 16 vector registers.
  in_groups<4>(n_x, [&](int t0, auto acts) {
    const Q8_0BlockTerms* const* terms = kAffine<C> ? nullptr : xterms + t0;
    if constexpr (decltype(acts)::value == 1) gemm_q4_0x16_one<C>(group, nb, xs[t0], terms ? terms[0] : nullptr, out + t0 * kPackRows);
    else gemm_q4_0x16_n<decltype(acts)::value, C>(group, nb, xs + t0, terms, out + t0 * kPackRows);
  });
}

// One row of a packed group (packed_row_dot): one VPDPBUSD per block.
template <Nibbles C>
float dot_x16_row_of(const uint8_t* group, int64_t nb, int lane, const NibbleActivation<C>* x, const Q8_0BlockTerms* xterms) {
  const __m256i values = C == Nibbles::IQ4_NL ? iq4_unsigned_values() : _mm256_setzero_si256();
  return packed_row_dot<C>(group, nb, lane, x, xterms, values,
                           [](__m256i codes, __m256i xq) { return dpbusd(_mm256_setzero_si256(), codes, xq); });
}
template <Nibbles C>
struct NibbleKernels {
  static constexpr auto gemm = gemm_x16_of<C>;
  static constexpr auto row = dot_x16_row_of<C>;
};

// ---- Q8_0 packed 16 rows at a time (pack_q8_0x16), in two halves of 8 rows per vector ----
// As the packed Q4_0 products, with eight code vectors a block, each already one byte per
// element (q + 128); the activation's term 16·zero = −128·Σx takes the offset back off.
template <int N>
void gemm_q8_0x16_n(const uint8_t* group, int64_t nb, const BlockQ8_0* const* xs, const Q8_0BlockTerms* const* xterms, float* out) {
  for (int h = 0; h < 2; h++) {
    __m256 acc[N];
    ST_UNROLL for (int t = 0; t < N; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
      const uint8_t* block = group + b * kPackedQ8_0BlockBytes;
      __m256i sum[N];
      ST_UNROLL for (int t = 0; t < N; t++) sum[t] = _mm256_set1_epi32(16 * xterms[t][b].zero);
      ST_UNROLL for (int s = 0; s < 8; s++) {
        const __m256i v = load(block + kPackRows * sizeof(uint16_t) + 64 * s + 32 * h);
        ST_UNROLL for (int t = 0; t < N; t++) {
          sum[t] = dpbusd(sum[t], v, broadcast4(xs[t][b].qs + 4 * s));
          keep_in_register(sum[t]);
        }
      }
      const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 16 * h)));
      ST_UNROLL for (int t = 0; t < N; t++) {
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum[t]), _mm256_mul_ps(dw, _mm256_set1_ps(xterms[t][b].d)), acc[t]);
        keep_in_register(acc[t]);
      }
    }
    ST_UNROLL for (int t = 0; t < N; t++) _mm256_storeu_ps(out + t * kPackRows + 8 * h, acc[t]);
  }
}

// One activation (decode): both halves in one pass, each block read from memory once; each
// half's sum in two chains (integer addition is exact: the same sums as gemm_q8_0x16_n).
void gemm_q8_0x16_one(const uint8_t* group, int64_t nb, const BlockQ8_0* x, const Q8_0BlockTerms* xterms, float* out) {
  __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* block = group + b * kPackedQ8_0BlockBytes;
    prefetch_ahead(block, kPackedQ8_0BlocksAhead * kPackedQ8_0BlockBytes, kPackedQ8_0BlockBytes);  // one activation: prefetch.h
    const __m256 xd = _mm256_set1_ps(xterms[b].d);
    ST_UNROLL for (int h = 0; h < 2; h++) {
      __m256i even = _mm256_set1_epi32(16 * xterms[b].zero), odd = _mm256_setzero_si256();
      ST_UNROLL for (int s = 0; s < 8; s += 2) {
        even = dpbusd(even, load(block + kPackRows * sizeof(uint16_t) + 64 * s + 32 * h), broadcast4(x[b].qs + 4 * s));
        odd = dpbusd(odd, load(block + kPackRows * sizeof(uint16_t) + 64 * (s + 1) + 32 * h), broadcast4(x[b].qs + 4 * s + 4));
      }
      const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 16 * h)));
      acc[h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(even, odd)), _mm256_mul_ps(dw, xd), acc[h]);
    }
  }
  _mm256_storeu_ps(out, acc[0]);
  _mm256_storeu_ps(out + 8, acc[1]);
}

void gemm_q8_0x16(const uint8_t* group, int64_t nb, const BlockQ8_0* const* xs, const Q8_0BlockTerms* const* xterms, int n_x,
                  float* out) {
  in_groups<4>(n_x, [&](int t0, auto acts) {  // four activations' sums and a code vector fit the 16 registers
    if constexpr (decltype(acts)::value == 1) gemm_q8_0x16_one(group, nb, xs[t0], xterms[t0], out + t0 * kPackRows);
    else gemm_q8_0x16_n<decltype(acts)::value>(group, nb, xs + t0, xterms + t0, out + t0 * kPackRows);
  });
}

// One row of a packed Q8_0 group: its eight 4-byte pieces per block gathered back into the
// block's 32 bytes (still q + 128), then one VPDPBUSD and the block term.
float dot_q8_0x16_row(const uint8_t* group, int64_t nb, int lane, const BlockQ8_0* x, const Q8_0BlockTerms* xterms) {
  float acc = 0;
  const uint8_t* q = group + kPackRows * sizeof(uint16_t) + 4 * lane;
  const __m256i zero = _mm256_setzero_si256();
  for (int64_t b = 0; b < nb; b++, q += kPackedQ8_0BlockBytes) {
    const __m256i qs = _mm256_setr_epi32(load_i32(q), load_i32(q + 64), load_i32(q + 128), load_i32(q + 192), load_i32(q + 256),
                                         load_i32(q + 320), load_i32(q + 384), load_i32(q + 448));
    const __m256i v = dpbusd(zero, qs, load(x[b].qs));
    const int32_t total = hsum_i32(v) + 16 * xterms[b].zero;
    uint16_t dw;
    std::memcpy(&dw, group + b * kPackedQ8_0BlockBytes + lane * sizeof(uint16_t), sizeof dw);
    acc = std::fma(static_cast<float>(total), half(dw) * xterms[b].d, acc);
  }
  return acc;
}

// ---- Q4_K packed 16 rows at a time (pack_q4_Kx16), in two halves of 8 rows per vector ----
// VPDPBUSD sums four codes times four activation bytes into each row's 32-bit lane, so a
// sub-block's sum needs no 16-bit stage, and the high nibbles go in unshifted (16 times the
// code, at most 240: the products are exact in 32 bits), their sum shifted back once per
// sub-block: one operation a code vector instead of two. The sums meet the scales (≤ 63) in
// VPMULLD. The integer sums are those of kquants_avx2.cpp's kernels, and the float steps theirs,
// in the same order: the same bits.

// One activation (decode) against the 16 rows, both halves in one pass; each sum in two
// chains (VPDPBUSD's latency).
void gemm_q4_Kx16_one(const uint8_t* group, int64_t nb, const BlockQ8_K* xb, float* out) {
  const __m256i low4 = _mm256_set1_epi8(0x0f), high4 = _mm256_set1_epi8(static_cast<char>(0xf0));
  __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* block = group + b * kPackedQ4KBytes;
    const BlockQ8_K& x = xb[b];
    prefetch_ahead(block, kPackedSuperBlocksAhead * kPackedQ4KBytes, kPackedQ4KBytes);  // one activation: prefetch.h
    const PackedHalfScales scales[2] = {PackedHalfScales(block, 0), PackedHalfScales(block, 1)};
    __m256i isum[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
    for (int p = 0; p < 4; p++) {
      __m256i lo[2][2], hi16[2][2];
      ST_UNROLL for (int h = 0; h < 2; h++) lo[h][0] = lo[h][1] = hi16[h][0] = hi16[h][1] = _mm256_setzero_si256();
      ST_UNROLL for (int s4 = 0; s4 < 8; s4++) {
        const __m256i xl = broadcast4(x.qs + 64 * p + 4 * s4), xh = broadcast4(x.qs + 64 * p + 32 + 4 * s4);
        ST_UNROLL for (int h = 0; h < 2; h++) {
          const __m256i v = load(block + kQ4KxCodes + 64 * (8 * p + s4) + 32 * h);
          lo[h][s4 % 2] = dpbusd(lo[h][s4 % 2], _mm256_and_si256(v, low4), xl);
          hi16[h][s4 % 2] = dpbusd(hi16[h][s4 % 2], _mm256_and_si256(v, high4), xh);
        }
      }
      ST_UNROLL for (int h = 0; h < 2; h++) {
        const __m256i l = _mm256_add_epi32(lo[h][0], lo[h][1]), hs = _mm256_srai_epi32(_mm256_add_epi32(hi16[h][0], hi16[h][1]), 4);
        isum[h] = _mm256_add_epi32(isum[h], _mm256_add_epi32(_mm256_mullo_epi32(l, scales[h].sc[2 * p]), _mm256_mullo_epi32(hs, scales[h].sc[2 * p + 1])));
      }
    }
    const Q8KSumPairs sums = sum_pairs(x);
    for (int h = 0; h < 2; h++) acc[h] = scales[h].add_to(acc[h], isum[h], x, sums);
  }
  _mm256_storeu_ps(out, acc[0]);
  _mm256_storeu_ps(out + 8, acc[1]);
}

// N activations (2 to 4, prompt batches) against the 16 rows, one half of 8 rows at a time (as
// kquants_avx2.cpp's gemm_k4x16_halves): the two sums of four activations, a code vector's
// two nibble vectors and the masks fill the 16 vector registers.
template <int N>
void gemm_q4_Kx16_n(const uint8_t* group, int64_t nb, const BlockQ8_K* const* xs, float* out) {
  const __m256i low4 = _mm256_set1_epi8(0x0f), high4 = _mm256_set1_epi8(static_cast<char>(0xf0));
  __m256 acc[N][2];
  for (int t = 0; t < N; t++) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* block = group + b * kPackedQ4KBytes;
    Q8KSumPairs sums[N];  // once for both halves
    for (int t = 0; t < N; t++) sums[t] = sum_pairs(xs[t][b]);
    for (int h = 0; h < 2; h++) {
      const PackedHalfScales scales(block, h);
      __m256i isum[N];
      for (int t = 0; t < N; t++) isum[t] = _mm256_setzero_si256();
      for (int p = 0; p < 4; p++) {
        __m256i lo[N], hi16[N];
        ST_UNROLL for (int t = 0; t < N; t++) lo[t] = hi16[t] = _mm256_setzero_si256();
        ST_UNROLL for (int s4 = 0; s4 < 8; s4++) {
          const __m256i v = load(block + kQ4KxCodes + 64 * (8 * p + s4) + 32 * h);
          const __m256i vl = _mm256_and_si256(v, low4), vh = _mm256_and_si256(v, high4);
          ST_UNROLL for (int t = 0; t < N; t++) {
            const int8_t* x = xs[t][b].qs + 64 * p + 4 * s4;
            lo[t] = dpbusd(lo[t], vl, broadcast4(x));
            hi16[t] = dpbusd(hi16[t], vh, broadcast4(x + 32));
            keep_in_register(lo[t]);
            keep_in_register(hi16[t]);
          }
        }
        ST_UNROLL for (int t = 0; t < N; t++) {
          isum[t] = _mm256_add_epi32(isum[t], _mm256_add_epi32(_mm256_mullo_epi32(lo[t], scales.sc[2 * p]),
                                                               _mm256_mullo_epi32(_mm256_srai_epi32(hi16[t], 4), scales.sc[2 * p + 1])));
        }
      }
      for (int t = 0; t < N; t++) acc[t][h] = scales.add_to(acc[t][h], isum[t], xs[t][b], sums[t]);
    }
  }
  for (int t = 0; t < N; t++) {
    _mm256_storeu_ps(out + t * kPackRows, acc[t][0]);
    _mm256_storeu_ps(out + t * kPackRows + 8, acc[t][1]);
  }
}

void gemm_q4_Kx16(const uint8_t* group, int64_t nb, const BlockQ8_K* const* xs, int n_x, float* out) {
  in_groups<4>(n_x, [&](int t0, auto acts) {
    if constexpr (decltype(acts)::value == 1) gemm_q4_Kx16_one(group, nb, xs[t0], out + t0 * kPackRows);
    else gemm_q4_Kx16_n<decltype(acts)::value>(group, nb, xs + t0, out + t0 * kPackRows);
  });
}

// ---- IQ4_XS packed 16 rows at a time (pack_iq4_xsx16), in two halves of 8 rows per vector ----
// As kquants_avx512.cpp's gemm_iq4_xsx16_n (the same exact integers, the same float steps):
// each nibble looked up to kIQ4Values[q] + 128 (VPSHUFB), VPDPBUSD per sub-block, VPMULLD by
// its scale, and 128·Σ_i scale_i·Σx_i off once per super-block.

// Rows 8h..8h+7: the scale (six bits − 32) of sub-block i as 32-bit lanes.
inline __m256i iq4_xs_scale(__m256i low, __m256i high, int i) {
  const __m256i l = _mm256_and_si256(_mm256_srli_epi32(low, 4 * i), _mm256_set1_epi32(15));
  const __m256i h = _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(high, 2 * i), _mm256_set1_epi32(3)), 4);
  return _mm256_sub_epi32(_mm256_or_si256(l, h), _mm256_set1_epi32(32));
}

template <int N>
void gemm_iq4_xsx16_n(const uint8_t* group, int64_t nb, const BlockQ8_K* const* xs, float* out) {
  const __m256i low4 = _mm256_set1_epi8(0x0f), values = iq4_unsigned_values();
  __m256 acc[N][2];
  for (int t = 0; t < N; t++) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* block = group + b * kPackedIQ4XSBytes;
    if (N == 1) prefetch_ahead(block, kPackedSuperBlocksAhead * kPackedIQ4XSBytes, kPackedIQ4XSBytes);  // one activation: prefetch.h
    Q8KSumPairs sums[N];  // once for both halves
    for (int t = 0; t < N; t++) sums[t] = sum_pairs(xs[t][b]);
    for (int h = 0; h < 2; h++) {
      const __m256i low = load(block + kIQ4XSxScalesL + 32 * h);
      const __m256i high = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block + kIQ4XSxScalesH + 16 * h)));
      __m256i isum[N];
      ST_UNROLL for (int t = 0; t < N; t++) isum[t] = _mm256_setzero_si256();
      for (int i = 0; i < 8; i++) {
        constexpr int C = N == 1 ? 2 : 1;  // one activation: two chains (VPDPBUSD's latency)
        __m256i sub[N][C];
        ST_UNROLL for (int t = 0; t < N; t++) {
          for (int c = 0; c < C; c++) sub[t][c] = _mm256_setzero_si256();
        }
        ST_UNROLL for (int s = 0; s < 4; s++) {
          const __m256i v = load(block + kIQ4XSxCodes + 64 * (4 * i + s) + 32 * h);
          const __m256i lo = _mm256_shuffle_epi8(values, _mm256_and_si256(v, low4));
          const __m256i hi = _mm256_shuffle_epi8(values, _mm256_and_si256(_mm256_srli_epi16(v, 4), low4));
          ST_UNROLL for (int t = 0; t < N; t++) {
            const int8_t* x = xs[t][b].qs + 32 * i + 4 * s;
            sub[t][0] = dpbusd(sub[t][0], lo, broadcast4(x));
            sub[t][C - 1] = dpbusd(sub[t][C - 1], hi, broadcast4(x + 16));
            keep_in_register(sub[t][0]);
          }
        }
        const __m256i sc = iq4_xs_scale(low, high, i);
        ST_UNROLL for (int t = 0; t < N; t++) {
          const __m256i sum = C == 1 ? sub[t][0] : _mm256_add_epi32(sub[t][0], sub[t][C - 1]);
          isum[t] = _mm256_add_epi32(isum[t], _mm256_mullo_epi32(sum, sc));
        }
      }
      // The scales in 16-bit pairs (2k low, 2k + 1 high) against the activation's paired sums.
      __m256i pairs[4];
      for (int k = 0; k < 4; k++) {
        pairs[k] = _mm256_or_si256(_mm256_and_si256(iq4_xs_scale(low, high, 2 * k), _mm256_set1_epi32(0xffff)),
                                   _mm256_slli_epi32(iq4_xs_scale(low, high, 2 * k + 1), 16));
      }
      const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block + kIQ4XSxD + 16 * h)));
      ST_UNROLL for (int t = 0; t < N; t++) {
        __m256i offset = _mm256_madd_epi16(pairs[0], sums[t].pair[0]);
        for (int k = 1; k < 4; k++) offset = _mm256_add_epi32(offset, _mm256_madd_epi16(pairs[k], sums[t].pair[k]));
        const __m256i total = _mm256_sub_epi32(isum[t], _mm256_slli_epi32(offset, 7));
        acc[t][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(total), _mm256_mul_ps(d, _mm256_set1_ps(xs[t][b].d)), acc[t][h]);
      }
    }
  }
  for (int t = 0; t < N; t++) {
    _mm256_storeu_ps(out + t * kPackRows, acc[t][0]);
    _mm256_storeu_ps(out + t * kPackRows + 8, acc[t][1]);
  }
}

void gemm_iq4_xsx16(const uint8_t* group, int64_t nb, const BlockQ8_K* const* xs, int n_x, float* out) {
  in_groups<4>(n_x, [&](int t0, auto acts) { gemm_iq4_xsx16_n<decltype(acts)::value>(group, nb, xs + t0, out + t0 * kPackRows); });
}

// ---- Q6_K packed 16 rows at a time (pack_q6_Kx16), in two halves of 8 rows per vector ----
// As kquants_avx512.cpp's gemm_q6_Kx16_n (the same exact integers, the same float steps): each
// 6-bit code rebuilt from its ql nibble and qh pair, VPDPBUSD per 16 values, VPMULLD by the
// sub-block's scale, the offset 32 once per super-block (PackedQ6KHalf::add_to). Up to two
// activations at a time: their sums, the code vectors and the masks fill the 16 registers.
template <int N>
void gemm_q6_Kx16_n(const uint8_t* group, int64_t nb, const BlockQ8_K* const* xs, float* out) {
  __m256 acc[N][2];
  for (int t = 0; t < N; t++) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* block = group + b * kPackedQ6KBytes;
    if (N == 1) prefetch_ahead(block, kPackedSuperBlocksAhead * kPackedQ6KBytes, kPackedQ6KBytes);  // one activation: prefetch.h
    for (int half = 0; half < 2; half++) {  // rows 8·half .. 8·half + 7
      const PackedQ6KHalf q6(block, half);
      __m256i isum[N];
      ST_UNROLL for (int t = 0; t < N; t++) isum[t] = _mm256_setzero_si256();
      for (int h = 0; h < 2; h++) {
        ST_UNROLL for (int k = 0; k < 4; k++) {  // unrolled: q6_codes shifts by a constant
          __m256i sub[N][2];
          ST_UNROLL for (int t = 0; t < N; t++) sub[t][0] = sub[t][1] = _mm256_setzero_si256();
          ST_UNROLL for (int g = 0; g < 8; g++) {
            const __m256i code = q6_codes(load(block + kQ6KxLow + 64 * (16 * h + 8 * (k % 2) + g) + 32 * half),
                                          load(block + kQ6KxHigh + 64 * (8 * h + g) + 32 * half), k);
            ST_UNROLL for (int t = 0; t < N; t++) {
              sub[t][g / 4] = dpbusd(sub[t][g / 4], code, broadcast4(xs[t][b].qs + 128 * h + 32 * k + 4 * g));
              keep_in_register(sub[t][g / 4]);
            }
          }
          const int m = 8 * h + 2 * k;
          const __m256i sc0 = q6.scale(m), sc1 = q6.scale(m + 1);
          ST_UNROLL for (int t = 0; t < N; t++) {
            isum[t] = _mm256_add_epi32(isum[t], _mm256_add_epi32(_mm256_mullo_epi32(sub[t][0], sc0), _mm256_mullo_epi32(sub[t][1], sc1)));
          }
        }
      }
      ST_UNROLL for (int t = 0; t < N; t++) acc[t][half] = q6.add_to(acc[t][half], isum[t], xs[t][b]);
    }
  }
  for (int t = 0; t < N; t++) {
    _mm256_storeu_ps(out + t * kPackRows, acc[t][0]);
    _mm256_storeu_ps(out + t * kPackRows + 8, acc[t][1]);
  }
}

void gemm_q6_Kx16(const uint8_t* group, int64_t nb, const BlockQ8_K* const* xs, int n_x, float* out) {
  in_groups<2>(n_x, [&](int t0, auto acts) { gemm_q6_Kx16_n<decltype(acts)::value>(group, nb, xs + t0, out + t0 * kPackRows); });
}

}  // namespace

void avxvnni_overrides(KernelTable& t) {
  t.isa = "avxvnni";
  set_nibble_kernels<NibbleKernels, Nibbles::Q4_0, Nibbles::IQ4_NL, Nibbles::Q5_0, Nibbles::Q4_1, Nibbles::Q5_1>(t);
  t.gemm_q8_0x16 = gemm_q8_0x16;
  t.dot_q8_0x16_row = dot_q8_0x16_row;
  t.gemm_q4_Kx16 = gemm_q4_Kx16;
  t.gemm_q6_Kx16 = gemm_q6_Kx16;
  t.gemm_iq4_xsx16 = gemm_iq4_xsx16;
}

}  // namespace st::kernels
#endif
