// Software prefetch for the weight streams of decode's products.
//
// Decode multiplies each weight by one activation row, so a product streams its weights once
// from memory with little work per byte, and on the AVX2 EPYC these kernels were tuned on the
// hardware prefetchers alone left them well short of the bandwidth: asking for the weights a
// few KiB ahead made decode 7-16 % faster at Q4_0, Q4_K_M and Q8_0 (docs/benchmarks.md). Prompt
// batches reuse each block for several activations and are left as they were.
#pragma once
#include <cstddef>
#include <cstdint>

namespace st::kernels {
namespace {  // internal linkage: see hsum_x86.h

// How far ahead each kind of stream asks, in one place (docs/benchmarks.md has the runs):
constexpr size_t kPackedBlocksAhead = 16;       // packed Q4_0 groups, 288-byte blocks: 4.6 KiB
constexpr size_t kPackedQ8_0BlocksAhead = 9;    // packed Q8_0 groups, 544-byte blocks: 4.8 KiB
constexpr size_t kPackedSuperBlocksAhead = 2;   // packed Q4_K groups, 2,304-byte super-blocks: 4.6 KiB
constexpr size_t kSuperBlocksAhead = 24;        // a K-quant row's 144-210-byte super-blocks: 3.4-4.9
                                                // KiB (past a row's end: the same thread's next row).
                                                // Was 4 (0.8 KiB for Q6_K) until the Zen 5 VM's
                                                // 45-65 GB/s: the Q6_K head then streamed 7 % slower
constexpr size_t kSmallBlockBytesAhead = 2048;  // 32-value blocks of 18-34 bytes: one line per
                                                // block, as every line holds a block's start

// Asks for the cache lines of [p + ahead, p + ahead + bytes). The address is computed on
// integers: it may lie past the end of the weights, where a prefetch only asks and never faults.
inline void prefetch_ahead(const void* p, size_t ahead, size_t bytes = 1) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p) + ahead;
  for (size_t o = 0; o < bytes; o += 64) __builtin_prefetch(reinterpret_cast<const void*>(a + o));
}

}  // namespace
}  // namespace st::kernels
