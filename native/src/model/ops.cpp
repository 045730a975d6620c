#include "ops.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "kernels/fp16.h"
#include "kernels/kernels.h"
#include "runtime/thread_pool.h"

namespace st::ops {
namespace {

using kernels::KernelTable;

// One activation slot: n floats' worth of bytes, which holds any prepared form (and is the
// row stride of unprepared F32 rows too, so every form has the same stride).
size_t prepared_stride(int64_t n) { return static_cast<size_t>(n) * sizeof(float); }

// Inside a slot the Q8_0 form sits at the start and the F16/BF16 form after it, so one
// activation can be prepared for weights of different types at once.
size_t half_form_offset(int64_t n) { return (static_cast<size_t>(n / kQK8_0) * sizeof(BlockQ8_0) + 31) / 32 * 32; }

// After both forms: the Q8_0 form's per-block sums, for the kernels that take them.
size_t block_sums_offset(int64_t n) { return half_form_offset(n) + static_cast<size_t>(n) * sizeof(uint16_t); }
static_assert(sizeof(BlockQ8_0) == 34, "the slot layout assumes 34-byte Q8_0 blocks (fits: 1.07n + 2n + n/8 < 4n)");

const int32_t* block_sums(const void* q8_0_form, int64_t n) {
  return reinterpret_cast<const int32_t*>(static_cast<const uint8_t*>(q8_0_form) + block_sums_offset(n));
}

// The activation in the format the weight type's dot product takes (see kernels.h).
const void* prepare(const KernelTable& k, GgmlType wtype, const float* x, int64_t n, uint8_t* slot) {
  switch (wtype) {
    case GgmlType::Q4_0:
      k.quantize_row_q8_0(x, reinterpret_cast<BlockQ8_0*>(slot), n);
      if (k.dot_q4_0_q8_0_sums || k.gemm_q4_0x16) {
        kernels::q8_0_block_sums(reinterpret_cast<const BlockQ8_0*>(slot), reinterpret_cast<int32_t*>(slot + block_sums_offset(n)), n / kQK8_0);
      }
      return slot;
    case GgmlType::Q8_0:
      k.quantize_row_q8_0(x, reinterpret_cast<BlockQ8_0*>(slot), n);
      return slot;
    case GgmlType::F16: {
      auto* h = reinterpret_cast<uint16_t*>(slot + half_form_offset(n));
      for (int64_t i = 0; i < n; i++) h[i] = st::fp32_to_fp16(x[i]);
      return h;
    }
    case GgmlType::BF16: {
      auto* h = reinterpret_cast<uint16_t*>(slot + half_form_offset(n));
      for (int64_t i = 0; i < n; i++) h[i] = st::fp32_to_bf16(x[i]);
      return h;
    }
    default:
      return x;
  }
}

float dot(const KernelTable& k, GgmlType t, const uint8_t* row, const void* x, int64_t n) {
  switch (t) {
    case GgmlType::Q4_0:
      if (k.dot_q4_0_q8_0_sums) {
        return k.dot_q4_0_q8_0_sums(reinterpret_cast<const BlockQ4_0*>(row), static_cast<const BlockQ8_0*>(x), block_sums(x, n), n);
      }
      return k.dot_q4_0_q8_0(reinterpret_cast<const BlockQ4_0*>(row), static_cast<const BlockQ8_0*>(x), n);
    case GgmlType::Q8_0: return k.dot_q8_0_q8_0(reinterpret_cast<const BlockQ8_0*>(row), static_cast<const BlockQ8_0*>(x), n);
    case GgmlType::F32: return k.dot_f32_f32(reinterpret_cast<const float*>(row), static_cast<const float*>(x), n);
    case GgmlType::F16: return k.dot_f16_f16(reinterpret_cast<const uint16_t*>(row), static_cast<const uint16_t*>(x), n);
    case GgmlType::BF16: return k.dot_bf16_bf16(reinterpret_cast<const uint16_t*>(row), static_cast<const uint16_t*>(x), n);
    default: throw std::logic_error("no dot product for this weight type");
  }
}

// y[0..n) += s · row[0..n); for quantised rows `row` starts at a block boundary.
void axpy(const KernelTable& k, GgmlType t, const uint8_t* row, float s, float* y, int64_t n) {
  switch (t) {
    case GgmlType::Q4_0: k.axpy_q4_0(reinterpret_cast<const BlockQ4_0*>(row), s, y, n); return;
    case GgmlType::Q8_0: k.axpy_q8_0(reinterpret_cast<const BlockQ8_0*>(row), s, y, n); return;
    case GgmlType::F32: k.axpy_f32(reinterpret_cast<const float*>(row), s, y, n); return;
    case GgmlType::F16: k.axpy_f16(reinterpret_cast<const uint16_t*>(row), s, y, n); return;
    case GgmlType::BF16: k.axpy_bf16(reinterpret_cast<const uint16_t*>(row), s, y, n); return;
    default: throw std::logic_error("no axpy for this weight type");
  }
}

// Bytes of `cols` elements of a row of type t (cols a multiple of the block size).
size_t row_prefix_bytes(GgmlType t, int64_t cols) {
  const GgmlTypeTraits tr = ggml_type_traits(static_cast<uint32_t>(t));
  return static_cast<size_t>(cols / tr.block_elems) * tr.block_bytes;
}

}  // namespace

size_t prepared_bytes(int64_t n) { return prepared_stride(n); }

void dequantize_row(const WeightMatrix& w, int64_t row, float* out) {
  std::fill(out, out + w.cols, 0.0f);
  axpy(kernels::active(), w.type, w.row(row), 1.0f, out, w.cols);
}

namespace {

const uint8_t* packed_group(const WeightMatrix& w, int64_t g) { return w.packed + static_cast<size_t>(g) * kernels::kPackRows * w.row_bytes; }

}  // namespace

void dot_group(const WeightMatrix& w, int64_t g, const void* const* xs, int n, float* out) {
  const BlockQ8_0* xq[kernels::kMaxPackedActivations];
  const int32_t* sums[kernels::kMaxPackedActivations];
  for (int t = 0; t < n; t++) {
    xq[t] = static_cast<const BlockQ8_0*>(xs[t]);
    sums[t] = block_sums(xs[t], w.cols);
  }
  kernels::active().gemm_q4_0x16(packed_group(w, g), w.cols / kQK4_0, xq, sums, n, out);
}

float dot_packed_row(const WeightMatrix& w, int64_t row, const void* x) {
  const int64_t R = kernels::kPackRows;
  return kernels::active().dot_q4_0x16_row(packed_group(w, row / R), w.cols / kQK4_0, int(row % R), static_cast<const BlockQ8_0*>(x),
                                          block_sums(x, w.cols));
}

bool packed_up_rows_one_by_one(const float* gate) {
  int active = 0;
  for (int r = 0; r < kernels::kPackRows; r++) active += gate[r] > 0.0f;
  return active <= 2;
}

// Rows [r0, r1) of W·x into out[0 .. r1-r0) (multiples of 16 when W is packed).
void dot_rows(const KernelTable& k, const WeightMatrix& w, int64_t r0, int64_t r1, const void* xp, float* out) {
  if (w.packed) {
    const int64_t R = kernels::kPackRows;
    for (int64_t g = r0 / R; g < r1 / R; g++) dot_group(w, g, &xp, 1, out + g * R - r0);
    return;
  }
  for (int64_t r = r0; r < r1; r++) out[r - r0] = dot(k, w.type, w.row(r), xp, w.cols);
}

void matvec(const WeightMatrix& w, const float* x, float* y, uint8_t* prepared, ThreadPool& pool) {
  const KernelTable& k = kernels::active();
  const void* xp = prepare(k, w.type, x, w.cols, prepared);
  pool.parallel_for(w.rows, [&](int64_t r0, int64_t r1, int) { dot_rows(k, w, r0, r1, xp, y + r0); }, 16);
}

void matvec3(const WeightMatrix& a, const WeightMatrix& b, const WeightMatrix& c, const float* x, float* ya, float* yb,
             float* yc, uint8_t* prepared, ThreadPool& pool) {
  const KernelTable& k = kernels::active();
  // All three share the input: prepared once per weight type (the forms do not overlap).
  const void* xa = prepare(k, a.type, x, a.cols, prepared);
  const void* xb = b.type == a.type ? xa : prepare(k, b.type, x, b.cols, prepared);
  const void* xc = c.type == a.type ? xa : c.type == b.type ? xb : prepare(k, c.type, x, c.cols, prepared);
  const int64_t total = a.rows + b.rows + c.rows;
  // The three row ranges are laid end to end; each thread takes its slice of each.
  pool.parallel_for(total, [&](int64_t r0, int64_t r1, int) {
    const int64_t ab = a.rows + b.rows;
    if (r0 < a.rows) dot_rows(k, a, r0, std::min(r1, a.rows), xa, ya + r0);
    if (r1 > a.rows && r0 < ab) {
      const int64_t b0 = std::max(r0, a.rows) - a.rows;
      dot_rows(k, b, b0, std::min(r1, ab) - a.rows, xb, yb + b0);
    }
    if (r1 > ab) {
      const int64_t c0 = std::max(r0, ab) - ab;
      dot_rows(k, c, c0, r1 - ab, xc, yc + c0);
    }
  }, 16);
}

void sparse_reglu(const ExpertMatrices& gate, const ExpertMatrices& up, const int32_t* experts, int k_used,
                  const float* x, float* act, uint8_t* prepared, ThreadPool& pool) {
  const KernelTable& k = kernels::active();
  // Gate and up share the input, prepared once per weight type.
  const void* xg = prepare(k, gate.type, x, gate.cols, prepared);
  const void* xu = up.type == gate.type ? xg : prepare(k, up.type, x, up.cols, prepared);
  const int64_t F = gate.rows;
  if (gate.expert(experts[0]).packed && up.expert(experts[0]).packed) {
    // Packed: the gate rows 16 at a time; the up rows of a group 16 at a time as well when
    // enough of its neurons are active, else one by one for the active ones only.
    const int64_t R = kernels::kPackRows, groups = F / R;
    pool.parallel_for(static_cast<int64_t>(k_used) * groups, [&](int64_t i0, int64_t i1, int) {
      float gv[kernels::kPackRows], uv[kernels::kPackRows];
      for (int64_t i = i0; i < i1; i++) {
        const int64_t j = i / groups, g = i % groups;
        const WeightMatrix gm = gate.expert(experts[j]), um = up.expert(experts[j]);
        dot_group(gm, g, &xg, 1, gv);
        float* a = act + j * F + g * R;
        if (packed_up_rows_one_by_one(gv)) {
          for (int r = 0; r < R; r++) a[r] = gv[r] > 0.0f ? gv[r] * dot_packed_row(um, g * R + r, xu) : 0.0f;
        } else {
          dot_group(um, g, &xu, 1, uv);
          for (int r = 0; r < R; r++) a[r] = gv[r] > 0.0f ? gv[r] * uv[r] : 0.0f;
        }
      }
    });
    return;
  }
  pool.parallel_for(static_cast<int64_t>(k_used) * F, [&](int64_t i0, int64_t i1, int) {
    for (int64_t i = i0; i < i1; i++) {
      const int64_t j = i / F, neuron = i % F;
      const WeightMatrix gm = gate.expert(experts[j]), um = up.expert(experts[j]);
      const float gv = dot(k, gm.type, gm.row(neuron), xg, gm.cols);
      // relu(gate) == 0: the up row is never read.
      act[i] = gv > 0.0f ? gv * dot(k, um.type, um.row(neuron), xu, um.cols) : 0.0f;
    }
  }, 8);
}

void expert_down(const ExpertMatrices& down, bool rows_are_neurons, const int32_t* experts, const float* weights,
                 int k_used, const float* act, int64_t n_ff, float* y, uint8_t* prepared, ThreadPool& pool) {
  const KernelTable& k = kernels::active();
  if (rows_are_neurons) {
    // Transposed layout: F rows of E. Each thread owns a block-aligned slice of y and adds
    // the rows of the active neurons only.
    const int64_t E = down.cols;
    const int64_t grain = 32;  // slices start on a block boundary of every supported type
    pool.parallel_for(E, [&](int64_t c0, int64_t c1, int) {
      std::fill(y + c0, y + c1, 0.0f);
      const size_t offset = row_prefix_bytes(down.type, c0);
      std::vector<float> part(c1 - c0);
      for (int j = 0; j < k_used; j++) {
        // Each expert's weighted output on its own, then added in router order.
        std::fill(part.begin(), part.end(), 0.0f);
        const WeightMatrix d = down.expert(experts[j]);
        const float* a = act + j * n_ff;
        for (int64_t i = 0; i < n_ff; i++) {
          if (a[i] == 0.0f) continue;
          axpy(k, d.type, d.row(i) + offset, weights[j] * a[i], part.data(), c1 - c0);
        }
        for (int64_t c = c0; c < c1; c++) y[c] += part[c - c0];
      }
    }, grain);
    return;
  }
  // Upstream layout: E rows of F per expert, dense against each expert's activation.
  const size_t stride = prepared_stride(n_ff);
  const void* xs[256];
  for (int j = 0; j < k_used; j++) xs[j] = prepare(k, down.type, act + j * n_ff, n_ff, prepared + j * stride);
  if (down.expert(experts[0]).packed) {
    const int64_t R = kernels::kPackRows;
    pool.parallel_for(down.rows / R, [&](int64_t g0, int64_t g1, int) {
      std::fill(y + g0 * R, y + g1 * R, 0.0f);
      float o[kernels::kPackRows];
      for (int j = 0; j < k_used; j++) {  // the same order of terms as the row-by-row loop below
        const WeightMatrix d = down.expert(experts[j]);
        for (int64_t g = g0; g < g1; g++) {
          dot_group(d, g, &xs[j], 1, o);
          for (int r = 0; r < R; r++) y[g * R + r] += weights[j] * o[r];
        }
      }
    });
    return;
  }
  pool.parallel_for(down.rows, [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; r++) {
      float sum = 0.0f;
      for (int j = 0; j < k_used; j++) {
        const WeightMatrix d = down.expert(experts[j]);
        sum += weights[j] * dot(k, d.type, d.row(r), xs[j], n_ff);
      }
      y[r] = sum;
    }
  }, 16);
}

