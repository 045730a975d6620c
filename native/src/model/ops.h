// The operations the forward pass is written in, besides the experts (forward.cpp): products
// of whole matrices with prepared activations, split over the thread pool in row blocks of
// the matrix's format, a batch's row-by-row steps over the pool, and the element-wise math
// (RMS norm, rotary embedding).
#pragma once
#include <cstddef>
#include <cstdint>

#include "formats/format.h"
#include "runtime/thread_pool.h"

namespace st::ops {

// A prompt batch shares its rows from this many on.
constexpr int64_t kMinRowsToShare = 8;

// fn(i) for every i in [0, n), each independent of the others: over the pool when there are
// enough rows to share (a prompt batch's), inline when not (decode's one token), so that decode
// gets no region (nor a std::function) for work that takes microseconds.
template <typename Fn>
void for_each_row(int64_t n, ThreadPool& pool, const Fn& fn) {
  if (n < kMinRowsToShare) {
    for (int64_t i = 0; i < n; i++) fn(i);
    return;
  }
  pool.parallel_for(n, [&fn](int64_t i0, int64_t i1, int) {
    for (int64_t i = i0; i < i1; i++) fn(i);
  });
}

// Prepares n activation rows (row t at x + t·cols) for weights of `type` into `scratch`
// (n · prepared_row_bytes(cols) bytes, row t at t · prepared_row_bytes(cols)); xs[t] receives
// where row t's form starts. Rows go over the pool as for_each_row's.
void prepare_rows(GgmlType type, const float* x, int64_t n, int64_t cols, uint8_t* scratch, const void** xs, ThreadPool& pool);

// y[t·w.rows + r] = W·xs[t] for t in [0, n): every weight row is read once for all n.
void matmul(const Matrix& w, const void* const* xs, int n, float* y, ThreadPool& pool);

// Three matrices over the same tokens in one parallel region (q, k and v): each with its own
// prepared activations, each result laid out as matmul's.
void matmul3(const Matrix& a, const void* const* xa, float* ya, const Matrix& b, const void* const* xb, float* yb,
             const Matrix& c, const void* const* xc, float* yc, int n, ThreadPool& pool);

// NEOX-style rotary embedding of one head: dimension i pairs with i + d/2, turned by the
// angle pos·base^(−2i/d) whose cos/sin are given.
void rope_neox(float* head, int head_dim, const float* cos, const float* sin);

// y = w ⊙ x / sqrt(mean(x²) + eps)
void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps);

}  // namespace st::ops
