// Inside the formats: where the forms of one prepared activation sit in its slot (see
// prepare_activation). One slot holds every form at once, each at its own offset, so that
// matrices of different types can take the same activation (q, k and v of a mixed file):
// the Q8_0 form, the F16/BF16 form, the Q8_0 blocks' sums (for the kernels that take the
// Q4_0 zero point off once per block of the activation), the Q8_0 blocks' terms (scale and
// zero point, for the packed Q4_0 kernels), the Q8_1 form, the Q8_K form.
#pragma once
#include <cstddef>
#include <cstdint>

#include "ggml_types.h"
#include "kernels/kernels.h"

namespace st::activation_slot {

inline size_t align64(size_t n) { return (n + 63) / 64 * 64; }
inline size_t half_form_offset(int64_t cols) { return align64(static_cast<size_t>(cols / kQK8_0) * sizeof(BlockQ8_0)); }
inline size_t block_sums_offset(int64_t cols) { return half_form_offset(cols) + align64(static_cast<size_t>(cols) * sizeof(uint16_t)); }
inline size_t block_terms_offset(int64_t cols) { return block_sums_offset(cols) + align64(static_cast<size_t>(cols / kQK8_0) * sizeof(int32_t)); }
inline size_t q8_1_form_offset(int64_t cols) {
  return block_terms_offset(cols) + align64(static_cast<size_t>(cols / kQK8_0) * sizeof(kernels::Q8_0BlockTerms));
}
inline size_t q8_K_form_offset(int64_t cols) { return q8_1_form_offset(cols) + align64(static_cast<size_t>(cols / 32) * sizeof(BlockQ8_1)); }
// The whole slot (the Q8_K form only for rows of whole super-blocks).
inline size_t slot_bytes(int64_t cols) {
  return q8_K_form_offset(cols) + align64(static_cast<size_t>((cols + kQK_K - 1) / kQK_K) * sizeof(BlockQ8_K));
}

// The per-block sums of a prepared Q8_0 form of `cols` values.
inline const int32_t* block_sums(const void* q8_0_form, int64_t cols) {
  return reinterpret_cast<const int32_t*>(static_cast<const uint8_t*>(q8_0_form) + block_sums_offset(cols));
}

// The per-block terms of a prepared Q8_0 form of `cols` values (kernels::Q8_0BlockTerms).
inline const kernels::Q8_0BlockTerms* block_terms(const void* q8_0_form, int64_t cols) {
  return reinterpret_cast<const kernels::Q8_0BlockTerms*>(static_cast<const uint8_t*>(q8_0_form) + block_terms_offset(cols));
}

}  // namespace st::activation_slot
