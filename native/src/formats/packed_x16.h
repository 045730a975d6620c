// The packed formats whose 16-row groups one kernel call multiplies against plain activation
// blocks: Q4_K, Q5_K, Q6_K and IQ4_XS against Q8_K (kernels::pack_q4_Kx16, pack_q5_Kx16,
// pack_q6_Kx16, pack_iq4_xsx16), and the affine 32-value types Q4_1 and Q5_1 (values d·q + m)
// against Q8_1 (pack_q4_1x16, pack_q5_1x16), as llama.cpp takes them, wherever the active table
// has the kernels (AVX2, AVX-VNNI and AVX-512; IQ4_XS on the last two): a row's codes and
// scales are then read once for up to eight activations, without a horizontal sum per row,
// where the rows as in the file went through one-row kernels (at a third of the machine's
// limit in decode for the K-quants, about llama.cpp's prefill speed for the affine pair).
// Products go a 16-row group at a time; each row's value is defined to the bit by the kernels
// (kernels.h), so it is the same whichever way a group is computed. Blocks32x16 (Q4_0, Q8_0,
// IQ4_NL, Q5_0) is apart: its kernels take Q8_0 activations with block terms.
#pragma once
#include <cstdint>

#include "format.h"
#include "kernels/kernels.h"
#include "packed_groups.h"

namespace st {

// Block: the file's weight block; Activation: the prepared activation block, of kBlockValues
// values like Block.
template <typename Block, typename Activation, int64_t kBlockValues>
class PackedX16 final : public Format {
 public:
  using Pack = void (*)(const Block* rows, int64_t row_stride, int64_t nb, uint8_t* out);
  using Gemm = void (*)(const uint8_t* group, int64_t nb, const Activation* const* xs, int n_x, float* out);
  using RowDot = float (*)(const uint8_t* group, int64_t nb, int lane, const Activation* x);
  // Where a kernel table keeps this packing's kernels (the active table is asked at each
  // call, as every format does).
  struct Kernels {
    Pack kernels::KernelTable::*pack;
    Gemm kernels::KernelTable::*gemm;
    RowDot kernels::KernelTable::*row_dot;
  };

  PackedX16(const char* name, Kernels kernels) : name_(name), kernels_(kernels) {}
  const char* name() const override { return name_; }
  int64_t row_block() const override { return kernels::kPackRows; }
  bool relays() const override { return true; }

  void lay_out(uint8_t* data, int64_t rows, int64_t cols) const override {
    packed_groups::lay_out_blocks(kernels::active().*kernels_.pack, data, rows, cols / kBlockValues);
  }

  void product(const Matrix& w, int64_t r0, int64_t r1, const void* const* xs, int n, float* out, size_t ldo) const override {
    const Gemm gemm = kernels::active().*kernels_.gemm;
    packed_groups::product(r0, r1, xs, n, out, ldo,
                           [&](int64_t g, const void* const* x, int m, float* o) { group_product(gemm, w, g, x, m, o); });
  }

  void gated_product(const Matrix& w, int64_t r0, int64_t r1, const void* const* xs, int n, const float* gates, size_t ldg,
                     float* out, size_t ldo) const override {
    const kernels::KernelTable& k = kernels::active();
    const Gemm gemm = k.*kernels_.gemm;
    const RowDot row_dot = k.*kernels_.row_dot;
    const int64_t nb = w.cols / kBlockValues;
    packed_groups::gated_product(
        r0, r1, xs, n, gates, ldg, out, ldo,
        [&](int64_t g, const void* const* x, int m, float* o) { group_product(gemm, w, g, x, m, o); },
        [&](int64_t g, int r, const void* x) { return row_dot(group_of(w, g), nb, r, static_cast<const Activation*>(x)); });
  }

 private:
  static const uint8_t* group_of(const Matrix& w, int64_t g) {
    return w.data + static_cast<size_t>(g) * kernels::kPackRows * w.row_bytes;
  }
  // out[t·16 + r] for the 16 rows of group g and activations xs[0..m), m ≤ 8.
  static void group_product(Gemm gemm, const Matrix& w, int64_t g, const void* const* xs, int m, float* out) {
    gemm(group_of(w, g), w.cols / kBlockValues, reinterpret_cast<const Activation* const*>(xs), m, out);
  }

  const char* name_;
  Kernels kernels_;
};

// Q4_K, Q5_K, Q6_K and IQ4_XS: 256-value super-blocks against Q8_K.
template <typename Block>
using KQuantsX16 = PackedX16<Block, BlockQ8_K, kQK_K>;
// Q4_1 and Q5_1: 32-value blocks against Q8_1.
template <typename Block>
using Affine32x16 = PackedX16<Block, BlockQ8_1, kQK8_0>;

}  // namespace st
