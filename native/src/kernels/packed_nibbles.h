// The code forms of the packed 32-value layouts that share Q4_0×16's code vectors (kernels.h:
// Q4_0×16, IQ4_NL×16, Q5_0×16), for the kernel files that compute all three with one template
// (kernels_avx512.cpp, kernels_avxvnni.cpp).
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels.h"

namespace st::kernels {

// Q4_0: q − 8. IQ4_NL: kIQ4Values[q], looked up as kIQ4Values[q] + 128 (an unsigned byte).
// Q5_0: q − 16, q's fifth bit from the rows' qh words.
enum class Nibbles { Q4_0, IQ4_NL, Q5_0 };

template <Nibbles C>
constexpr size_t kNibbleBlockBytes = C == Nibbles::Q5_0 ? kPackedQ5_0BlockBytes : kPackedBlockBytes;

// The multiple of an activation block's term zero = −8·Σx with which a row's chain starts, so
// that the form's offset comes back off exactly: Q4_0 1, IQ4_NL 16 (−128·Σx), Q5_0 2 (−16·Σx).
template <Nibbles C>
constexpr int32_t kZeroMultiple = C == Nibbles::Q4_0 ? 1 : C == Nibbles::IQ4_NL ? 16 : 2;

}  // namespace st::kernels
