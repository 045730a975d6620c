// Q4_0 packed 16 rows at a time (kernels::pack_q4_0x16), for kernels that multiply four
// elements of sixteen rows in one instruction (AVX-512 VNNI, AVX2). Products go a 16-row
// group at a time for up to 8 activations; each row's value is defined to the bit by the
// kernels (kernels.h), so it is the same whichever way a group is computed.

#include "activation_slot.h"
#include "packed_groups.h"
#include "q4_0x16.h"
#include "kernels/kernels.h"

namespace st {
namespace {

constexpr int64_t R = kernels::kPackRows;
constexpr int A = kernels::kMaxPackedActivations;  // activations per group product

const uint8_t* group_of(const Matrix& w, int64_t g) { return w.data + static_cast<size_t>(g) * R * w.row_bytes; }

// out[t·16 + r] for the 16 rows of group g and activations xs[0..m), m ≤ 8.
void group_product(const Matrix& w, int64_t g, const void* const* xs, int m, float* out) {
  const BlockQ8_0* xq[A];
  const kernels::Q8_0BlockTerms* terms[A];
  for (int t = 0; t < m; t++) {
    xq[t] = static_cast<const BlockQ8_0*>(xs[t]);
    terms[t] = activation_slot::block_terms(xs[t], w.cols);
  }
  kernels::active().gemm_q4_0x16(group_of(w, g), w.cols / kQK4_0, xq, terms, m, out);
}

}  // namespace

void Q4_0x16::lay_out(uint8_t* data, int64_t rows, int64_t cols) const {
  const int64_t nb = cols / kQK4_0;
  packed_groups::lay_out_in_place(data, rows, static_cast<size_t>(nb) * kernels::kPackedBlockBytes, [nb](const uint8_t* src, uint8_t* dst) {
    kernels::active().pack_q4_0x16(reinterpret_cast<const BlockQ4_0*>(src), nb, nb, dst);
  });
}

void Q4_0x16::product(const Matrix& w, int64_t r0, int64_t r1, const void* const* xs, int n, float* out, size_t ldo) const {
  packed_groups::product(r0, r1, xs, n, out, ldo, [&](int64_t g, const void* const* x, int m, float* o) { group_product(w, g, x, m, o); });
}

void Q4_0x16::gated_product(const Matrix& w, int64_t r0, int64_t r1, const void* const* xs, int n, const float* gates,
                            size_t ldg, float* out, size_t ldo) const {
  const kernels::KernelTable& k = kernels::active();
  const int64_t nb = w.cols / kQK4_0;
  packed_groups::gated_product(
      r0, r1, xs, n, gates, ldg, out, ldo, [&](int64_t g, const void* const* x, int m, float* o) { group_product(w, g, x, m, o); },
      [&](int64_t g, int r, const void* x) {
        return k.dot_q4_0x16_row(group_of(w, g), nb, r, static_cast<const BlockQ8_0*>(x), activation_slot::block_terms(x, w.cols));
      });
}

}  // namespace st
