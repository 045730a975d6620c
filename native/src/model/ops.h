// The operations the forward pass is written in. Each one picks the kernel for the weight's
// type (and the CPU's instruction set, through kernels/) and splits the work over the pool.
// `prepared` is caller-owned scratch of prepared_bytes(n) bytes where the activation is
// converted once into the kernels' dot-product format (Q8_0 blocks for quantised weights).
#pragma once
#include <cstddef>
#include <cstdint>

#include "weights.h"

namespace st {
class ThreadPool;
}

namespace st::ops {

size_t prepared_bytes(int64_t n);

// out = W[row] as floats (embedding lookup).
void dequantize_row(const WeightMatrix& w, int64_t row, float* out);

// y = W·x over all rows.
void matvec(const WeightMatrix& w, const float* x, float* y, uint8_t* prepared, ThreadPool& pool);

// Three matrices over the same input in one parallel region (q, k, v).
void matvec3(const WeightMatrix& a, const WeightMatrix& b, const WeightMatrix& c, const float* x, float* ya,
             float* yb, float* yc, uint8_t* prepared, ThreadPool& pool);

// For each selected expert j: g = Gate_e·x; for neurons with g > 0 only, u = Up_e[i]·x;
// act[j·F + i] = relu(g_i)·u_i (0 where the neuron is inactive).
void sparse_reglu(const ExpertMatrices& gate, const ExpertMatrices& up, const int32_t* experts, int k,
                  const float* x, float* act, uint8_t* prepared, ThreadPool& pool);

// y = Σ_j weight_j · Down_e(act_j). With `rows_are_neurons` (transposed layout, F rows of E)
// only the rows of active neurons are read; otherwise Down_e is E rows of F (dense).
void expert_down(const ExpertMatrices& down, bool rows_are_neurons, const int32_t* experts, const float* weights,
                 int k, const float* act, int64_t n_ff, float* y, uint8_t* prepared, ThreadPool& pool);

// Y[t] = W·X[t] for T tokens (X: T rows of w.cols floats; Y: T rows of w.rows). Each weight
// row is read once for all T tokens. `prepared` holds prepared_bytes(T·w.cols).
void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, uint8_t* prepared, ThreadPool& pool);

// Converts T activation rows of n floats into the dot-product format of `type` (in
// `prepared`); returns row 0, and row t is t·prepared_row_bytes(n) bytes further, whatever
// the format.
const void* prepare_rows(GgmlType type, const float* x, int64_t n_tokens, int64_t n, uint8_t* prepared);
size_t prepared_row_bytes(int64_t n);

// One weight row against a prepared activation (type of the weight decides the format).
float dot_row(const WeightMatrix& w, int64_t row, const void* prepared_x);

// One weight row against n prepared activations xs[0..n) into out[0..n): Q4_0 rows are
// unpacked once per four activations.
void dot_row_many(const WeightMatrix& w, int64_t row, const void* const* xs, int64_t n, float* out);

// Packed W (w.packed, see weights.h): rows 16g..16g+15 against n (1..8) prepared
// activations into out[t·16 + r].
void dot_group(const WeightMatrix& w, int64_t g, const void* const* xs, int n, float* out);
// One row of a packed W against a prepared activation: the value dot_group gives for it.
float dot_packed_row(const WeightMatrix& w, int64_t row, const void* x);
// Given a packed group's 16 gate values: whether its up rows should go one by one (reading
// only the active rows' bytes; at most 2 active) rather than 16 at once.
bool packed_up_rows_one_by_one(const float* gate);

// y[0..n) += s · W[row][c0 .. c0+n), c0 a multiple of 32.
void axpy_row(const WeightMatrix& w, int64_t row, int64_t c0, float s, float* y, int64_t n);

// NEOX-style rotary embedding of one head: dimension i pairs with i + d/2, turned by the
// angle pos·base^(−2i/d) whose cos/sin are given.
void rope_neox(float* head, int head_dim, const float* cos, const float* sin);

// y = w ⊙ x / sqrt(mean(x²) + eps)
void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps);

float dot_f32(const float* a, const float* b, int64_t n);
float dot_f32_f16(const float* a, const uint16_t* b, int64_t n);
void axpy_f32(float s, const float* x, float* y, int64_t n);      // y += s·x
void axpy_f16(float s, const uint16_t* x, float* y, int64_t n);  // y += s·x
void fp32_to_fp16(const float* x, uint16_t* y, int64_t n);

}  // namespace st::ops
