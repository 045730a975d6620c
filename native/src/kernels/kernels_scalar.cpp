// Portable reference kernels: plain loops, the numerics every SIMD version must match.
#include <cmath>
#include <cstring>
#include <type_traits>

#include "fp16.h"
#include "kernels.h"
#include "exact_ops.h"
#include "runtime/portable_math.h"

namespace st::kernels {
namespace {

void quantize_row_q8_0(const float* x, BlockQ8_0* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK8_0; b++) {
    const float* xb = x + b * kQK8_0;
    float amax = 0;
    for (int j = 0; j < kQK8_0; j++) amax = std::fmax(amax, std::fabs(xb[j]));
    const float d = amax / 127.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    y[b].d = fp32_to_fp16(d);
    for (int j = 0; j < kQK8_0; j++) y[b].qs[j] = static_cast<int8_t>(round_half_away(xb[j] * id));
  }
}

float dot_q4_0_q8_0(const BlockQ4_0* w, const BlockQ8_0* x, int64_t n) {
  float sum = 0;
  for (int64_t b = 0; b < n / kQK4_0; b++) {
    int32_t acc = 0;
    for (int j = 0; j < kQK4_0 / 2; j++) {
      acc += ((w[b].qs[j] & 0x0f) - 8) * x[b].qs[j];
      acc += ((w[b].qs[j] >> 4) - 8) * x[b].qs[j + kQK4_0 / 2];
    }
    sum += static_cast<float>(acc) * fp16_to_fp32(w[b].d) * fp16_to_fp32(x[b].d);
  }
  return sum;
}

void dot_q4_0_q8_0_x4(const BlockQ4_0* w, const BlockQ8_0* const* xs, int64_t n, float* out) {
  for (int t = 0; t < 4; t++) out[t] = dot_q4_0_q8_0(w, xs[t], n);
}

float dot_q8_0_q8_0(const BlockQ8_0* w, const BlockQ8_0* x, int64_t n) {
  float sum = 0;
  for (int64_t b = 0; b < n / kQK8_0; b++) {
    int32_t acc = 0;
    for (int j = 0; j < kQK8_0; j++) acc += w[b].qs[j] * x[b].qs[j];
    sum += static_cast<float>(acc) * fp16_to_fp32(w[b].d) * fp16_to_fp32(x[b].d);
  }
  return sum;
}

// Four rows against one activation, by definition the one-row values (the NEON table has a
// kernel that computes them side by side); here so that the x86 test runs, whose scalar table
// keeps Q8_0 rows as in the file, go through the decode path that takes four rows at a time.
void dot_q4_0_q8_0_rows4(const BlockQ4_0* const* rows, const BlockQ8_0* x, int64_t n, float* out) {
  for (int r = 0; r < 4; r++) out[r] = dot_q4_0_q8_0(rows[r], x, n);
}

void dot_q8_0_q8_0_rows4(const BlockQ8_0* const* rows, const BlockQ8_0* x, int64_t n, float* out) {
  for (int r = 0; r < 4; r++) out[r] = dot_q8_0_q8_0(rows[r], x, n);
}

float dot_f32_f32(const float* w, const float* x, int64_t n) {
  float sum = 0;
  for (int64_t i = 0; i < n; i++) sum += w[i] * x[i];
  return sum;
}

float dot_f16_f32(const uint16_t* w, const float* x, int64_t n) {
  float sum = 0;
  for (int64_t i = 0; i < n; i++) sum += fp16_to_fp32(w[i]) * x[i];
  return sum;
}

float dot_bf16_f32(const uint16_t* w, const float* x, int64_t n) {
  float sum = 0;
  for (int64_t i = 0; i < n; i++) sum += bf16_to_fp32(w[i]) * x[i];
  return sum;
}

float dot_f16_f16(const uint16_t* w, const uint16_t* x, int64_t n) {
  float sum = 0;
  for (int64_t i = 0; i < n; i++) sum += fp16_to_fp32(w[i]) * fp16_to_fp32(x[i]);
  return sum;
}

float dot_bf16_bf16(const uint16_t* w, const uint16_t* x, int64_t n) {
  float sum = 0;
  for (int64_t i = 0; i < n; i++) sum += bf16_to_fp32(w[i]) * bf16_to_fp32(x[i]);
  return sum;
}

void axpy_q4_0(const BlockQ4_0* row, float s, float* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK4_0; b++) {
    const float sd = s * fp16_to_fp32(row[b].d);
    float* yb = y + b * kQK4_0;
    for (int j = 0; j < kQK4_0 / 2; j++) {
      yb[j] += sd * static_cast<float>((row[b].qs[j] & 0x0f) - 8);
      yb[j + kQK4_0 / 2] += sd * static_cast<float>((row[b].qs[j] >> 4) - 8);
    }
  }
}

