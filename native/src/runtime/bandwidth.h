// How fast this machine reads memory: the ceiling decode speed is measured against
// (docs/benchmarks.md: decode tokens/s as a fraction of bandwidth ÷ bytes per token); and how
// fast it hands out memory never touched, which a load's packed copy and a budget's first fill
// of the expert cache wait for.
#pragma once
#include <cstddef>

namespace st {

// Bytes per second that `threads` threads together read from a buffer of `bytes` (far larger
// than the caches), each summing its own slice; the best of a few passes.
double measure_read_bandwidth(size_t bytes, int threads);

// Bytes per second at which `threads` threads together commit `bytes` of fresh memory: pages
// allocated as the engine allocates its weights and expert slots (large pages where the OS
// gives them) and written once each, the first write making the OS find and zero each page.
// The memory is released before returning.
double measure_fresh_memory_rate(size_t bytes, int threads);

}  // namespace st
