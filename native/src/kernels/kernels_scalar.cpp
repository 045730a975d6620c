// Portable reference kernels: plain loops, the numerics every SIMD version must match.
#include <cmath>

#include "fp16.h"
#include "kernels.h"

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
    for (int j = 0; j < kQK8_0; j++) y[b].qs[j] = static_cast<int8_t>(std::roundf(xb[j] * id));
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

const KernelTable kScalar = {
    "scalar", quantize_row_q8_0, dot_q4_0_q8_0, dot_q4_0_q8_0_x4, dot_q8_0_q8_0, dot_f32_f32, dot_f16_f32, dot_bf16_f32, dot_f16_f16, dot_bf16_bf16,
    axpy_q4_0, axpy_q8_0, axpy_f32, axpy_f16, axpy_bf16,
    nullptr, nullptr,  // no *_sums dot products: the plain ones above serve
};

}  // namespace

void q8_0_block_sums(const BlockQ8_0* x, int32_t* sums, int64_t n_blocks) {
  for (int64_t b = 0; b < n_blocks; b++) {
    int32_t t = 0;
    for (int j = 0; j < kQK8_0; j++) t += x[b].qs[j];
    sums[b] = t;
  }
}

const KernelTable& scalar_table() { return kScalar; }

}  // namespace st::kernels
