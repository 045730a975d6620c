// Q4_K, Q5_K, Q6_K and IQ4_XS packed 16 rows at a time (see kquants_x16.cpp and
// kernels::pack_q4_Kx16, pack_q5_Kx16, pack_q6_Kx16, pack_iq4_xsx16): the 256-value super-blocks
// of llama-quantize's mixes, against Q8_K activations.
#pragma once
#include "format.h"
#include "kernels/kernels.h"

namespace st {

class KQuantsX16 final : public Format {
 public:
  enum class Weights { Q4_K, Q5_K, Q6_K, IQ4_XS };
  explicit KQuantsX16(Weights weights) : weights_(weights) {}
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
