// Activations prepared for the weight types' dot products, in the form llama.cpp's CPU
// backend gives each type (kernels::activation_form): Q8_0 blocks (with their sums where the
// kernels use them), Q8_1 or Q8_K blocks, F16 or BF16 of the same width, or the floats
// themselves, so that the two engines agree closely.
#include "activation_slot.h"
#include "format.h"
#include "kernels/fp16.h"
#include "kernels/kernels.h"

namespace st {

size_t prepared_row_bytes(int64_t cols) { return activation_slot::slot_bytes(cols); }

const void* prepare_activation(GgmlType type, const float* x, int64_t n, uint8_t* slot) {
  const kernels::KernelTable& k = kernels::active();
  switch (kernels::activation_form(type)) {
    case kernels::ActivationForm::Q8_0:
      k.quantize_row_q8_0(x, reinterpret_cast<BlockQ8_0*>(slot), n);
      if (type == GgmlType::Q4_0 && k.dot_q4_0_q8_0_sums) {
        kernels::q8_0_block_sums(reinterpret_cast<const BlockQ8_0*>(slot),
                                 reinterpret_cast<int32_t*>(slot + activation_slot::block_sums_offset(n)), n / kQK8_0);
      }
      if ((type == GgmlType::Q4_0 && k.gemm_q4_0x16) || (type == GgmlType::Q8_0 && k.gemm_q8_0x16) ||
          (type == GgmlType::IQ4_NL && k.gemm_iq4_nlx16) || (type == GgmlType::Q5_0 && k.gemm_q5_0x16)) {
        kernels::q8_0_block_terms(reinterpret_cast<const BlockQ8_0*>(slot),
                                  reinterpret_cast<kernels::Q8_0BlockTerms*>(slot + activation_slot::block_terms_offset(n)), n / kQK8_0);
      }
      return slot;
    case kernels::ActivationForm::Q8_1: {
      auto* form = reinterpret_cast<BlockQ8_1*>(slot + activation_slot::q8_1_form_offset(n));
      k.quantize_row_q8_1(x, form, n);
      return form;
    }
    case kernels::ActivationForm::Q8_K: {
      auto* form = reinterpret_cast<BlockQ8_K*>(slot + activation_slot::q8_K_form_offset(n));
      k.quantize_row_q8_K(x, form, n);
      return form;
    }
    case kernels::ActivationForm::F16: {
      auto* h = reinterpret_cast<uint16_t*>(slot + activation_slot::half_form_offset(n));
      k.to_f16(x, h, n);
      return h;
    }
    case kernels::ActivationForm::BF16: {
      auto* h = reinterpret_cast<uint16_t*>(slot + activation_slot::half_form_offset(n));
      for (int64_t i = 0; i < n; i++) h[i] = fp32_to_bf16(x[i]);
      return h;
    }
    case kernels::ActivationForm::F32:
      break;
  }
  return x;
}

}  // namespace st
