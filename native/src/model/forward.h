// One SmallThinker inference context: the KV cache plus the scratch buffers of the forward
// pass of SPEC §2, evaluated token by token. Read forward.cpp top to bottom for the math.
#pragma once
#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "attention.h"
#include "kv_cache.h"
#include "model.h"
#include "runtime/work_counter.h"

namespace st {

class ThreadPool;

// What the router and the experts did: per-expert uses (the popularity the expert cache
// learns from) and how many neurons of the used experts had relu(gate) > 0.
struct RoutingStats {
  std::vector<uint64_t> expert_uses;  // [layer · n_expert + expert]
  uint64_t neurons_active = 0;
  uint64_t neurons_total = 0;
  uint64_t tokens = 0;
};

// Thrown by evaluate() when its cancel flag is raised; the positions of the unfinished batch
// are not kept (n_past() is where that batch began).
struct EvaluationCancelled : std::runtime_error {
  EvaluationCancelled() : std::runtime_error("evaluation cancelled") {}
};

class InferenceContext {
 public:
  // Up to kMaxBatch prompt tokens at once: every weight row is read once for the whole batch.
  static constexpr int32_t kMaxBatch = 128;
  // Experts per token the decode FFN handles (SmallThinker: 4 and 6; select_experts: ≤ 256).
  static constexpr int kMaxExpertsUsed = 256;
  // A cancelled batch may have overwritten up to kMaxBatch ring rows, so a cancellable context
  // needs at least that much slack; with 512 a slot whose window has wrapped can still rewind
  // a few hundred positions exactly (further back it starts over).
  static constexpr int32_t kSlotRewindSlack = 512;
  static_assert(kSlotRewindSlack >= kMaxBatch, "a cancelled batch must not overwrite keys still in a window");

  // rewind_slack: extra positions each sliding-window ring keeps so that rewind() and
  // cancellation work (see KvCache); 0 for one-shot evaluation, kSlotRewindSlack for slots.
  InferenceContext(const Model& model, int32_t n_ctx, KvType kv_type, ThreadPool& pool, int32_t rewind_slack = 0);

  // Evaluates `tokens` at positions n_past().. and appends them to the cache. When
  // `all_logits` is set, `logits` receives n·n_vocab values (one row per token), else only
  // the last token's row.
  void evaluate(const int32_t* tokens, int32_t n, bool all_logits, std::vector<float>& logits);

  int32_t n_past() const { return n_past_; }
  // Forgets positions n.. so the next token is at position n; false (and nothing changed)
  // when a sliding-window ring no longer holds what position n would attend to.
  bool rewind(int32_t n);
  // While *flag is true, evaluate() stops at the next layer boundary and throws
  // EvaluationCancelled. nullptr: never cancelled.
  void set_cancel_flag(const std::atomic<bool>* flag) { cancel_ = flag; }
  int32_t n_ctx() const { return kv_.n_ctx(); }
  const KvCache& kv_cache() const { return kv_; }
  size_t scratch_bytes() const;
  // The scratch a context of these parameters allocates, for the memory plan (batch
  // scratch included: it is allocated on the first prompt).
  static size_t scratch_bytes_for(const SmallThinkerHParams& hp, int32_t n_ctx, int threads);

  const RoutingStats& routing_stats() const { return routing_; }

 private:
  void forward_batch(const int32_t* tokens, int32_t n, int32_t pos0, float* logits_out, bool all_logits);
  void attention_batch(int layer, int32_t n, int32_t pos0);
  void route_batch(int layer, int32_t n);
  void moe_ffn_batch(int layer, int32_t n);
  void moe_ffn_chunk(int layer, int32_t n, int c0, int c1, const ExpertMatrices& gate, const ExpertMatrices& up,
                     const ExpertMatrices& down);
  void gate_up_packed(const ExpertMatrices& gate, const ExpertMatrices& up, int n_chunk, const int32_t* active,
                      const std::vector<std::vector<const void*>>& inputs);
  void select_experts(const float* router_logits, int32_t* selected, float* weights) const;
  void rope_tables(int32_t pos, float* cos, float* sin) const;

  void forward_token(int32_t token, int32_t pos, float* logits_out);
  void attention(int layer, int32_t pos);
  void moe_ffn(int layer);
  // Experts of one layer held from the expert cache for the current computation.
  void acquire_experts(int layer, const int32_t* experts, int n, ExpertMatrices& gate, ExpertMatrices& up,
                       ExpertMatrices& down);
  void release_experts(int layer);  // everything acquire_experts() holds
  void predict_next_layer(int layer);
  void count_routing(int layer, const int32_t* selected, const float* act, int64_t n_slots);

  const Model& model_;
  const SmallThinkerHParams& hp_;
  ThreadPool& pool_;
  KvCache kv_;
  int32_t n_past_ = 0;
  int32_t written_end_ = 0;  // one past the highest position ever written (rings overwrite below it)
  const std::atomic<bool>* cancel_ = nullptr;
  bool cancelled() const { return cancel_ && cancel_->load(std::memory_order_relaxed); }
  // Called at every layer boundary: also where the work counter moves.
  void check_cancel() const {
    note_work();
    if (cancelled()) throw EvaluationCancelled();
  }

  // Scratch, sized once: nothing is allocated per token.
  std::vector<float> x_, xn_, q_, k_, v_, attn_out_, proj_, router_, ffn_out_;
  std::vector<float> scores_;       // n_head · n_ctx attention scores
  std::vector<float> gate_;         // n_expert_used · n_ff: relu(gate)·up per selected expert
  std::vector<float> partial_;      // per-thread partial sums for the down projection
  std::vector<int32_t> selected_;   // chosen experts
  std::vector<float> expert_weight_;
  std::vector<uint8_t> x_prepared_;
  std::vector<uint8_t> query_scratch_;     // per worker: one query head in the cache's dot format
  // Batch scratch (kMaxBatch rows each), sized on first use.
  struct Batch {
    std::vector<float> x, xn, q, k, v, attn_out, proj, router, act, ffn_out, weights, scores, rope_cos, rope_sin;
    std::vector<float> slot_out;  // upstream down: each (token, expert slot)'s weighted output
    std::vector<int32_t> selected;
    std::vector<std::vector<int32_t>> routed;  // expert -> its (token·K + j) slots
    std::vector<int32_t> active;               // experts with at least one slot, ascending
    int chunk = 1;                             // experts per FFN pass (see route_batch)
    std::vector<uint8_t> prepared;
    std::vector<uint8_t> k_rows, v_rows;  // the batch's keys and values in the cache's format
  } batch_;
  void ensure_batch_scratch();

  // The budgeted mode's per-expert matrix addresses (see ExpertMatrices::base).
  std::vector<const uint8_t*> gate_base_, up_base_, down_base_;
  std::vector<int32_t> held_;          // experts acquired from the cache right now
  std::vector<uint8_t> embd_scratch_;  // an embedding row read on demand (4096-aligned inside)
  std::vector<float> router_next_, predicted_weight_;
  std::vector<int32_t> predicted_, expert_order_;
  RoutingStats routing_;

  std::vector<double> rope_inv_freq_;        // base^(−2i/d), i < d/2
  std::vector<float> rope_cos_, rope_sin_;   // for the token being evaluated // the activation in the kernels' dot-product format
};

}  // namespace st