void axpy_q8_0(const BlockQ8_0* row, float s, float* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK8_0; b++) {
    const float sd = s * fp16_to_fp32(row[b].d);
    for (int j = 0; j < kQK8_0; j++) y[b * kQK8_0 + j] += sd * static_cast<float>(row[b].qs[j]);
  }
}

void axpy_f32(const float* row, float s, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] += s * row[i];
}
void axpy_f16(const uint16_t* row, float s, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] += s * fp16_to_fp32(row[i]);
}
void axpy_bf16(const uint16_t* row, float s, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] += s * bf16_to_fp32(row[i]);
}

// What element j (0..31) of row `lane` stands for in a packed 32-value block (the rows' F16
// scales, then code vectors where vector s holds row r's bytes 4s..4s+3 at 4r).
constexpr size_t kCodeVectors = kPackRows * sizeof(uint16_t);
// Q4_0×16 and its kin (IQ4_NL, Q5_0, Q4_1, Q5_1): the low nibbles are elements 4s..4s+3, the
// high ones 16+4s...
int packed_nibble(const uint8_t* block, int lane, int j) {
  const uint8_t q = block[kCodeVectors + 64 * ((j % 16) / 4) + 4 * lane + j % 4];
  return j < 16 ? q & 0x0f : q >> 4;
}
int q4_0_code(const uint8_t* block, int lane, int j) { return packed_nibble(block, lane, j) - 8; }
int iq4_nl_code(const uint8_t* block, int lane, int j) { return kIQ4Values[packed_nibble(block, lane, j)]; }
int q5_0_code(const uint8_t* block, int lane, int j) {
  uint32_t qh;
  std::memcpy(&qh, block + kQ5_0xHigh + 4 * lane, sizeof qh);
  return (packed_nibble(block, lane, j) | ((qh >> j) & 1) << 4) - 16;
}
// Q4_1×16, Q5_1×16: the unsigned codes.
int q4_1_code(const uint8_t* block, int lane, int j) { return packed_nibble(block, lane, j); }
int q5_1_code(const uint8_t* block, int lane, int j) { return q5_0_code(block, lane, j) + 16; }
// Q8_0×16: eight vectors of bytes q + 128.
int q8_0_code(const uint8_t* block, int lane, int j) {
  return static_cast<int8_t>(block[kCodeVectors + 64 * (j / 4) + 4 * lane + j % 4] ^ 0x80);
}

// Σ_j code_j·x_j of row `lane`'s block in a packed block: the exact integer i_b.
template <int (*Code)(const uint8_t*, int, int)>
int32_t packed_block_dot(const uint8_t* block, int lane, const BlockQ8_0& x) {
  int32_t acc = 0;
  for (int j = 0; j < kQK8_0; j++) acc += Code(block, lane, j) * x.qs[j];
  return acc;
}

float packed_scale(const uint8_t* block, int lane) {
  uint16_t d;
  std::memcpy(&d, block + lane * sizeof(uint16_t), sizeof d);
  return fp16_to_fp32(d);
}

// The packed 32-value formats' contract for row `lane` (kernels.h): acc = fma(float(i_b),
// d_w,b · d_x,b, acc) over the blocks (block_bytes each, the rows' F16 scales first), i_b from
// block_dot.
template <int32_t (*BlockDot)(const uint8_t*, int, const BlockQ8_0&)>
float packed_32_row(const uint8_t* group, int64_t nb, size_t block_bytes, int lane, const BlockQ8_0* x) {
  float acc = 0;
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t* block = group + b * block_bytes;
    acc = fma_exact(static_cast<float>(BlockDot(block, lane, x[b])), packed_scale(block, lane) * fp16_to_fp32(x[b].d), acc);
  }
  return acc;
}

// Every row of a packed 32-value group against n_x activations: out[t·16 + r].
template <int32_t (*BlockDot)(const uint8_t*, int, const BlockQ8_0&)>
void packed_32_gemm(const uint8_t* group, int64_t nb, size_t block_bytes, const BlockQ8_0* const* xs, int n_x, float* out) {
  for (int t = 0; t < n_x; t++) {
    for (int r = 0; r < kPackRows; r++) out[t * kPackRows + r] = packed_32_row<BlockDot>(group, nb, block_bytes, r, xs[t]);
  }
}

float dot_q4_0x16_row(const uint8_t* group, int64_t nb, int lane, const BlockQ8_0* x, const Q8_0BlockTerms*) {
  return packed_32_row<packed_block_dot<q4_0_code>>(group, nb, kPackedBlockBytes, lane, x);
}

