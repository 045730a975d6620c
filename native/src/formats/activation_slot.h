// Inside the formats: where the forms of one prepared activation sit in its slot (see
// prepare_activation). The Q8_0 form starts the slot, the F16/BF16 form follows it, and the
// Q8_0 blocks' sums (for the kernels that take the Q4_0 zero point off once per block of the
// activation) come last; all of it fits in cols floats' worth of bytes.
#pragma once
#include <cstddef>
#include <cstdint>

#include "ggml_types.h"

namespace st::activation_slot {

inline size_t half_form_offset(int64_t cols) { return (static_cast<size_t>(cols / kQK8_0) * sizeof(BlockQ8_0) + 31) / 32 * 32; }
inline size_t block_sums_offset(int64_t cols) { return half_form_offset(cols) + static_cast<size_t>(cols) * sizeof(uint16_t); }
static_assert(sizeof(BlockQ8_0) == 34, "the slot layout assumes 34-byte Q8_0 blocks (fits: 1.07n + 2n + n/8 < 4n)");

// The per-block sums of a prepared Q8_0 form of `cols` values.
inline const int32_t* block_sums(const void* q8_0_form, int64_t cols) {
  return reinterpret_cast<const int32_t*>(static_cast<const uint8_t*>(q8_0_form) + block_sums_offset(cols));
}

}  // namespace st::activation_slot