size_t prepared_row_bytes(int64_t n) { return prepared_stride(n); }

const void* prepare_rows(GgmlType type, const float* x, int64_t n_tokens, int64_t n, uint8_t* prepared) {
  const KernelTable& k = kernels::active();
  const size_t stride = prepared_stride(n);
  const void* first = nullptr;
  for (int64_t t = 0; t < n_tokens; t++) {
    const void* p = prepare(k, type, x + t * n, n, prepared + t * stride);
    if (t == 0) first = p;
  }
  return first;
}

float dot_row(const WeightMatrix& w, int64_t row, const void* prepared_x) {
  return dot(kernels::active(), w.type, w.row(row), prepared_x, w.cols);
}

void dot_row_many(const WeightMatrix& w, int64_t row, const void* const* xs, int64_t n, float* out) {
  const KernelTable& k = kernels::active();
  const uint8_t* r = w.row(row);
  int64_t t = 0;
  if (w.type == GgmlType::Q4_0) {
    for (; t + 4 <= n; t += 4) {
      if (k.dot_q4_0_q8_0_x4_sums) {
        const int32_t* sums[4] = {block_sums(xs[t], w.cols), block_sums(xs[t + 1], w.cols), block_sums(xs[t + 2], w.cols),
                                  block_sums(xs[t + 3], w.cols)};
        k.dot_q4_0_q8_0_x4_sums(reinterpret_cast<const BlockQ4_0*>(r), reinterpret_cast<const BlockQ8_0* const*>(xs + t), sums,
                                w.cols, out + t);
      } else {
        k.dot_q4_0_q8_0_x4(reinterpret_cast<const BlockQ4_0*>(r), reinterpret_cast<const BlockQ8_0* const*>(xs + t), w.cols, out + t);
      }
    }
  }
  for (; t < n; t++) out[t] = dot(k, w.type, r, xs[t], w.cols);
}

