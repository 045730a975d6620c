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
