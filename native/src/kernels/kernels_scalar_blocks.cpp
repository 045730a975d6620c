// Reference kernels of the block types beyond Q4_0 and Q8_0: the legacy 32-element types
// (Q4_1, Q5_0, Q5_1, IQ4_NL) and the 256-element super-blocks (Q2_K … Q6_K, IQ4_XS), with the
// activation forms they dot with (Q8_1, Q8_K). Each dot product sums a block's integer
// products exactly and scales them as llama.cpp's reference loops do; the decoders give the
// values of llama.cpp's dequantisation. The layouts are in ggml_types.h and docs/model.md.
#include <cmath>
#include <cstring>

#include "fp16.h"
#include "kernels.h"
#include "exact_ops.h"

namespace st::kernels {
namespace {

// ---- activation forms ----

void quantize_row_q8_1(const float* x, BlockQ8_1* y, int64_t n) {
  for (int64_t b = 0; b < n / 32; b++) {
    const float* xb = x + b * 32;
    float amax = 0;
    for (int j = 0; j < 32; j++) amax = std::fmax(amax, std::fabs(xb[j]));
    const float d = amax / 127.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    int sum = 0;
    for (int j = 0; j < 32; j++) {
      y[b].qs[j] = static_cast<int8_t>(round_half_away(xb[j] * id));
      sum += y[b].qs[j];
    }
    y[b].d = fp32_to_fp16(d);
    y[b].s = fp32_to_fp16(static_cast<float>(sum) * d);
  }
}

// The scale maps the value of largest magnitude to −127 (llama.cpp's choice, which keeps
// every code within ±127 and lets its SIMD versions skip a clamp).
void quantize_row_q8_K(const float* x, BlockQ8_K* y, int64_t n) {
  for (int64_t b = 0; b < n / kQK_K; b++) {
    const float* xb = x + b * kQK_K;
    float amax = 0, max = 0;
    for (int j = 0; j < kQK_K; j++) {
      const float a = std::fabs(xb[j]);
      if (a > amax) {
        amax = a;
        max = xb[j];
      }
    }
    if (amax == 0) {
      y[b].d = 0;
      std::memset(y[b].qs, 0, sizeof y[b].qs);
      std::memset(y[b].bsums, 0, sizeof y[b].bsums);
      continue;
    }
    const float iscale = -127.0f / max;
    for (int j = 0; j < kQK_K; j++) {
      const int v = round_half_even(iscale * xb[j]);
      y[b].qs[j] = static_cast<int8_t>(v < 127 ? v : 127);
    }
    for (int g = 0; g < kQK_K / 16; g++) {
      int sum = 0;
      for (int j = 0; j < 16; j++) sum += y[b].qs[16 * g + j];
      y[b].bsums[g] = static_cast<int16_t>(sum);
    }
    y[b].d = 1.0f / iscale;
  }
}

// ---- 32-element types ----

// Element j (0..15) of a block is the low nibble of qs[j], element j + 16 the high one; Q5
// types take bit 4 from bit j (or j + 16) of qh.
inline int nibble(const uint8_t* qs, int j) { return j < 16 ? qs[j] & 0x0f : qs[j - 16] >> 4; }
inline int high_bit(const uint8_t* qh, int j) {
  uint32_t h;
  std::memcpy(&h, qh, sizeof h);
  return static_cast<int>((h >> j) & 1) << 4;
}

float dot_q4_1(const void* wv, const void* xv, int64_t n) {
  const auto* w = static_cast<const BlockQ4_1*>(wv);
  const auto* x = static_cast<const BlockQ8_1*>(xv);
  float sum = 0;
  for (int64_t b = 0; b < n / 32; b++) {
    int32_t acc = 0;
    for (int j = 0; j < 32; j++) acc += nibble(w[b].qs, j) * x[b].qs[j];
    sum += fp16_to_fp32(w[b].d) * fp16_to_fp32(x[b].d) * static_cast<float>(acc) + fp16_to_fp32(w[b].m) * fp16_to_fp32(x[b].s);
  }
  return sum;
}
void to_float_q4_1(const void* wv, float* y, int64_t n) {
  const auto* w = static_cast<const BlockQ4_1*>(wv);
  for (int64_t b = 0; b < n / 32; b++) {
    const float d = fp16_to_fp32(w[b].d), m = fp16_to_fp32(w[b].m);
    for (int j = 0; j < 32; j++) y[b * 32 + j] = static_cast<float>(nibble(w[b].qs, j)) * d + m;
  }
}

float dot_q5_0(const void* wv, const void* xv, int64_t n) {
  const auto* w = static_cast<const BlockQ5_0*>(wv);
  const auto* x = static_cast<const BlockQ8_0*>(xv);
  float sum = 0;
  for (int64_t b = 0; b < n / 32; b++) {
    int32_t acc = 0;
    for (int j = 0; j < 32; j++) acc += ((nibble(w[b].qs, j) | high_bit(w[b].qh, j)) - 16) * x[b].qs[j];
    sum += fp16_to_fp32(w[b].d) * fp16_to_fp32(x[b].d) * static_cast<float>(acc);
  }
  return sum;
}
void to_float_q5_0(const void* wv, float* y, int64_t n) {
  const auto* w = static_cast<const BlockQ5_0*>(wv);
  for (int64_t b = 0; b < n / 32; b++) {
    const float d = fp16_to_fp32(w[b].d);
    for (int j = 0; j < 32; j++) y[b * 32 + j] = static_cast<float>((nibble(w[b].qs, j) | high_bit(w[b].qh, j)) - 16) * d;
  }
}

float dot_q5_1(const void* wv, const void* xv, int64_t n) {
  const auto* w = static_cast<const BlockQ5_1*>(wv);
  const auto* x = static_cast<const BlockQ8_1*>(xv);
  float sum = 0;
  for (int64_t b = 0; b < n / 32; b++) {
    int32_t acc = 0;
    for (int j = 0; j < 32; j++) acc += (nibble(w[b].qs, j) | high_bit(w[b].qh, j)) * x[b].qs[j];
    sum += fp16_to_fp32(w[b].d) * fp16_to_fp32(x[b].d) * static_cast<float>(acc) + fp16_to_fp32(w[b].m) * fp16_to_fp32(x[b].s);
  }
  return sum;
}
void to_float_q5_1(const void* wv, float* y, int64_t n) {
  const auto* w = static_cast<const BlockQ5_1*>(wv);
  for (int64_t b = 0; b < n / 32; b++) {
    const float d = fp16_to_fp32(w[b].d), m = fp16_to_fp32(w[b].m);
    for (int j = 0; j < 32; j++) y[b * 32 + j] = static_cast<float>(nibble(w[b].qs, j) | high_bit(w[b].qh, j)) * d + m;
  }
}

float dot_iq4_nl(const void* wv, const void* xv, int64_t n) {
  const auto* w = static_cast<const BlockIQ4_NL*>(wv);
  const auto* x = static_cast<const BlockQ8_0*>(xv);
  float sum = 0;
  for (int64_t b = 0; b < n / 32; b++) {
    int32_t acc = 0;
    for (int j = 0; j < 32; j++) acc += kIQ4Values[nibble(w[b].qs, j)] * x[b].qs[j];
    sum += fp16_to_fp32(w[b].d) * fp16_to_fp32(x[b].d) * static_cast<float>(acc);
  }
  return sum;
}
void to_float_iq4_nl(const void* wv, float* y, int64_t n) {
  const auto* w = static_cast<const BlockIQ4_NL*>(wv);
  for (int64_t b = 0; b < n / 32; b++) {
    const float d = fp16_to_fp32(w[b].d);
    for (int j = 0; j < 32; j++) y[b * 32 + j] = d * static_cast<float>(kIQ4Values[nibble(w[b].qs, j)]);
  }
}

// ---- 256-element super-blocks ----
// Each super-block is decoded to its integer codes and per-sub-block scales (and mins), from
// which the dot product and the decoder both compute: one reading of each layout.

// Q4_K and Q5_K: eight 6-bit scales and mins for the sub-blocks of 32, packed in 12 bytes.
void scale_min_k4(const uint8_t* s, int i, int* sc, int* mn) {
  if (i < 4) {
    *sc = s[i] & 63;
    *mn = s[i + 4] & 63;
  } else {
    *sc = (s[i + 4] & 0x0f) | ((s[i - 4] >> 6) << 4);
    *mn = (s[i + 4] >> 4) | ((s[i] >> 6) << 4);
  }
}

// Q2_K: codes 0..3; sub-block i (16 values) has scales[i] & 15 as scale and scales[i] >> 4 as min.
void codes_q2_K(const BlockQ2_K& b, int8_t* q) {
  for (int h = 0; h < 2; h++) {
    const uint8_t* qs = b.qs + 32 * h;
    for (int j = 0; j < 4; j++) {
      for (int l = 0; l < 32; l++) q[128 * h + 32 * j + l] = static_cast<int8_t>((qs[l] >> (2 * j)) & 3);
    }
  }
}

// Q3_K: codes −4..3 (two low bits in qs, the third in hmask, set meaning "no −4"); 16 six-bit
// scales (value − 32).
void codes_q3_K(const BlockQ3_K& b, int8_t* q, int* scales) {
  for (int h = 0; h < 2; h++) {
    const uint8_t* qs = b.qs + 32 * h;
    for (int j = 0; j < 4; j++) {
      const uint8_t m = static_cast<uint8_t>(1u << (4 * h + j));
      for (int l = 0; l < 32; l++) {
        q[128 * h + 32 * j + l] = static_cast<int8_t>(((qs[l] >> (2 * j)) & 3) - ((b.hmask[l] & m) ? 0 : 4));
      }
    }
  }
  for (int i = 0; i < 16; i++) {
    const int low = i < 8 ? b.scales[i] & 0x0f : b.scales[i - 8] >> 4;
    const int high = (b.scales[8 + i % 4] >> (2 * (i / 4))) & 3;
    scales[i] = (low | (high << 4)) - 32;
  }
}

// Q4_K / Q5_K: codes 0..15 (0..31), sub-block pair p from qs[32p .. 32p+32), low nibbles first.
void codes_q4_K(const uint8_t* qs, int8_t* q) {
  for (int p = 0; p < 4; p++) {
    for (int l = 0; l < 32; l++) {
      q[64 * p + l] = static_cast<int8_t>(qs[32 * p + l] & 0x0f);
      q[64 * p + 32 + l] = static_cast<int8_t>(qs[32 * p + l] >> 4);
    }
  }
}
void codes_q5_K(const BlockQ5_K& b, int8_t* q) {
  codes_q4_K(b.qs, q);
  for (int p = 0; p < 4; p++) {
    for (int l = 0; l < 32; l++) {
      q[64 * p + l] = static_cast<int8_t>(q[64 * p + l] + (((b.qh[l] >> (2 * p)) & 1) << 4));
      q[64 * p + 32 + l] = static_cast<int8_t>(q[64 * p + 32 + l] + (((b.qh[l] >> (2 * p + 1)) & 1) << 4));
    }
  }
}

// Q6_K: codes −32..31 from four low bits in ql and two high ones in qh; 16 int8 scales.
void codes_q6_K(const BlockQ6_K& b, int8_t* q) {
  for (int h = 0; h < 2; h++) {
    const uint8_t* ql = b.ql + 64 * h;
    const uint8_t* qh = b.qh + 32 * h;
    int8_t* out = q + 128 * h;
    for (int l = 0; l < 32; l++) {
      out[l] = static_cast<int8_t>(((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32);
      out[l + 32] = static_cast<int8_t>(((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32);
      out[l + 64] = static_cast<int8_t>(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
      out[l + 96] = static_cast<int8_t>(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
    }
  }
}

// IQ4_XS: codes kIQ4Values[nibble], eight 6-bit scales (value − 32) for the sub-blocks of 32.
void codes_iq4_xs(const BlockIQ4_XS& b, int8_t* q, int* scales) {
  for (int ib = 0; ib < 8; ib++) {
    const uint8_t* qs = b.qs + 16 * ib;
    for (int j = 0; j < 16; j++) {
      q[32 * ib + j] = kIQ4Values[qs[j] & 0x0f];
      q[32 * ib + 16 + j] = kIQ4Values[qs[j] >> 4];
    }
    const int low = (b.scales_l[ib / 2] >> (4 * (ib % 2))) & 0x0f;
    const int high = (b.scales_h >> (2 * ib)) & 3;
    scales[ib] = (low | (high << 4)) - 32;
  }
}

// Σ q·x over `len` values.
inline int32_t idot(const int8_t* q, const int8_t* x, int len) {
  int32_t s = 0;
  for (int i = 0; i < len; i++) s += q[i] * x[i];
  return s;
}

// One super-block decoded: its codes, each sub-block's integer scale and min, and the two
// float scales. Every 256-element type is read into this form, from which one dot product
// and one decoder compute (value = d·scale·code − dmin·min, as llama.cpp's loops round it).
struct SuperBlock {
  int8_t q[kQK_K];
  int scale[16];
  int min[16];
  int sub;  // values per sub-block: 16 or 32
  float d, dmin;
};

void decode(const BlockQ2_K& b, SuperBlock& s) {
  codes_q2_K(b, s.q);
  for (int i = 0; i < 16; i++) {
    s.scale[i] = b.scales[i] & 0x0f;
    s.min[i] = b.scales[i] >> 4;
  }
  s.sub = 16;
  s.d = fp16_to_fp32(b.d);
  s.dmin = fp16_to_fp32(b.dmin);
}
void decode(const BlockQ3_K& b, SuperBlock& s) {
  codes_q3_K(b, s.q, s.scale);
  std::memset(s.min, 0, sizeof s.min);
  s.sub = 16;
  s.d = fp16_to_fp32(b.d);
  s.dmin = 0;
}
template <typename Block>  // Q4_K and Q5_K: eight 6-bit scales and mins
void scales_k4(const Block& b, SuperBlock& s) {
  for (int i = 0; i < 8; i++) scale_min_k4(b.scales, i, &s.scale[i], &s.min[i]);
  s.sub = 32;
  s.d = fp16_to_fp32(b.d);
  s.dmin = fp16_to_fp32(b.dmin);
}
void decode(const BlockQ4_K& b, SuperBlock& s) {
  codes_q4_K(b.qs, s.q);
  scales_k4(b, s);
}
void decode(const BlockQ5_K& b, SuperBlock& s) {
  codes_q5_K(b, s.q);
  scales_k4(b, s);
}
void decode(const BlockQ6_K& b, SuperBlock& s) {
  codes_q6_K(b, s.q);
  for (int i = 0; i < 16; i++) s.scale[i] = b.scales[i];
  std::memset(s.min, 0, sizeof s.min);
  s.sub = 16;
  s.d = fp16_to_fp32(b.d);
  s.dmin = 0;
}
void decode(const BlockIQ4_XS& b, SuperBlock& s) {
  codes_iq4_xs(b, s.q, s.scale);
  std::memset(s.min, 0, sizeof s.min);
  s.sub = 32;
  s.d = fp16_to_fp32(b.d);
  s.dmin = 0;
}

// The integer part is exact; the block adds (x.d·d)·Σ scale·(q·x) − (x.d·dmin)·Σ min·Σx.
template <typename Block>
float dot_super(const void* wv, const void* xv, int64_t n) {
  const auto* w = static_cast<const Block*>(wv);
  const auto* x = static_cast<const BlockQ8_K*>(xv);
  float sum = 0;
  SuperBlock s;
  for (int64_t b = 0; b < n / kQK_K; b++) {
    decode(w[b], s);
    int32_t scaled = 0, mins = 0;
    for (int i = 0; i < kQK_K / s.sub; i++) {
      scaled += s.scale[i] * idot(s.q + s.sub * i, x[b].qs + s.sub * i, s.sub);
      int32_t xsum = 0;
      for (int g = i * s.sub / 16; g < (i + 1) * s.sub / 16; g++) xsum += x[b].bsums[g];
      mins += s.min[i] * xsum;
    }
    sum += x[b].d * s.d * static_cast<float>(scaled) - x[b].d * s.dmin * static_cast<float>(mins);
  }
  return sum;
}

template <typename Block>
void to_float_super(const void* wv, float* y, int64_t n) {
  const auto* w = static_cast<const Block*>(wv);
  SuperBlock s;
  for (int64_t b = 0; b < n / kQK_K; b++) {
    decode(w[b], s);
    for (int i = 0; i < kQK_K / s.sub; i++) {
      const float dl = s.d * static_cast<float>(s.scale[i]), ml = s.dmin * static_cast<float>(s.min[i]);
      for (int l = 0; l < s.sub; l++) y[b * kQK_K + s.sub * i + l] = dl * static_cast<float>(s.q[s.sub * i + l]) - ml;
    }
  }
}
}  // namespace

// ---- Q4_K packed 16 rows at a time (kernels.h) ----

namespace {

// The exact per-row value the packed kernels give (kernels.h), from one Q4_K block.
// Value l (0..31) of sub-block i: its nibble, and for Q5_K its fifth bit (bit i of qh[l]).
inline int k4x16_code(const BlockQ4_K& w, int i, int l) {
  const uint8_t q = w.qs[32 * (i / 2) + l];
  return i % 2 ? q >> 4 : q & 0x0f;
}
inline int k4x16_code(const BlockQ5_K& w, int i, int l) {
  const uint8_t q = w.qs[32 * (i / 2) + l];
  return (i % 2 ? q >> 4 : q & 0x0f) | ((w.qh[l] >> i) & 1) << 4;
}

// One super-block of a packed Q4_K or Q5_K row: the packed kernels' contract (kernels.h).
template <typename Block>
float k4x16_block(const Block& w, const BlockQ8_K& x, float acc) {
  int32_t isum = 0, msum = 0;
  for (int i = 0; i < 8; i++) {
    int sc, mn;
    scale_min_k4(w.scales, i, &sc, &mn);
    int32_t s = 0;
    for (int l = 0; l < 32; l++) s += k4x16_code(w, i, l) * x.qs[32 * i + l];
    isum += sc * s;
    msum += mn * (x.bsums[2 * i] + x.bsums[2 * i + 1]);
  }
  acc = fma_exact(static_cast<float>(isum), fp16_to_fp32(w.d) * x.d, acc);
  return fma_exact(-static_cast<float>(msum), fp16_to_fp32(w.dmin) * x.d, acc);
}

// The part both packings share (Q4_K's fields, which Q5_K begins with): scale words, d, dmin
// and the code vectors of the low four bits.
template <typename Block>
void pack_k4x16_scales(const Block* rows, int64_t row_stride, int64_t b, uint8_t* block) {
  for (int r = 0; r < kPackRows; r++) {
    const Block& w = rows[r * row_stride + b];
    for (int k = 0; k < 3; k++) std::memcpy(block + kQ4KxScaleWords + 4 * (16 * k + r), w.scales + 4 * k, 4);
    std::memcpy(block + kQ4KxD + 2 * r, &w.d, 2);
    std::memcpy(block + kQ4KxDmin + 2 * r, &w.dmin, 2);
  }
}

// The 128 code bytes of row r of a super-block column into the 32 code vectors at `codes`
// (Q4_K×16, Q5_K×16, IQ4_XS×16: word v of the row at 64v + 4r), and back.
void pack_code_words(const uint8_t* qs, int r, uint8_t* codes) {
  for (int v = 0; v < 32; v++) std::memcpy(codes + 64 * v + 4 * r, qs + 4 * v, 4);
}
void unpack_code_words(const uint8_t* codes, int lane, uint8_t* qs) {
  for (int v = 0; v < 32; v++) std::memcpy(qs + 4 * v, codes + 64 * v + 4 * lane, 4);
}

template <typename Block>
void pack_k4x16_common(const Block* rows, int64_t row_stride, int64_t b, uint8_t* block) {
  pack_k4x16_scales(rows, row_stride, b, block);
  for (int r = 0; r < kPackRows; r++) pack_code_words(rows[r * row_stride + b].qs, r, block + kQ4KxCodes);
}

template <typename Block>
void unpack_k4x16_common(const uint8_t* block, int lane, Block& b) {
  for (int w = 0; w < 3; w++) std::memcpy(b.scales + 4 * w, block + kQ4KxScaleWords + 4 * (16 * w + lane), 4);
  std::memcpy(&b.d, block + kQ4KxD + 2 * lane, 2);
  std::memcpy(&b.dmin, block + kQ4KxDmin + 2 * lane, 2);
  unpack_code_words(block + kQ4KxCodes, lane, b.qs);
}

}  // namespace

void unpack_q5_Kx16_row(const uint8_t* block, int lane, BlockQ5_K& b) {
  unpack_k4x16_common(block, lane, b);
  for (int s = 0; s < 8; s++) std::memcpy(b.qh + 4 * s, block + kQ5KxHigh + 64 * s + 4 * lane, 4);
}

void pack_q5_Kx16(const BlockQ5_K* rows, int64_t row_stride, int64_t nb, uint8_t* out) {
  for (int64_t b = 0; b < nb; b++) {
    uint8_t* block = out + b * kPackedQ5KBytes;
    pack_k4x16_common(rows, row_stride, b, block);
    for (int r = 0; r < kPackRows; r++) {
      for (int s = 0; s < 8; s++) std::memcpy(block + kQ5KxHigh + 64 * s + 4 * r, rows[r * row_stride + b].qh + 4 * s, 4);
    }
  }
}

void unpack_q4_Kx16_row(const uint8_t* block, int lane, BlockQ4_K& b) { unpack_k4x16_common(block, lane, b); }

void pack_q6_Kx16(const BlockQ6_K* rows, int64_t row_stride, int64_t nb, uint8_t* out) {
  for (int64_t b = 0; b < nb; b++) {
    uint8_t* block = out + b * kPackedQ6KBytes;
    for (int r = 0; r < kPackRows; r++) {
      const BlockQ6_K& w = rows[r * row_stride + b];
      for (int j = 0; j < 32; j++) std::memcpy(block + kQ6KxLow + 64 * j + 4 * r, w.ql + 4 * j, 4);
      for (int j = 0; j < 16; j++) std::memcpy(block + kQ6KxHigh + 64 * j + 4 * r, w.qh + 4 * j, 4);
      for (int m = 0; m < 16; m++) block[kQ6KxScales + 16 * m + r] = static_cast<uint8_t>(w.scales[m]);
      std::memcpy(block + kQ6KxD + 2 * r, &w.d, 2);
    }
  }
}

void unpack_q6_Kx16_row(const uint8_t* block, int lane, BlockQ6_K& w) {
  for (int j = 0; j < 32; j++) std::memcpy(w.ql + 4 * j, block + kQ6KxLow + 64 * j + 4 * lane, 4);
  for (int j = 0; j < 16; j++) std::memcpy(w.qh + 4 * j, block + kQ6KxHigh + 64 * j + 4 * lane, 4);
  for (int m = 0; m < 16; m++) w.scales[m] = static_cast<int8_t>(block[kQ6KxScales + 16 * m + lane]);
  std::memcpy(&w.d, block + kQ6KxD + 2 * lane, 2);
}

void gemm_q6_Kx16_reference(const uint8_t* group, int64_t nb, const BlockQ8_K* const* xs, int n_x, float* out) {
  for (int t = 0; t < n_x; t++) {
    for (int r = 0; r < kPackRows; r++) {
      float acc = 0;
      BlockQ6_K w;
      for (int64_t b = 0; b < nb; b++) {
        unpack_q6_Kx16_row(group + b * kPackedQ6KBytes, r, w);
        const BlockQ8_K& x = xs[t][b];
        int32_t isum = 0;
        for (int m = 0; m < 16; m++) {  // values 16m .. 16m+15 = 128h + 32k + l
          int32_t s = 0;
          for (int i = 16 * m; i < 16 * m + 16; i++) {
            const int h = i / 128, k = i % 128 / 32, l = i % 32;
            const uint8_t low = w.ql[64 * h + 32 * (k % 2) + l];
            const int code = (k < 2 ? low & 0x0f : low >> 4) | ((w.qh[32 * h + l] >> (2 * k)) & 3) << 4;
            s += (code - 32) * x.qs[i];
          }
          isum += w.scales[m] * s;
        }
        acc = fma_exact(static_cast<float>(isum), fp16_to_fp32(w.d) * x.d, acc);
      }
      out[t * kPackRows + r] = acc;
    }
  }
}

void pack_iq4_xsx16_scales(const BlockIQ4_XS* rows, int64_t row_stride, int64_t b, uint8_t* block) {
  for (int r = 0; r < kPackRows; r++) {
    const BlockIQ4_XS& w = rows[r * row_stride + b];
    std::memcpy(block + kIQ4XSxScalesL + 4 * r, w.scales_l, 4);
    std::memcpy(block + kIQ4XSxScalesH + 2 * r, &w.scales_h, 2);
    std::memcpy(block + kIQ4XSxD + 2 * r, &w.d, 2);
  }
}

void pack_iq4_xsx16(const BlockIQ4_XS* rows, int64_t row_stride, int64_t nb, uint8_t* out) {
  for (int64_t b = 0; b < nb; b++) {
    uint8_t* block = out + b * kPackedIQ4XSBytes;
    pack_iq4_xsx16_scales(rows, row_stride, b, block);
    for (int r = 0; r < kPackRows; r++) pack_code_words(rows[r * row_stride + b].qs, r, block + kIQ4XSxCodes);
  }
}

void unpack_iq4_xsx16_row(const uint8_t* block, int lane, BlockIQ4_XS& w) {
  std::memcpy(w.scales_l, block + kIQ4XSxScalesL + 4 * lane, 4);
  std::memcpy(&w.scales_h, block + kIQ4XSxScalesH + 2 * lane, 2);
  std::memcpy(&w.d, block + kIQ4XSxD + 2 * lane, 2);
  unpack_code_words(block + kIQ4XSxCodes, lane, w.qs);
}

void gemm_iq4_xsx16_reference(const uint8_t* group, int64_t nb, const BlockQ8_K* const* xs, int n_x, float* out) {
  for (int t = 0; t < n_x; t++) {
    for (int r = 0; r < kPackRows; r++) {
      float acc = 0;
      BlockIQ4_XS w;
      int8_t q[kQK_K];
      int scales[8];
      for (int64_t b = 0; b < nb; b++) {
        unpack_iq4_xsx16_row(group + b * kPackedIQ4XSBytes, r, w);
        codes_iq4_xs(w, q, scales);
        const BlockQ8_K& x = xs[t][b];
        int32_t isum = 0;
        for (int i = 0; i < 8; i++) isum += scales[i] * idot(q + 32 * i, x.qs + 32 * i, 32);
        acc = fma_exact(static_cast<float>(isum), fp16_to_fp32(w.d) * x.d, acc);
      }
      out[t * kPackRows + r] = acc;
    }
  }
}

void pack_q4_Kx16_scales(const BlockQ4_K* rows, int64_t row_stride, int64_t b, uint8_t* block) {
  pack_k4x16_scales(rows, row_stride, b, block);
}

void pack_q4_Kx16(const BlockQ4_K* rows, int64_t row_stride, int64_t nb, uint8_t* out) {
  for (int64_t b = 0; b < nb; b++) pack_k4x16_common(rows, row_stride, b, out + b * kPackedQ4KBytes);
}

namespace {

void unpack_x16_row(const uint8_t* block, int lane, BlockQ4_K& w) { unpack_q4_Kx16_row(block, lane, w); }
void unpack_x16_row(const uint8_t* block, int lane, BlockQ5_K& w) { unpack_q5_Kx16_row(block, lane, w); }

template <typename Block>
void gemm_k4x16_reference(const uint8_t* group, int64_t nb, const BlockQ8_K* const* xs, int n_x, float* out) {
  for (int t = 0; t < n_x; t++) {
    for (int r = 0; r < kPackRows; r++) {
      float acc = 0;
      Block w;
      for (int64_t b = 0; b < nb; b++) {
        unpack_x16_row(group + b * kPackRows * sizeof(Block), r, w);
        acc = k4x16_block(w, xs[t][b], acc);
      }
      out[t * kPackRows + r] = acc;
    }
  }
}

}  // namespace

void gemm_q4_Kx16_reference(const uint8_t* group, int64_t nb, const BlockQ8_K* const* xs, int n_x, float* out) {
  gemm_k4x16_reference<BlockQ4_K>(group, nb, xs, n_x, out);
}

void gemm_q5_Kx16_reference(const uint8_t* group, int64_t nb, const BlockQ8_K* const* xs, int n_x, float* out) {
  gemm_k4x16_reference<BlockQ5_K>(group, nb, xs, n_x, out);
}

void add_scalar_block_kernels(KernelTable& t) {
  t.quantize_row_q8_1 = quantize_row_q8_1;
  t.quantize_row_q8_K = quantize_row_q8_K;
  t.q4_1 = {dot_q4_1, to_float_q4_1};
  t.q5_0 = {dot_q5_0, to_float_q5_0};
  t.q5_1 = {dot_q5_1, to_float_q5_1};
  t.iq4_nl = {dot_iq4_nl, to_float_iq4_nl};
  t.q2_K = {dot_super<BlockQ2_K>, to_float_super<BlockQ2_K>};
  t.q3_K = {dot_super<BlockQ3_K>, to_float_super<BlockQ3_K>};
  t.q4_K = {dot_super<BlockQ4_K>, to_float_super<BlockQ4_K>};
  t.q5_K = {dot_super<BlockQ5_K>, to_float_super<BlockQ5_K>};
  t.q6_K = {dot_super<BlockQ6_K>, to_float_super<BlockQ6_K>};
  t.iq4_xs = {dot_super<BlockIQ4_XS>, to_float_super<BlockIQ4_XS>};
}

ActivationForm activation_form(GgmlType t) {
  switch (t) {
    case GgmlType::F16: return ActivationForm::F16;
    case GgmlType::BF16: return ActivationForm::BF16;
    case GgmlType::Q4_0: case GgmlType::Q5_0: case GgmlType::Q8_0: case GgmlType::IQ4_NL: return ActivationForm::Q8_0;
    case GgmlType::Q4_1: case GgmlType::Q5_1: return ActivationForm::Q8_1;
    case GgmlType::Q2_K: case GgmlType::Q3_K: case GgmlType::Q4_K: case GgmlType::Q5_K: case GgmlType::Q6_K: case GgmlType::IQ4_XS:
      return ActivationForm::Q8_K;
    default: return ActivationForm::F32;
  }
}

const BlockTypeKernels* block_type_kernels(const KernelTable& k, GgmlType t) {
  switch (t) {
    case GgmlType::Q4_1: return &k.q4_1;
    case GgmlType::Q5_0: return &k.q5_0;
    case GgmlType::Q5_1: return &k.q5_1;
    case GgmlType::IQ4_NL: return &k.iq4_nl;
    case GgmlType::Q2_K: return &k.q2_K;
    case GgmlType::Q3_K: return &k.q3_K;
    case GgmlType::Q4_K: return &k.q4_K;
    case GgmlType::Q5_K: return &k.q5_K;
    case GgmlType::Q6_K: return &k.q6_K;
    case GgmlType::IQ4_XS: return &k.iq4_xs;
    default: return nullptr;
  }
}

}  // namespace st::kernels