void axpy_row(const WeightMatrix& w, int64_t row, int64_t c0, float s, float* y, int64_t n) {
  axpy(kernels::active(), w.type, w.row(row) + row_prefix_bytes(w.type, c0), s, y, n);
}

void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, uint8_t* prepared, ThreadPool& pool) {
  // Row t of the prepared input is `stride` bytes after row t−1, whatever the form.
  const auto* base = static_cast<const uint8_t*>(prepare_rows(w.type, x, n_tokens, w.cols, prepared));
  const size_t stride = prepared_stride(w.cols);
  std::vector<const void*> xs(n_tokens);
  for (int64_t t = 0; t < n_tokens; t++) xs[t] = base + t * stride;
  if (w.packed) {
    const int64_t R = kernels::kPackRows, A = kernels::kMaxPackedActivations;
    pool.parallel_for(w.rows / R, [&](int64_t g0, int64_t g1, int) {
      float o[kernels::kMaxPackedActivations * kernels::kPackRows];
      for (int64_t g = g0; g < g1; g++) {
        for (int64_t t = 0; t < n_tokens; t += A) {
          const int m = static_cast<int>(std::min(A, n_tokens - t));
          dot_group(w, g, xs.data() + t, m, o);
          for (int j = 0; j < m; j++) std::copy(o + j * R, o + (j + 1) * R, y + (t + j) * w.rows + g * R);
        }
      }
    });
    return;
  }
  pool.parallel_for(w.rows, [&](int64_t r0, int64_t r1, int) {
    float out[4];
    for (int64_t r = r0; r < r1; r++) {
      for (int64_t t = 0; t < n_tokens; t += 4) {
        const int64_t m = std::min<int64_t>(4, n_tokens - t);
        dot_row_many(w, r, xs.data() + t, m, out);
        for (int64_t j = 0; j < m; j++) y[(t + j) * w.rows + r] = out[j];
      }
    }
  }, 4);
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
  double ss = 0;  // double: the sum of squares of a residual can be large
  for (int64_t i = 0; i < n; i++) ss += static_cast<double>(x[i]) * x[i];
  const float scale = static_cast<float>(1.0 / std::sqrt(ss / n + eps));
  for (int64_t i = 0; i < n; i++) y[i] = x[i] * scale * w[i];
}

float dot_f32(const float* a, const float* b, int64_t n) { return kernels::active().dot_f32_f32(a, b, n); }

void axpy_f32(float s, const float* x, float* y, int64_t n) { kernels::active().axpy_f32(x, s, y, n); }

float dot_f32_f16(const float* a, const uint16_t* b, int64_t n) { return kernels::active().dot_f16_f32(b, a, n); }

void axpy_f16(float s, const uint16_t* x, float* y, int64_t n) { kernels::active().axpy_f16(x, s, y, n); }

void fp32_to_fp16(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = st::fp32_to_fp16(x[i]);
}

}  // namespace st::ops
