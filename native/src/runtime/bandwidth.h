// How fast this machine reads memory: the ceiling decode speed is measured against
// (docs/benchmarks.md: decode tokens/s as a fraction of bandwidth ÷ bytes per token).
#pragma once
#include <cstddef>

namespace st {

// Bytes per second that `threads` threads together read from a buffer of `bytes` (far larger
// than the caches), each summing its own slice; the best of a few passes.
double measure_read_bandwidth(size_t bytes, int threads);

}  // namespace st
