// kernels_neon.cpp built a second time with the dot-product instruction (-march=armv8.2-a+dotprod),
// for the Linux arm64 addon, whose first build runs on every ARMv8 core: dispatch.cpp takes
// this build's table where the CPU has the instruction (neon_dot.h says how the two coexist).
// Elsewhere it compiles to nothing, so a build that globs every kernel file links.
#if defined(__aarch64__)
#define ST_NEON_DOTPROD_BUILD
#include "kernels_neon.cpp"
#endif
