// Software prefetch for the weight streams of decode's products.
//
// Decode multiplies each weight by one activation row, so a product streams its weights once
// from memory with little work per byte, and on the AVX2 EPYC these kernels were tuned on the
// hardware prefetchers alone left them well short of the bandwidth: asking for the weights a
// few KiB ahead made decode 7-16 % faster at Q4_0, Q4_K_M and Q8_0 (docs/benchmarks.md). Prompt
// batches reuse each block for several activations and are left as they were.
#pragma once
#include <cstddef>

namespace st::kernels {

// Asks for the cache lines of [p, p + bytes) (a hint: never faults, whatever the address).
inline void prefetch_span(const void* p, size_t bytes) {
  const char* c = static_cast<const char*>(p);
  for (size_t o = 0; o < bytes; o += 64) __builtin_prefetch(c + o);
}

// Blocks of 32 values (18-34 bytes): each block asks for the line of the one this many blocks
// ahead (about 2 KiB at Q8_0; twice as many for the 18-byte Q4_0 blocks). Every line holds a
// block's start, so that covers the stream.
constexpr int64_t kSmallBlocksAhead = 64;

}  // namespace st::kernels
