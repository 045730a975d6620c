// One SmallThinker inference context: the KV cache plus the scratch buffers of the forward
// pass of SPEC §2, evaluated token by token. Read forward.cpp top to bottom for the math.
#pragma once
#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "kv_cache.h"
#include "model.h"

namespace st {

class ThreadPool;

// Thrown by evaluate() when its cancel flag is raised; the positions of the unfinished batch
// are not kept (n_past() is where that batch began).
struct EvaluationCancelled : std::runtime_error {
  EvaluationCancelled() : std::runtime_error("evaluation cancelled") {}
};

class InferenceContext {
 public:
  // Up to kMaxBatch prompt tokens at once: every weight row is read once for the whole batch.
  static constexpr int32_t kMaxBatch = 128;
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

 private:
  void forward_batch(const int32_t* tokens, int32_t n, int32_t pos0, float* logits_out, bool all_logits);
  void attention_batch(int layer, int32_t n, int32_t pos0);
  void moe_ffn_batch(int layer, int32_t n);
  void select_experts(const float* router_logits, int32_t* selected, float* weights) const;
  void rope_tables(int32_t pos, float* cos, float* sin) const;

  void forward_token(int32_t token, int32_t pos, float* logits_out);
  void attention(int layer, int32_t pos);
  void moe_ffn(int layer);

  const Model& model_;
  const SmallThinkerHParams& hp_;
  ThreadPool& pool_;
  KvCache kv_;
  int32_t n_past_ = 0;
  int32_t written_end_ = 0;  // one past the highest position ever written (rings overwrite below it)
  const std::atomic<bool>* cancel_ = nullptr;
  bool cancelled() const { return cancel_ && cancel_->load(std::memory_order_relaxed); }
  void check_cancel() const {
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
    std::vector<int32_t> selected;
    std::vector<uint8_t> prepared;
    std::vector<uint8_t> k_rows, v_rows;  // the batch's keys and values in the cache's format
  } batch_;
  void ensure_batch_scratch();

  std::vector<double> rope_inv_freq_;        // base^(−2i/d), i < d/2
  std::vector<float> rope_cos_, rope_sin_;   // for the token being evaluated // the activation in the kernels' dot-product format
};

}  // namespace st
