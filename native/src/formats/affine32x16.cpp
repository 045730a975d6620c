// Q4_1 and Q5_1 packed 16 rows at a time (kernels::pack_q4_1x16, pack_q5_1x16), for kernels
// that multiply four codes of sixteen rows in one instruction (AVX-512 VNNI, AVX-VNNI): the
// legacy affine types (d·q + m) of llama-quantize's Q4_1 and Q5_1 files, whose rows as in the
// file went through one-row kernels at about llama.cpp's prefill speed. Products go a 16-row
// group at a time; each row's value is defined to the bit by the kernels (kernels.h), so it is
// the same whichever way a group is computed.

#include "affine32x16.h"

#include "packed_groups.h"

namespace st {
namespace {

constexpr int64_t R = kernels::kPackRows;

// The kernels of one packing.
struct Kernels {
  void (*gemm)(const uint8_t* group, int64_t nb, const BlockQ8_1* const* xs, int n_x, float* out);
  float (*row_dot)(const uint8_t* group, int64_t nb, int lane, const BlockQ8_1* x);
};

Kernels kernels_for(Affine32x16::Weights weights) {
  const kernels::KernelTable& k = kernels::active();
  if (weights == Affine32x16::Weights::Q4_1) return {k.gemm_q4_1x16, k.dot_q4_1x16_row};
  return {k.gemm_q5_1x16, k.dot_q5_1x16_row};
}

const uint8_t* group_of(const Matrix& w, int64_t g) { return w.data + static_cast<size_t>(g) * R * w.row_bytes; }

// out[t·16 + r] for the 16 rows of group g and activations xs[0..m), m ≤ 8.
void group_product(const Kernels& k, const Matrix& w, int64_t g, const void* const* xs, int m, float* out) {
  k.gemm(group_of(w, g), w.cols / kQK8_0, reinterpret_cast<const BlockQ8_1* const*>(xs), m, out);
}


}  // namespace

void Affine32x16::lay_out(uint8_t* data, int64_t rows, int64_t cols) const {
  const int64_t nb = cols / kQK8_0;
  const kernels::KernelTable& k = kernels::active();
  if (weights_ == Weights::Q4_1) packed_groups::lay_out_blocks(k.pack_q4_1x16, data, rows, nb);
  else packed_groups::lay_out_blocks(k.pack_q5_1x16, data, rows, nb);
}

void Affine32x16::product(const Matrix& w, int64_t r0, int64_t r1, const void* const* xs, int n, float* out, size_t ldo) const {
  const Kernels k = kernels_for(weights_);
  packed_groups::product(r0, r1, xs, n, out, ldo, [&](int64_t g, const void* const* x, int m, float* o) { group_product(k, w, g, x, m, o); });
}

void Affine32x16::gated_product(const Matrix& w, int64_t r0, int64_t r1, const void* const* xs, int n, const float* gates, size_t ldg,
                                float* out, size_t ldo) const {
  const Kernels k = kernels_for(weights_);
  const int64_t nb = w.cols / kQK8_0;
  packed_groups::gated_product(
      r0, r1, xs, n, gates, ldg, out, ldo, [&](int64_t g, const void* const* x, int m, float* o) { group_product(k, w, g, x, m, o); },
      [&](int64_t g, int r, const void* x) { return k.row_dot(group_of(w, g), nb, r, static_cast<const BlockQ8_1*>(x)); });
}

}  // namespace st
