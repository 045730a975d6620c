// The memory budget's split, planned at load time (issue: bounded memory): the process's own
// baseline, the resident non-expert weights, the KV cache, the scratch buffers, a headroom
// kept free, and whatever is left for the expert cache, in whole slots. A budget that cannot
// hold the minimum number of slots is refused with the minimum named.
#pragma once
#include <cstdint>
#include <string>

#include "kv_cache.h"
#include "smallthinker_file.h"

namespace st {

struct MemoryPlan {
  uint64_t budget = 0;
  uint64_t baseline = 0;          // the process as it is now, plus a margin for its growth
  uint64_t resident_weights = 0;  // non-expert weights, read at load
  uint64_t kv_cache = 0;
  uint64_t scratch = 0;
  uint64_t headroom = 0;          // planned for nothing: the budget is never reached
  uint64_t slot_bytes = 0;
  int32_t slots = 0;
  int32_t min_slots = 0;
  uint64_t expert_cache = 0;      // slots · slot_bytes
  uint64_t minimum = 0;           // the smallest budget that would work
  uint64_t experts_total = 0;     // every expert of the model, for the cached share

  std::string describe() const;   // one line, MiB
};

// kv_bytes: what the contexts' KV caches will take in total; max_slots > 0 caps the expert
// cache below what the budget allows (benchmarks of small caches). Throws
// std::runtime_error when the budget is below the minimum.
MemoryPlan plan_memory(const SmallThinkerFile& file, uint64_t budget_bytes, uint64_t kv_bytes, int32_t n_ctx, int threads,
                       int32_t max_slots = 0);

}  // namespace st
