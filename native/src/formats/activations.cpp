// Activations prepared for the weight types' dot products (kernels.h): Q4_0 and Q8_0 weights
// take the activation as Q8_0 blocks (with their sums where the kernels use them), F16 and
// BF16 weights the same width, F32 weights the floats themselves, as llama.cpp's CPU backend
// does, so that the two engines agree closely.
#include "activation_slot.h"
#include "format.h"
#include "kernels/fp16.h"
#include "kernels/kernels.h"

namespace st {

size_t prepared_row_bytes(int64_t cols) { return static_cast<size_t>(cols) * sizeof(float); }

const void* prepare_activation(GgmlType type, const float* x, int64_t n, uint8_t* slot) {
  const kernels::KernelTable& k = kernels::active();
  switch (type) {
    case GgmlType::Q4_0:
      k.quantize_row_q8_0(x, reinterpret_cast<BlockQ8_0*>(slot), n);
      if (k.dot_q4_0_q8_0_sums || k.gemm_q4_0x16) {
        kernels::q8_0_block_sums(reinterpret_cast<const BlockQ8_0*>(slot),
                                 reinterpret_cast<int32_t*>(slot + activation_slot::block_sums_offset(n)), n / kQK8_0);
      }
      return slot;
    case GgmlType::Q8_0:
      k.quantize_row_q8_0(x, reinterpret_cast<BlockQ8_0*>(slot), n);
      return slot;
    case GgmlType::F16: {
      auto* h = reinterpret_cast<uint16_t*>(slot + activation_slot::half_form_offset(n));
      for (int64_t i = 0; i < n; i++) h[i] = fp32_to_fp16(x[i]);
      return h;
    }
    case GgmlType::BF16: {
      auto* h = reinterpret_cast<uint16_t*>(slot + activation_slot::half_form_offset(n));
      for (int64_t i = 0; i < n; i++) h[i] = fp32_to_bf16(x[i]);
      return h;
    }
    default:
      return x;
  }
}

}  // namespace st
