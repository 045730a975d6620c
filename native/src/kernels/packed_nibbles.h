// The code forms of the packed 32-value layouts that share Q4_0×16's code vectors (kernels.h:
// Q4_0×16, IQ4_NL×16, Q5_0×16, Q4_1×16, Q5_1×16), for the kernel files that compute them all
// with one template (kernels_avx2.cpp, kernels_avxvnni.cpp, kernels_avx512.cpp).
#pragma once
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "kernels.h"

namespace st::kernels {

// Q4_0: q − 8. IQ4_NL: kIQ4Values[q], looked up as kIQ4Values[q] + 128 (an unsigned byte).
// Q5_0: q − 16, q's fifth bit from the rows' qh words. Q4_1, Q5_1: d·q + m (q unsigned, Q5_1's
// fifth bits as Q5_0's), against Q8_1 activations.
enum class Nibbles { Q4_0, IQ4_NL, Q5_0, Q4_1, Q5_1 };

template <Nibbles C>
constexpr bool kAffine = C == Nibbles::Q4_1 || C == Nibbles::Q5_1;
template <Nibbles C>
constexpr bool kFifthBits = C == Nibbles::Q5_0 || C == Nibbles::Q5_1;

template <Nibbles C>
constexpr size_t kNibbleBlockBytes = C == Nibbles::Q5_0   ? kPackedQ5_0BlockBytes
                                     : C == Nibbles::Q4_1 ? kPackedQ4_1BlockBytes
                                     : C == Nibbles::Q5_1 ? kPackedQ5_1BlockBytes
                                                          : kPackedBlockBytes;
// Where the affine forms keep the rows' m.
template <Nibbles C>
constexpr size_t kMinOffset = C == Nibbles::Q4_1 ? kQ4_1xMin : kQ5_1xMin;

// The activation's block form: Q8_0 (with its terms) or Q8_1 for the affine forms.
template <Nibbles C>
using NibbleActivation = std::conditional_t<kAffine<C>, BlockQ8_1, BlockQ8_0>;

// The multiple of a Q8_0 activation block's term zero = −8·Σx with which a row's chain starts,
// so that the form's offset comes back off exactly: Q4_0 1, IQ4_NL 16 (−128·Σx), Q5_0 2
// (−16·Σx); the affine forms' codes have none.
template <Nibbles C>
constexpr int32_t kZeroMultiple = C == Nibbles::Q4_0 ? 1 : C == Nibbles::IQ4_NL ? 16 : C == Nibbles::Q5_0 ? 2 : 0;

// A kernel file's kernels of the forms, as a class template K<C> with
//   static void gemm(group, nb, const NibbleActivation<C>* const* xs, const Q8_0BlockTerms* const* xterms, n_x, out)
//   static float row(group, nb, lane, const NibbleActivation<C>* x, const Q8_0BlockTerms* xterms)
// (xterms null for the affine forms), set as table t's entries for the forms Cs.
namespace {  // internal linkage: each kernel file's instances are its own (see hsum_x86.h)
template <template <Nibbles> class K, Nibbles C>
void set_nibble_kernels_of(KernelTable& t) {
  if constexpr (kAffine<C>) {
    using Gemm = void (*)(const uint8_t*, int64_t, const BlockQ8_1* const*, int, float*);
    using Row = float (*)(const uint8_t*, int64_t, int, const BlockQ8_1*);
    const Gemm gemm = [](const uint8_t* g, int64_t nb, const BlockQ8_1* const* xs, int n_x, float* out) { K<C>::gemm(g, nb, xs, nullptr, n_x, out); };
    const Row row = [](const uint8_t* g, int64_t nb, int lane, const BlockQ8_1* x) { return K<C>::row(g, nb, lane, x, nullptr); };
    if constexpr (C == Nibbles::Q4_1) t.gemm_q4_1x16 = gemm, t.dot_q4_1x16_row = row;
    else t.gemm_q5_1x16 = gemm, t.dot_q5_1x16_row = row;
  } else {
    constexpr auto gemm = K<C>::gemm;
    constexpr auto row = K<C>::row;
    if constexpr (C == Nibbles::Q4_0) t.gemm_q4_0x16 = gemm, t.dot_q4_0x16_row = row;
    else if constexpr (C == Nibbles::IQ4_NL) t.gemm_iq4_nlx16 = gemm, t.dot_iq4_nlx16_row = row;
    else t.gemm_q5_0x16 = gemm, t.dot_q5_0x16_row = row;
  }
}
template <template <Nibbles> class K, Nibbles... Cs>
void set_nibble_kernels(KernelTable& t) {
  (set_nibble_kernels_of<K, Cs>(t), ...);
}
}  // namespace

}  // namespace st::kernels
