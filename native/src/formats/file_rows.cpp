// The rows as the file stores them, for every type the kernels compute with (F32, F16, BF16,
// Q8_0, Q4_0 and the other block types): nothing to lay out, so a mapped file is used where
// it is. Products go row by row; a row is unpacked once for four activations at a time where
// the type's kernels can (Q4_0, and the K-quants with SIMD), and one activation meets four rows
// at a time where the table has such a kernel (Q4_0 and Q8_0 on NEON).
#include <algorithm>
#include <stdexcept>
#include <string>

#include "activation_slot.h"
#include "file_rows.h"
#include "kernels/kernels.h"

namespace st {
namespace {

using kernels::KernelTable;

float dot(const KernelTable& k, GgmlType t, const uint8_t* row, const void* x, int64_t n) {
  switch (t) {
    case GgmlType::Q4_0:
      if (k.dot_q4_0_q8_0_sums) {
        return k.dot_q4_0_q8_0_sums(reinterpret_cast<const BlockQ4_0*>(row), static_cast<const BlockQ8_0*>(x),
                                    activation_slot::block_sums(x, n), n);
      }
      return k.dot_q4_0_q8_0(reinterpret_cast<const BlockQ4_0*>(row), static_cast<const BlockQ8_0*>(x), n);
    case GgmlType::Q8_0: return k.dot_q8_0_q8_0(reinterpret_cast<const BlockQ8_0*>(row), static_cast<const BlockQ8_0*>(x), n);
    case GgmlType::F32: return k.dot_f32_f32(reinterpret_cast<const float*>(row), static_cast<const float*>(x), n);
    case GgmlType::F16: return k.dot_f16_f16(reinterpret_cast<const uint16_t*>(row), static_cast<const uint16_t*>(x), n);
    case GgmlType::BF16: return k.dot_bf16_bf16(reinterpret_cast<const uint16_t*>(row), static_cast<const uint16_t*>(x), n);
    default:
      if (const kernels::BlockTypeKernels* b = kernels::block_type_kernels(k, t)) return b->dot(row, x, n);
      throw std::logic_error("no dot product for this weight type");
  }
}

// One row against four activations (Q4_0: the row's blocks unpacked once for all four; Q8_0
// where the table has a kernel for it).
void dot4(const KernelTable& k, GgmlType t, const uint8_t* row, const void* const* xs, int64_t n, float* out) {
  if (t == GgmlType::Q8_0 && k.dot_q8_0_q8_0_x4) {
    k.dot_q8_0_q8_0_x4(reinterpret_cast<const BlockQ8_0*>(row), reinterpret_cast<const BlockQ8_0* const*>(xs), n, out);
    return;
  }
  if (t != GgmlType::Q4_0) {
    const kernels::BlockTypeKernels* b = kernels::block_type_kernels(k, t);
    if (b && b->dot4) {
      b->dot4(row, xs, n, out);
      return;
    }
    for (int j = 0; j < 4; j++) out[j] = dot(k, t, row, xs[j], n);
    return;
  }
  const auto* w = reinterpret_cast<const BlockQ4_0*>(row);
  const auto* const* xq = reinterpret_cast<const BlockQ8_0* const*>(xs);
  if (k.dot_q4_0_q8_0_x4_sums) {
    const int32_t* sums[4] = {activation_slot::block_sums(xs[0], n), activation_slot::block_sums(xs[1], n),
                              activation_slot::block_sums(xs[2], n), activation_slot::block_sums(xs[3], n)};
    k.dot_q4_0_q8_0_x4_sums(w, xq, sums, n, out);
  } else {
    k.dot_q4_0_q8_0_x4(w, xq, n, out);
  }
}

// Whether the table multiplies four rows of type t by one activation at once (dot_rows4).
bool has_rows4(const KernelTable& k, GgmlType t) {
  return (t == GgmlType::Q4_0 && k.dot_q4_0_q8_0_rows4) || (t == GgmlType::Q8_0 && k.dot_q8_0_q8_0_rows4);
}

// Four rows against one activation, each result the one-row kernel's (only where has_rows4).
void dot_rows4(const KernelTable& k, GgmlType t, const uint8_t* const* rows, const void* x, int64_t n, float* out) {
  const auto* xq = static_cast<const BlockQ8_0*>(x);
  if (t == GgmlType::Q4_0) k.dot_q4_0_q8_0_rows4(reinterpret_cast<const BlockQ4_0* const*>(rows), xq, n, out);
  else k.dot_q8_0_q8_0_rows4(reinterpret_cast<const BlockQ8_0* const*>(rows), xq, n, out);
}

// Bytes of `cols` elements of a row of type t (cols a multiple of the block size).
size_t prefix_bytes(GgmlType t, int64_t cols) {
  const GgmlTypeTraits tr = ggml_type_traits(static_cast<uint32_t>(t));
  return static_cast<size_t>(cols / tr.block_elems) * tr.block_bytes;
}

}  // namespace

const char* FileRows::name() const { return ggml_type_traits(static_cast<uint32_t>(type_)).name; }

// Products over many activations (prefill) go tile by tile: a tile of rows (at most
// kTileBytes of weights, kept in L2) against a chunk of kChunkActivations activations (kept
// in L1), so neither is streamed from memory once per row or once per activation.
namespace {

constexpr size_t kTileBytes = 64 * 1024;
constexpr int kChunkActivations = 16;

// fn(r, c0, c1) for every row r in [r0, r1) and chunk [c0, c1) of the n activations, tile by tile.
template <typename Fn>
void for_each_tile(const Matrix& w, int64_t r0, int64_t r1, int n, Fn fn) {
  const int64_t tile = std::max<int64_t>(1, static_cast<int64_t>(kTileBytes / std::max<size_t>(1, w.row_bytes)));
  for (int64_t rt = r0; rt < r1; rt += tile) {
    for (int c0 = 0; c0 < n; c0 += kChunkActivations) {
      const int c1 = std::min(n, c0 + kChunkActivations);
      for (int64_t r = rt; r < std::min(r1, rt + tile); r++) fn(r, c0, c1);
    }
  }
}

}  // namespace

void FileRows::product(const Matrix& w, int64_t r0, int64_t r1, const void* const* xs, int n, float* out, size_t ldo) const {
  const KernelTable& k = kernels::active();
  if (n < 4 && has_rows4(k, type_)) {
    // Decode (and batches too short for four activations): four rows at a time.
    for (int t = 0; t < n; t++) {
      int64_t r = r0;
      for (; r + 4 <= r1; r += 4) {
        const uint8_t* rows[4];
        for (int j = 0; j < 4; j++) rows[j] = w.data + static_cast<size_t>(r + j) * w.row_bytes;
        dot_rows4(k, type_, rows, xs[t], w.cols, out + t * ldo + (r - r0));
      }
      for (; r < r1; r++) out[t * ldo + (r - r0)] = dot(k, type_, w.data + static_cast<size_t>(r) * w.row_bytes, xs[t], w.cols);
    }
    return;
  }
  for_each_tile(w, r0, r1, n, [&](int64_t r, int c0, int c1) {
    const uint8_t* row = w.data + static_cast<size_t>(r) * w.row_bytes;
    float four[4];
    int t = c0;
    for (; t + 4 <= c1; t += 4) {
      dot4(k, type_, row, xs + t, w.cols, four);
      for (int j = 0; j < 4; j++) out[(t + j) * ldo + (r - r0)] = four[j];
    }
    for (; t < c1; t++) out[t * ldo + (r - r0)] = dot(k, type_, row, xs[t], w.cols);
  });
}

void FileRows::gated_product(const Matrix& w, int64_t r0, int64_t r1, const void* const* xs, int n, const float* gates, size_t ldg,
                             float* out, size_t ldo) const {
  const KernelTable& k = kernels::active();
  if (n == 1 && has_rows4(k, type_)) {
    // Decode: the rows whose gate is positive, four at a time, then the rest one by one.
    const uint8_t* picked[4];
    int64_t at[4];
    int m = 0;
    float four[4];
    for (int64_t r = r0; r < r1; r++) {
      out[r - r0] = 0.0f;
      if (!(gates[r - r0] > 0.0f)) continue;
      picked[m] = w.data + static_cast<size_t>(r) * w.row_bytes;
      at[m++] = r - r0;
      if (m < 4) continue;
      dot_rows4(k, type_, picked, xs[0], w.cols, four);
      for (int j = 0; j < 4; j++) out[at[j]] = gates[at[j]] * four[j];
      m = 0;
    }
    for (int j = 0; j < m; j++) out[at[j]] = gates[at[j]] * dot(k, type_, picked[j], xs[0], w.cols);
    return;
  }
  for_each_tile(w, r0, r1, n, [&](int64_t r, int c0, int c1) {
    const uint8_t* row = w.data + static_cast<size_t>(r) * w.row_bytes;
    // The activations whose gate is positive, four at a time, then the rest one by one.
    const void* picked[4];
    int at[4];
    int m = 0;
    float four[4];
    for (int t = c0; t < c1; t++) {
      const float g = gates[t * ldg + (r - r0)];
      out[t * ldo + (r - r0)] = 0.0f;
      if (!(g > 0.0f)) continue;
      picked[m] = xs[t];
      at[m++] = t;
      if (m < 4) continue;
      dot4(k, type_, row, picked, w.cols, four);
      for (int j = 0; j < 4; j++) out[at[j] * ldo + (r - r0)] = gates[at[j] * ldg + (r - r0)] * four[j];
      m = 0;
    }
    for (int j = 0; j < m; j++) out[at[j] * ldo + (r - r0)] = gates[at[j] * ldg + (r - r0)] * dot(k, type_, row, picked[j], w.cols);
  });
}

void FileRows::add_row(const Matrix& w, int64_t row, int64_t c0, float s, float* y, int64_t n) const {
  const KernelTable& k = kernels::active();
  const uint8_t* p = w.data + static_cast<size_t>(row) * w.row_bytes + prefix_bytes(type_, c0);
  switch (type_) {
    case GgmlType::Q4_0: k.axpy_q4_0(reinterpret_cast<const BlockQ4_0*>(p), s, y, n); return;
    case GgmlType::Q8_0: k.axpy_q8_0(reinterpret_cast<const BlockQ8_0*>(p), s, y, n); return;
    case GgmlType::F32: k.axpy_f32(reinterpret_cast<const float*>(p), s, y, n); return;
    case GgmlType::F16: k.axpy_f16(reinterpret_cast<const uint16_t*>(p), s, y, n); return;
    case GgmlType::BF16: k.axpy_bf16(reinterpret_cast<const uint16_t*>(p), s, y, n); return;
    default: break;
  }
  const kernels::BlockTypeKernels* b = kernels::block_type_kernels(k, type_);
  if (!b) throw std::logic_error("no axpy for this weight type");
  // The other block types: decoded a super-block's worth at a time, then added.
  const GgmlTypeTraits tr = ggml_type_traits(static_cast<uint32_t>(type_));
  float decoded[kQK_K];
  for (int64_t at = 0; at < n; at += kQK_K) {
    const int64_t len = std::min<int64_t>(kQK_K, n - at);
    b->to_float(p + static_cast<size_t>(at / tr.block_elems) * tr.block_bytes, decoded, len);
    for (int64_t i = 0; i < len; i++) y[at + i] += s * decoded[i];
  }
}

void FileRows::row_to_floats(const Matrix& w, int64_t row, float* out) const {
  for (int64_t i = 0; i < w.cols; i++) out[i] = 0.0f;
  add_row(w, row, 0, 1.0f, out, w.cols);
}

}  // namespace st
