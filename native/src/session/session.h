// A loaded model ready to serve sequences: the weights, the worker threads and the forward
// pass's workspace, shared by every context created on it (only one computes at a time),
// plus what the addon and the CLI need around the forward pass: loading with a memory plan,
// the one generation loop, and teacher-forced top-N evaluation. No Node-API here.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "model/expert_cache.h"
#include "model/forward.h"
#include "model/memory_plan.h"
#include "model/model.h"
#include "runtime/thread_pool.h"
#include "sampling/sampler.h"

namespace st {

// What a session is asked to be.
struct SessionSpec {
  std::string path;
  int threads = 0;             // 0: default_thread_count()
  int64_t context = 0;         // 0: the model's (4096 under a memory budget)
  bool allow_overflow = false;  // a context over the model's is an error unless this is set
  KvType kv_type = KvType::F16;
  double budget_mib = 0;       // 0: no bound (the file is mapped)
  // The KV caches the plan reserves: these contexts' (slots), or this many bytes; neither:
  // the session's own context.
  std::vector<int32_t> planned_slots;
  double planned_kv_bytes = -1;
  ExpertCacheConfig cache;
  int32_t max_slots = 0;       // > 0: at most this many expert-cache slots
};

class Session {
 public:
  // Plans memory (under a budget), loads the model and starts the threads; throws
  // std::exception with a message for the user. Touches nothing of Node, so it can run on a
  // worker thread.
  static std::unique_ptr<Session> load(SessionSpec spec);

  const Model& model() const { return *model_; }
  ThreadPool& pool() { return *pool_; }
  Workspace& workspace() { return *workspace_; }
  int32_t context() const { return context_; }
  KvType kv_type() const { return kv_type_; }
  const std::optional<MemoryPlan>& plan() const { return plan_; }
  // A whole session's sequences share its threads and workspace: one computes at a time.
  std::atomic<bool>& busy() { return busy_; }

  // A new sequence of up to n_ctx positions (at most the session's context).
  std::unique_ptr<InferenceContext> new_context(int32_t n_ctx, int32_t rewind_slack = 0);

 private:
  Session() = default;
  std::unique_ptr<Model> model_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<Workspace> workspace_;
  std::optional<MemoryPlan> plan_;
  int32_t context_ = 0;
  KvType kv_type_ = KvType::F16;
  std::atomic<bool> busy_{false};
};

// One generation: the prompt evaluated at the context's position, then tokens sampled until
// max_tokens, a stop id (not returned), the end of the context, or cancellation.
struct GenerateRequest {
  std::vector<int32_t> prompt;   // evaluated first (at least one token when max_tokens > 0)
  std::vector<int32_t> history;  // tokens the repetition penalty should already know
  SamplerParams sampling;
  int32_t max_tokens = 0;        // 0: only evaluate the prompt
  std::vector<int32_t> stop_ids;
};

struct GenerateResult {
  std::vector<int32_t> tokens;
  const char* stop_reason = "length";  // eog | length | context | cancelled
  double prompt_ms = 0, generate_ms = 0;
};

// The generation loop, for the engine process and the CLI alike; on_token sees each sampled
// token as soon as it exists. Cancellation (the flag) ends it within a layer.
GenerateResult generate(InferenceContext& ctx, int32_t n_vocab, const GenerateRequest& request, const std::atomic<bool>& cancel,
                        const std::function<void(int32_t)>& on_token);

// Teacher-forced evaluation of `tokens` from the context's position: for every position, the
// best `top` (id, logit) pairs, best first (ties to the lower id).
std::vector<std::vector<std::pair<int32_t, float>>> evaluate_top_n(InferenceContext& ctx, int32_t n_vocab, const std::vector<int32_t>& tokens,
                                                                   int32_t top);

}  // namespace st
