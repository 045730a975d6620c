// Q4_1 and Q5_1 rows packed 16 at a time (see affine32x16.cpp and kernels::pack_q4_1x16,
// pack_q5_1x16): the 32-value types whose values are d·q + m, against Q8_1 activations.
#pragma once
#include "format.h"
#include "kernels/kernels.h"

namespace st {

class Affine32x16 final : public Format {
 public:
  enum class Weights { Q4_1, Q5_1 };
  explicit Affine32x16(Weights weights) : weights_(weights) {}
  const char* name() const override { return weights_ == Weights::Q4_1 ? "Q4_1x16" : "Q5_1x16"; }
  int64_t row_block() const override { return kernels::kPackRows; }
  bool relays() const override { return true; }
  void lay_out(uint8_t* data, int64_t rows, int64_t cols) const override;
  void product(const Matrix& w, int64_t r0, int64_t r1, const void* const* xs, int n, float* out, size_t ldo) const override;
  void gated_product(const Matrix& w, int64_t r0, int64_t r1, const void* const* xs, int n, const float* gates, size_t ldg,
                     float* out, size_t ldo) const override;

 private:
  Weights weights_;
};

}  // namespace st
