// The compute kernels, kept per weight type and per instruction set (scalar, AVX2+FMA,
// AVX-512 VNNI, NEON)
// and chosen once at run time by CPU detection. The model never names an ISA: it calls
// through `kernels::active()`.
//
// Activation formats ("prepared" x), as llama.cpp's CPU backend uses them so the two engines
// agree closely: Q4_0 and Q8_0 weights dot with the activation quantised to Q8_0 blocks, F16
// weights with an F16 activation, BF16 with BF16, F32 with F32.
#pragma once
#include <cstddef>
#include <cstdint>

#include "ggml_types.h"

namespace st::kernels {

struct KernelTable {
  const char* isa;
  // x (n floats, n % 32 == 0) -> n/32 Q8_0 blocks.
  void (*quantize_row_q8_0)(const float* x, BlockQ8_0* y, int64_t n);
  // Dot products of one weight row (n elements) with a prepared activation.
  float (*dot_q4_0_q8_0)(const BlockQ4_0* w, const BlockQ8_0* x, int64_t n);
  // One weight row against four activations xs[0..4): each weight block is unpacked once for
  // four tokens (prefill). out[0..4).
  void (*dot_q4_0_q8_0_x4)(const BlockQ4_0* w, const BlockQ8_0* const* xs, int64_t n, float* out);
  float (*dot_q8_0_q8_0)(const BlockQ8_0* w, const BlockQ8_0* x, int64_t n);
  float (*dot_f32_f32)(const float* w, const float* x, int64_t n);
  float (*dot_f16_f32)(const uint16_t* w, const float* x, int64_t n);
  float (*dot_bf16_f32)(const uint16_t* w, const float* x, int64_t n);
  float (*dot_f16_f16)(const uint16_t* w, const uint16_t* x, int64_t n);
  float (*dot_bf16_bf16)(const uint16_t* w, const uint16_t* x, int64_t n);
  // y[0..n) += s · row[0..n): the sparse down projection adds whole neuron rows.
  void (*axpy_q4_0)(const BlockQ4_0* row, float s, float* y, int64_t n);
  void (*axpy_q8_0)(const BlockQ8_0* row, float s, float* y, int64_t n);
  void (*axpy_f32)(const float* row, float s, float* y, int64_t n);
  void (*axpy_f16)(const uint16_t* row, float s, float* y, int64_t n);
  void (*axpy_bf16)(const uint16_t* row, float s, float* y, int64_t n);
  // Optional (nullptr where a table has none): Q4_0·Q8_0 taking the activation's per-block
  // sums Σx (from q8_0_block_sums), so the Q4_0 zero point (8) comes off once per block of
  // the activation instead of once per block of every weight row.
  float (*dot_q4_0_q8_0_sums)(const BlockQ4_0* w, const BlockQ8_0* x, const int32_t* xsum, int64_t n);
  void (*dot_q4_0_q8_0_x4_sums)(const BlockQ4_0* w, const BlockQ8_0* const* xs, const int32_t* const* xsums, int64_t n,
                                float* out);
};

// Σ of each Q8_0 block's 32 values (the input of the *_sums dot products).
void q8_0_block_sums(const BlockQ8_0* x, int32_t* sums, int64_t n_blocks);

const KernelTable& scalar_table();
const KernelTable* avx2_table();    // nullptr when not compiled in
const KernelTable* avx512_table();  // AVX2 with AVX-512 VNNI dot products; nullptr when not compiled in
const KernelTable* neon_table();  // nullptr when not compiled in

// The table for this CPU; SMALLTHINKER_ISA=scalar|avx2|avx512|neon forces one (for tests).
const KernelTable& active();
const char* active_isa_name();

// Whether the CPU and OS support AVX2, FMA and F16C (x86-64 only).
bool cpu_has_avx2_fma_f16c();
// ... and AVX-512 F, BW, VL and VNNI with the ZMM state saved.
bool cpu_has_avx512_vnni();

}  // namespace st::kernels
