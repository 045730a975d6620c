#include "memory_plan.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include "forward.h"
#include "model.h"
#include "platform/platform.h"

namespace st {

namespace {
constexpr uint64_t kMiB = 1ull << 20;
// What the process may still grow by after the plan: the JS heap between collections, thread
// stacks and allocator slack. Measured within a 1 GiB budget on the 4B shape: 11 MiB under the
// CLI's bench, and the engine process's JS heap at most 13 MiB through 2,000 completions and a
// 40-turn chat (docs/memory.md, docs/reliability.md).
constexpr uint64_t kGrowthMargin = 32 * kMiB;
// Kept free whatever happens, so that a budget which is a hard limit (a memory cgroup, a
// container) is never reached: nothing is planned into it.
constexpr uint64_t kHeadroom = 64 * kMiB;

std::string mib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f MiB", static_cast<double>(bytes) / kMiB);
  return buf;
}
}  // namespace

std::string MemoryPlan::describe() const {
  return "memory plan for a budget of " + mib(budget) + ": baseline " + mib(baseline) + ", resident weights " +
         mib(resident_weights) + ", KV cache " + mib(kv_cache) + ", scratch " + mib(scratch) + ", kept free " +
         mib(headroom) + ", expert cache " + mib(expert_cache) + " (" + std::to_string(slots) + " slots of " + mib(slot_bytes) + ", " +
         std::to_string(experts_total ? 100 * slots / experts_total : 0) + "% of the experts)";
}

MemoryPlan plan_memory(const SmallThinkerFile& file, uint64_t budget_bytes, uint64_t kv_bytes, int32_t n_ctx, int threads,
                       int32_t max_slots) {
  const SmallThinkerHParams& hp = file.hparams;
  MemoryPlan p;
  p.budget = budget_bytes;
  // Under a memory cgroup's limit, the page cache of the executable and libraries counts too:
  // it is charged to the process that read it (docs/memory.md). Read-ahead cached more of
  // them than was ever run, and how much varied from start to start (the 4B in 1 GiB planned
  // 89 MiB of baseline in one run and 121 in the next): that part is dropped first.
  platform::drop_unused_mapped_file_cache();
  p.baseline = (platform::page_cache_is_charged() ? platform::resident_and_mapped_cache_bytes() : platform::resident_bytes()) +
               kGrowthMargin;
  p.resident_weights = Model::resident_bytes_budgeted(file);
  p.kv_cache = kv_bytes;
  p.scratch = Workspace::bytes_for(hp, n_ctx, threads, Model::embedding_scratch_bytes_for(file));
  p.headroom = kHeadroom;
  p.slot_bytes = Model::expert_slot_bytes(file);
  p.experts_total = uint64_t(hp.n_layer) * hp.n_expert;
  // A decode step holds the k experts of its layer while the next k may be on their way; a
  // prompt batch needs k plus two chunks of at least one.
  p.min_slots = 3 * hp.n_expert_used;
  const uint64_t fixed = p.baseline + p.resident_weights + p.kv_cache + p.scratch + p.headroom;
  p.minimum = fixed + uint64_t(p.min_slots) * p.slot_bytes;
  if (budget_bytes < p.minimum) {
    throw std::runtime_error("a memory budget of " + mib(budget_bytes) + " is too small for this model: it needs at least " +
                             mib(p.minimum + kMiB - 1) + " (baseline " + mib(p.baseline) + ", resident weights " +
                             mib(p.resident_weights) + ", KV cache " + mib(p.kv_cache) + " for " + std::to_string(n_ctx) +
                             " tokens, scratch " + mib(p.scratch) + ", kept free " + mib(p.headroom) + ", " +
                             std::to_string(p.min_slots) + " expert slots of " + mib(p.slot_bytes) + ")");
  }
  // No point caching more than every expert.
  p.slots = static_cast<int32_t>(std::min<uint64_t>((budget_bytes - fixed) / p.slot_bytes, p.experts_total));
  if (max_slots > 0) p.slots = std::max(p.min_slots, std::min(p.slots, max_slots));
  p.expert_cache = uint64_t(p.slots) * p.slot_bytes;
  return p;
}

}  // namespace st
