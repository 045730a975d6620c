#include "ops.h"

#include <algorithm>
#include <cmath>

namespace st::ops {

void prepare_rows(GgmlType type, const float* x, int64_t n, int64_t cols, uint8_t* scratch, const void** xs, ThreadPool& pool) {
  const size_t stride = prepared_row_bytes(cols);
  for_each_row(n, pool, [&](int64_t t) { xs[t] = prepare_activation(type, x + t * cols, cols, scratch + t * stride); });
}

namespace {

// Rows [u0·block, u1·block) of w, clipped to its rows, against the n activations.
void product_units(const Matrix& w, const void* const* xs, int n, float* y, int64_t u0, int64_t u1) {
  const int64_t block = w.format->row_block();
  const int64_t r0 = u0 * block, r1 = std::min(w.rows, u1 * block);
  if (r0 < r1) w.format->product(w, r0, r1, xs, n, y + r0, size_t(w.rows));
}

int64_t units(const Matrix& w) { return (w.rows + w.format->row_block() - 1) / w.format->row_block(); }

// Small grains for single rows, one unit for formats with blocks of rows: both spread the work evenly.
int64_t grain(const Matrix& w, int n) { return w.format->row_block() > 1 ? 1 : (n > 1 ? 4 : 16); }

}  // namespace

void matmul(const Matrix& w, const void* const* xs, int n, float* y, ThreadPool& pool) {
  pool.parallel_for(units(w), [&](int64_t u0, int64_t u1, int) { product_units(w, xs, n, y, u0, u1); }, grain(w, n));
}

void matmul3(const Matrix& a, const void* const* xa, float* ya, const Matrix& b, const void* const* xb, float* yb,
             const Matrix& c, const void* const* xc, float* yc, int n, ThreadPool& pool) {
  // The three matrices' units laid end to end; each thread takes its slice of each.
  const int64_t na = units(a), nab = na + units(b), total = nab + units(c);
  pool.parallel_for(total, [&](int64_t u0, int64_t u1, int) {
    product_units(a, xa, n, ya, std::min(u0, na), std::min(u1, na));
    product_units(b, xb, n, yb, std::clamp(u0, na, nab) - na, std::clamp(u1, na, nab) - na);
    product_units(c, xc, n, yc, std::max(u0, nab) - nab, std::max(u1, nab) - nab);
  }, std::min({grain(a, n), grain(b, n), grain(c, n)}));
}

void rope_neox(float* head, int head_dim, const float* cos, const float* sin) {
  const int half = head_dim / 2;
  for (int i = 0; i < half; i++) {
    const float a = head[i], b = head[i + half];
    head[i] = a * cos[i] - b * sin[i];
    head[i + half] = a * sin[i] + b * cos[i];
  }
}

void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps) {
  // In double (the sum of squares of a residual can be large; each square is exact there), in
  // eight sums side by side added in a fixed order: as one chain of n additions (the adder's
  // latency, 4 cycles a value) a decode step's norm took 2.8 µs at the 4B's width, now 1.8,
  // twice a layer on the calling thread while the pool's workers wait. The order is the
  // code's, so every CPU gives the same bits.
  constexpr int kLanes = 8;
  double lane[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; j++) lane[j] += static_cast<double>(x[i + j]) * x[i + j];
  }
  for (int j = 0; i < n; i++, j++) lane[j] += static_cast<double>(x[i]) * x[i];
  const double ss = ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
  const float scale = static_cast<float>(1.0 / std::sqrt(ss / n + eps));
  for (int64_t i = 0; i < n; i++) y[i] = x[i] * scale * w[i];
}

}  // namespace st::ops
