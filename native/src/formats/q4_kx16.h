// Q4_K packed 16 rows at a time (see q4_kx16.cpp and kernels::pack_q4_Kx16).
#pragma once
#include "format.h"
#include "kernels/kernels.h"

namespace st {

class Q4_Kx16 final : public Format {
 public:
  const char* name() const override { return "Q4_Kx16"; }
  int64_t row_block() const override { return kernels::kPackRows; }
  bool relays() const override { return true; }
  void lay_out(uint8_t* data, int64_t rows, int64_t cols) const override;
  void product(const Matrix& w, int64_t r0, int64_t r1, const void* const* xs, int n, float* out, size_t ldo) const override;
  void gated_product(const Matrix& w, int64_t r0, int64_t r1, const void* const* xs, int n, const float* gates, size_t ldg,
                     float* out, size_t ldo) const override;
};

}  // namespace st
