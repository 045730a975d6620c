// with_count<kMin, kMax>(n, fn) calls fn(std::integral_constant<int, c>{}), c being n clamped to
// [kMin, kMax]: the kernels whose count of rows, heads or activations is a template argument
// (their accumulators then stay in registers) are reached from a run-time count with
//   with_count<1, 8>(n_rows, [&](auto rows) { kernel<decltype(rows)::value>(...); });
// It compiles to the chain of comparisons a switch over the counts would. in_groups<kMax>(n, fn)
// walks n activations in groups of up to kMax, calling fn(first, count) with the group's count
// a compile-time constant in [1, kMax]. Internal linkage, as for every helper the kernel files
// share (hsum_x86.h says why).
#pragma once
#include <type_traits>

namespace st::kernels {
namespace {

template <int kMin, int kMax, typename Fn>
inline void with_count(int n, Fn&& fn) {
  static_assert(kMin <= kMax, "an empty range of counts");
  if constexpr (kMin == kMax) {
    fn(std::integral_constant<int, kMin>{});
  } else if (n <= kMin) {
    fn(std::integral_constant<int, kMin>{});
  } else {
    with_count<kMin + 1, kMax>(n, fn);
  }
}

template <int kMax, typename Fn>
inline void in_groups(int n, Fn&& fn) {
  for (int first = 0; first < n; first += kMax) with_count<1, kMax>(n - first, [&](auto count) { fn(first, count); });
}

}  // namespace
}  // namespace st::kernels
