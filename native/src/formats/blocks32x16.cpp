// Rows of 32-value blocks packed 16 at a time, for kernels that multiply four elements of
// sixteen rows in one instruction (AVX-512 VNNI, AVX2): Q4_0 and IQ4_NL, whose blocks have
// the same layout (kernels::pack_q4_0x16), Q5_0 (kernels::pack_q5_0x16: Q4_0's code vectors and
// the fifth bits) and Q8_0 (kernels::pack_q8_0x16). All take the activation as Q8_0 blocks
// with their terms.
// Products go a 16-row group at a time for up to 8 activations; each row's value is defined
// to the bit by the kernels (kernels.h), so it is the same whichever way a group is computed.

#include "blocks32x16.h"

#include "activation_slot.h"
#include "packed_groups.h"
#include "kernels/kernels.h"

namespace st {
namespace {

constexpr int64_t R = kernels::kPackRows;
constexpr int A = kernels::kMaxPackedActivations;  // activations per group product

// The kernels of one packing.
struct Kernels {
  void (*gemm)(const uint8_t* group, int64_t nb, const BlockQ8_0* const* xs, const kernels::Q8_0BlockTerms* const* xterms, int n_x,
               float* out);
  float (*row_dot)(const uint8_t* group, int64_t nb, int lane, const BlockQ8_0* x, const kernels::Q8_0BlockTerms* xterms);
};

Kernels kernels_for(Blocks32x16::Weights weights) {
  const kernels::KernelTable& k = kernels::active();
  switch (weights) {
    case Blocks32x16::Weights::Q4_0: return Kernels{k.gemm_q4_0x16, k.dot_q4_0x16_row};
    case Blocks32x16::Weights::Q8_0: return Kernels{k.gemm_q8_0x16, k.dot_q8_0x16_row};
    case Blocks32x16::Weights::IQ4_NL: return Kernels{k.gemm_iq4_nlx16, k.dot_iq4_nlx16_row};
    case Blocks32x16::Weights::Q5_0: return Kernels{k.gemm_q5_0x16, k.dot_q5_0x16_row};
  }
  return Kernels{nullptr, nullptr};  // not reached: every enumerator is a case
}


const uint8_t* group_of(const Matrix& w, int64_t g) { return w.data + static_cast<size_t>(g) * R * w.row_bytes; }

// out[t·16 + r] for the 16 rows of group g and activations xs[0..m), m ≤ 8.
void group_product(const Kernels& k, const Matrix& w, int64_t g, const void* const* xs, int m, float* out) {
  const BlockQ8_0* xq[A];
  const kernels::Q8_0BlockTerms* terms[A];
  for (int t = 0; t < m; t++) {
    xq[t] = static_cast<const BlockQ8_0*>(xs[t]);
    terms[t] = activation_slot::block_terms(xs[t], w.cols);
  }
  k.gemm(group_of(w, g), w.cols / kQK8_0, xq, terms, m, out);
}

}  // namespace

const char* Blocks32x16::name() const {
  switch (weights_) {
    case Weights::Q4_0: return "Q4_0x16";
    case Weights::Q8_0: return "Q8_0x16";
    case Weights::IQ4_NL: return "IQ4_NLx16";
    case Weights::Q5_0: break;
  }
  return "Q5_0x16";
}

void Blocks32x16::lay_out(uint8_t* data, int64_t rows, int64_t cols) const {
  const int64_t nb = cols / kQK8_0;
  const kernels::KernelTable& k = kernels::active();
  static_assert(sizeof(BlockIQ4_NL) == sizeof(BlockQ4_0), "an IQ4_NL block is laid out as a Q4_0 block");
  switch (weights_) {
    case Weights::Q4_0: case Weights::IQ4_NL: return packed_groups::lay_out_blocks(k.pack_q4_0x16, data, rows, nb);
    case Weights::Q8_0: return packed_groups::lay_out_blocks(k.pack_q8_0x16, data, rows, nb);
    case Weights::Q5_0: break;
  }
  packed_groups::lay_out_blocks(k.pack_q5_0x16, data, rows, nb);
}

void Blocks32x16::product(const Matrix& w, int64_t r0, int64_t r1, const void* const* xs, int n, float* out, size_t ldo) const {
  const Kernels k = kernels_for(weights_);
  packed_groups::product(r0, r1, xs, n, out, ldo, [&](int64_t g, const void* const* x, int m, float* o) { group_product(k, w, g, x, m, o); });
}

void Blocks32x16::gated_product(const Matrix& w, int64_t r0, int64_t r1, const void* const* xs, int n, const float* gates,
                                size_t ldg, float* out, size_t ldo) const {
  const Kernels k = kernels_for(weights_);
  const int64_t nb = w.cols / kQK8_0;
  packed_groups::gated_product(
      r0, r1, xs, n, gates, ldg, out, ldo, [&](int64_t g, const void* const* x, int m, float* o) { group_product(k, w, g, x, m, o); },
      [&](int64_t g, int r, const void* x) {
        return k.row_dot(group_of(w, g), nb, r, static_cast<const BlockQ8_0*>(x), activation_slot::block_terms(x, w.cols));
      });
}

}  // namespace st
