// ST_UNROLL before a loop with a constant trip count: the kernels' loops over the values of a
// block and over the activations must be unrolled for their accumulators to stay in
// registers (GCC's -O2 keeps them in memory otherwise).
#pragma once

#if defined(__clang__)
#define ST_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define ST_UNROLL _Pragma("GCC unroll 8")
#else
#define ST_UNROLL
#endif

// ST_NOINLINE on a kernel body that in_groups (count_dispatch.h) instantiates for several
// activation counts: compiled as its own function, its registers are allocated for it alone
// rather than inside the dispatching function beside its siblings (where GCC may spill what
// the kernel alone keeps in registers). One call per group of 16 rows costs nothing measurable.
#if defined(__GNUC__) || defined(__clang__)
#define ST_NOINLINE __attribute__((noinline))
#elif defined(_MSC_VER)
#define ST_NOINLINE __declspec(noinline)
#else
#define ST_NOINLINE
#endif

// keep_in_register(acc) after each addition into an integer accumulator of an unrolled loop:
// the compiler must then take the accumulator as it is. Without it, GCC reassociates the
// additions of a fully unrolled loop into trees whose partial sums outnumber the 16 vector
// registers of AVX2 and go to the stack between every two instructions (integer sums are
// exact, so the order changes no result; it costs no instruction).
// (Only the AVX2 kernels need it: AVX-512 and NEON have 32 vector registers.)
namespace st::kernels {
namespace {  // internal linkage: see hsum_x86.h
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
template <typename V>
inline void keep_in_register(V& v) { __asm__("" : "+x"(v)); }
#else
template <typename V>
inline void keep_in_register(V&) {}
#endif
}  // namespace
}  // namespace st::kernels