void gemm_q4_0x16(const uint8_t* group, int64_t nb, const BlockQ8_0* const* xs, const Q8_0BlockTerms* const*, int n_x, float* out) {
  packed_32_gemm<packed_block_dot<q4_0_code>>(group, nb, kPackedBlockBytes, xs, n_x, out);
}

void exp_shifted(float* x, const float* shifts, int lanes, int64_t n) {
  for (int64_t i = 0; i < n; i++) x[i] = portable_math::exp(x[i] - shifts[i % lanes]);
}

int64_t first_max(const float* x, int64_t n, float* best) {
  int64_t at = -1;
  for (int64_t i = 0; i < n; i++) {
    if (x[i] == x[i] && (at < 0 || x[i] > x[at])) at = i;  // x[i] == x[i]: not NaN
  }
  if (at >= 0) *best = x[at];
  return at;
}

int64_t first_above(const float* x, int64_t n, float t) {
  for (int64_t i = 0; i < n; i++) {
    if (x[i] > t) return i;
  }
  return n;
}

void to_f16(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = fp32_to_fp16(x[i]);
}

const KernelTable kScalarOwn = {
    "scalar", quantize_row_q8_0, dot_q4_0_q8_0, dot_q4_0_q8_0_x4, dot_q8_0_q8_0, dot_f32_f32, dot_f16_f32, dot_bf16_f32, dot_f16_f16, dot_bf16_bf16,
    axpy_q4_0, axpy_q8_0, axpy_f32, axpy_f16, axpy_bf16,
    nullptr, nullptr,  // no fused multi-head F16 attention rows: one head at a time
    nullptr, nullptr,  // no *_sums dot products: the plain ones above serve
    gemm_q4_0x16, dot_q4_0x16_row,
};

}  // namespace

static int32_t block_sum(const BlockQ8_0& x) {
  int32_t t = 0;
  for (int j = 0; j < kQK8_0; j++) t += x.qs[j];
  return t;
}

void q8_0_block_sums(const BlockQ8_0* x, int32_t* sums, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; b++) sums[b] = block_sum(x[b]);
}

void q8_0_block_terms(const BlockQ8_0* x, Q8_0BlockTerms* terms, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; b++) terms[b] = {fp16_to_fp32(x[b].d), -8 * block_sum(x[b])};
}

// The packings that share Q4_0×16's code vectors (kernels.h): per block column, each row's F16
// d and its 16 bytes of nibbles, the Q5 types' qh words and the _1 types' m.
template <typename Block>
static void pack_nibbles_x16(const Block* rows, int64_t row_stride, int64_t nb, uint8_t* out) {
  for (int64_t b = 0; b < nb; b++) {
    uint8_t* block = out + b * kPackRows * sizeof(Block);
    for (int r = 0; r < kPackRows; r++) {
      const Block& src = rows[r * row_stride + b];
      std::memcpy(block + r * sizeof(uint16_t), &src.d, sizeof(uint16_t));
      for (int s = 0; s < 4; s++) std::memcpy(block + kPackRows * sizeof(uint16_t) + 64 * s + 4 * r, src.qs + 4 * s, 4);
      if constexpr (std::is_same_v<Block, BlockQ5_0> || std::is_same_v<Block, BlockQ5_1>) {
        std::memcpy(block + kQ5_0xHigh + 4 * r, src.qh, 4);
      }
      if constexpr (std::is_same_v<Block, BlockQ4_1> || std::is_same_v<Block, BlockQ5_1>) {
        std::memcpy(block + (std::is_same_v<Block, BlockQ4_1> ? kQ4_1xMin : kQ5_1xMin) + 2 * r, &src.m, sizeof(uint16_t));
      }
    }
  }
}

void pack_q4_0x16(const BlockQ4_0* rows, int64_t row_stride, int64_t nb, uint8_t* out) { pack_nibbles_x16(rows, row_stride, nb, out); }
void pack_q5_0x16(const BlockQ5_0* rows, int64_t row_stride, int64_t nb, uint8_t* out) { pack_nibbles_x16(rows, row_stride, nb, out); }
void pack_q4_1x16(const BlockQ4_1* rows, int64_t row_stride, int64_t nb, uint8_t* out) { pack_nibbles_x16(rows, row_stride, nb, out); }
void pack_q5_1x16(const BlockQ5_1* rows, int64_t row_stride, int64_t nb, uint8_t* out) { pack_nibbles_x16(rows, row_stride, nb, out); }

