// The file's own layout (see file_rows.cpp), one instance per weight type.
#pragma once
#include "format.h"

namespace st {

class FileRows final : public Format {
 public:
  explicit FileRows(GgmlType type) : type_(type) {}
  const char* name() const override;
  void product(const Matrix& w, int64_t r0, int64_t r1, const void* const* xs, int n, float* out, size_t ldo) const override;
  void gated_product(const Matrix& w, int64_t r0, int64_t r1, const void* const* xs, int n, const float* gates, size_t ldg,
                     float* out, size_t ldo) const override;
  void add_row(const Matrix& w, int64_t row, int64_t c0, float s, float* y, int64_t n) const override;
  void row_to_floats(const Matrix& w, int64_t row, float* out) const override;

 private:
  GgmlType type_;
};

}  // namespace st
