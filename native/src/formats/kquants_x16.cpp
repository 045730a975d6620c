// Q4_K, Q5_K, Q6_K and IQ4_XS packed 16 rows at a time (kernels::pack_q4_Kx16, pack_q5_Kx16,
// pack_q6_Kx16, pack_iq4_xsx16), for kernels that multiply four codes of sixteen rows in one
// instruction (AVX-512 VNNI): the layouts of the K-quant mixes (llama-quantize's Q4_K_M and
// Q4_K_S, Q5_K_M and Q5_K_S for their bulk, Q6_K for their output head and half the down
// projections, the Q6_K preset, and IQ4_XS's bulk) for prefill and decode, where a row's codes and scales are then read once for up to four
// activations without a horizontal sum per row. Products go a 16-row group at a time; each
// row's value is defined to the bit by the kernels (kernels.h), so it is the same whichever
// way a group is computed.

#include "kquants_x16.h"

#include "packed_groups.h"

namespace st {
namespace {

constexpr int64_t R = kernels::kPackRows;

// The kernels of one packing.
struct Kernels {
  void (*gemm)(const uint8_t* group, int64_t nb, const BlockQ8_K* const* xs, int n_x, float* out);
  float (*row_dot)(const uint8_t* group, int64_t nb, int lane, const BlockQ8_K* x);
};

Kernels kernels_for(KQuantsX16::Weights weights) {
  const kernels::KernelTable& k = kernels::active();
  switch (weights) {
    case KQuantsX16::Weights::Q4_K: return {k.gemm_q4_Kx16, k.dot_q4_Kx16_row};
    case KQuantsX16::Weights::Q5_K: return {k.gemm_q5_Kx16, k.dot_q5_Kx16_row};
    case KQuantsX16::Weights::Q6_K: return {k.gemm_q6_Kx16, k.dot_q6_Kx16_row};
    case KQuantsX16::Weights::IQ4_XS: break;
  }
  return {k.gemm_iq4_xsx16, k.dot_iq4_xsx16_row};
}

const uint8_t* group_of(const Matrix& w, int64_t g) { return w.data + static_cast<size_t>(g) * R * w.row_bytes; }

// out[t·16 + r] for the 16 rows of group g and activations xs[0..m), m ≤ 8.
void group_product(const Kernels& k, const Matrix& w, int64_t g, const void* const* xs, int m, float* out) {
  k.gemm(group_of(w, g), w.cols / kQK_K, reinterpret_cast<const BlockQ8_K* const*>(xs), m, out);
}

}  // namespace

const char* KQuantsX16::name() const {
  switch (weights_) {
    case Weights::Q4_K: return "Q4_Kx16";
    case Weights::Q5_K: return "Q5_Kx16";
    case Weights::Q6_K: return "Q6_Kx16";
    case Weights::IQ4_XS: break;
  }
  return "IQ4_XSx16";
}

void KQuantsX16::lay_out(uint8_t* data, int64_t rows, int64_t cols) const {
  const int64_t nb = cols / kQK_K;
  const kernels::KernelTable& k = kernels::active();
  switch (weights_) {
    case Weights::Q4_K: return packed_groups::lay_out_blocks(k.pack_q4_Kx16, data, rows, nb);
    case Weights::Q5_K: return packed_groups::lay_out_blocks(k.pack_q5_Kx16, data, rows, nb);
    case Weights::Q6_K: return packed_groups::lay_out_blocks(k.pack_q6_Kx16, data, rows, nb);
    case Weights::IQ4_XS: break;
  }
  packed_groups::lay_out_blocks(k.pack_iq4_xsx16, data, rows, nb);
}

void KQuantsX16::product(const Matrix& w, int64_t r0, int64_t r1, const void* const* xs, int n, float* out, size_t ldo) const {
  const Kernels k = kernels_for(weights_);
  packed_groups::product(r0, r1, xs, n, out, ldo, [&](int64_t g, const void* const* x, int m, float* o) { group_product(k, w, g, x, m, o); });
}

void KQuantsX16::gated_product(const Matrix& w, int64_t r0, int64_t r1, const void* const* xs, int n, const float* gates, size_t ldg,
                          float* out, size_t ldo) const {
  const Kernels k = kernels_for(weights_);
  const int64_t nb = w.cols / kQK_K;
  packed_groups::gated_product(
      r0, r1, xs, n, gates, ldg, out, ldo, [&](int64_t g, const void* const* x, int m, float* o) { group_product(k, w, g, x, m, o); },
      [&](int64_t g, int r, const void* x) { return k.row_dot(group_of(w, g), nb, r, static_cast<const BlockQ8_K*>(x)); });
}

}  // namespace st