void pack_q8_0x16(const BlockQ8_0* rows, int64_t row_stride, int64_t nb, uint8_t* out) {
  for (int64_t b = 0; b < nb; b++) {
    uint8_t* block = out + b * kPackedQ8_0BlockBytes;
    for (int r = 0; r < kPackRows; r++) {
      const BlockQ8_0& src = rows[r * row_stride + b];
      std::memcpy(block + r * sizeof(uint16_t), &src.d, sizeof(uint16_t));
      for (int s = 0; s < 8; s++) {
        uint32_t four;
        std::memcpy(&four, src.qs + 4 * s, 4);
        four ^= 0x80808080u;  // each byte's sign bit: q + 128
        std::memcpy(block + kPackRows * sizeof(uint16_t) + 64 * s + 4 * r, &four, 4);
      }
    }
  }
}

void gemm_q8_0x16_reference(const uint8_t* group, int64_t nb, const BlockQ8_0* const* xs, const Q8_0BlockTerms* const*, int n_x,
                            float* out) {
  packed_32_gemm<packed_block_dot<q8_0_code>>(group, nb, kPackedQ8_0BlockBytes, xs, n_x, out);
}

void gemm_iq4_nlx16_reference(const uint8_t* group, int64_t nb, const BlockQ8_0* const* xs, const Q8_0BlockTerms* const*, int n_x,
                              float* out) {
  packed_32_gemm<packed_block_dot<iq4_nl_code>>(group, nb, kPackedBlockBytes, xs, n_x, out);
}

// The packed Q4_1 and Q5_1 contract (kernels.h) for every row against n_x Q8_1 activations:
// i_b from Code, then the two fused multiply-adds per block.
namespace {
template <int (*Code)(const uint8_t*, int, int)>
void packed_affine_gemm(const uint8_t* group, int64_t nb, size_t block_bytes, size_t min_offset, const BlockQ8_1* const* xs, int n_x,
                        float* out) {
  for (int t = 0; t < n_x; t++) {
    for (int r = 0; r < kPackRows; r++) {
      float acc = 0;
      for (int64_t b = 0; b < nb; b++) {
        const uint8_t* block = group + b * block_bytes;
        const BlockQ8_1& x = xs[t][b];
        int32_t i_b = 0;
        for (int j = 0; j < 32; j++) i_b += Code(block, r, j) * x.qs[j];
        uint16_t m;
        std::memcpy(&m, block + min_offset + 2 * r, sizeof m);
        acc = fma_exact(static_cast<float>(i_b), packed_scale(block, r) * fp16_to_fp32(x.d), acc);
        acc = fma_exact(fp16_to_fp32(m), fp16_to_fp32(x.s), acc);
      }
      out[t * kPackRows + r] = acc;
    }
  }
}
}  // namespace

void gemm_q4_1x16_reference(const uint8_t* group, int64_t nb, const BlockQ8_1* const* xs, int n_x, float* out) {
  packed_affine_gemm<q4_1_code>(group, nb, kPackedQ4_1BlockBytes, kQ4_1xMin, xs, n_x, out);
}

void gemm_q5_1x16_reference(const uint8_t* group, int64_t nb, const BlockQ8_1* const* xs, int n_x, float* out) {
  packed_affine_gemm<q5_1_code>(group, nb, kPackedQ5_1BlockBytes, kQ5_1xMin, xs, n_x, out);
}

void gemm_q5_0x16_reference(const uint8_t* group, int64_t nb, const BlockQ8_0* const* xs, const Q8_0BlockTerms* const*, int n_x,
                            float* out) {
  packed_32_gemm<packed_block_dot<q5_0_code>>(group, nb, kPackedQ5_0BlockBytes, xs, n_x, out);
}

void add_scalar_block_kernels(KernelTable& t);  // kernels_scalar_blocks.cpp

const KernelTable& scalar_table() {
  static const KernelTable table = [] {
    KernelTable t = kScalarOwn;
    t.exp_shifted = exp_shifted;
    t.first_max = first_max;
    t.first_above = first_above;
    t.to_f16 = to_f16;
    t.pack_q4_0x16 = pack_q4_0x16;
    t.pack_q4_Kx16 = pack_q4_Kx16;
    t.pack_q8_0x16 = pack_q8_0x16;
    t.pack_q5_Kx16 = pack_q5_Kx16;
    t.pack_q6_Kx16 = pack_q6_Kx16;
    t.pack_iq4_xsx16 = pack_iq4_xsx16;
    t.pack_q5_0x16 = pack_q5_0x16;
    t.pack_q4_1x16 = pack_q4_1x16;
    t.pack_q5_1x16 = pack_q5_1x16;
    t.dot_q4_0_q8_0_rows4 = dot_q4_0_q8_0_rows4;
    t.dot_q8_0_q8_0_rows4 = dot_q8_0_q8_0_rows4;
    add_scalar_block_kernels(t);
    return t;
  }();
  return table;
}

}  // namespace st::kernels
