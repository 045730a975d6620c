// Rows of 32-value blocks packed 16 at a time: Q4_0 and IQ4_NL (kernels::pack_q4_0x16), Q5_0
// (kernels::pack_q5_0x16) and Q8_0 (kernels::pack_q8_0x16), all against Q8_0 activations with
// their block terms.
#pragma once
#include "format.h"
#include "kernels/kernels.h"

namespace st {

class Blocks32x16 final : public Format {
 public:
  enum class Weights { Q4_0, Q8_0, IQ4_NL, Q5_0 };
  explicit Blocks32x16(Weights weights) : weights_(weights) {}
  const char* name() const override;
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
