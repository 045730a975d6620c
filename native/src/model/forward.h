// The SmallThinker forward pass (docs/model.md) over any number of tokens, decode being one:
// InferenceContext is one sequence's KV cache and position; the Workspace is the scratch the
// pass computes in, shared by every context of a model (only one computes at a time). Read
// forward.cpp top to bottom for the math.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <vector>

#include "file_reader.h"
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

// Tokens the pass takes at once: every weight row is read once for the whole batch.
constexpr int32_t kMaxBatch = 128;
// Positions whose logits the output head computes at once when every position's are asked
// for (evaluation): a batch's worth would be kMaxBatch · n_vocab floats (78 MB on the 4B),
// planned into a memory budget and held by no other use. A multiple of 16, so each
// position's activations are grouped for the kernels exactly as in a whole batch.
constexpr int32_t kLogitRows = 16;
static_assert(kMaxBatch % kLogitRows == 0 && kLogitRows % 16 == 0, "logit rows split a batch as the kernels' activation groups do");

// The scratch of the forward pass for up to kMaxBatch tokens and contexts of up to n_ctx
// positions, in one allocation. Its size comes from the same function that lays it out, so
// the memory plan and the allocation cannot disagree.
class Workspace {
 public:
  Workspace(const Model& model, int32_t n_ctx, int threads);
  static size_t bytes_for(const SmallThinkerHParams& hp, int32_t n_ctx, int threads, size_t embedding_scratch_bytes);
  size_t bytes() const { return arena_.size(); }
  int32_t n_ctx() const { return n_ctx_; }

  // Token rows (kMaxBatch of each).
  float *x, *xn, *q, *k, *v, *attn_out, *proj, *router, *ffn_out, *rope_cos, *rope_sin;
  float *act;       // (token, expert slot) → relu(gate)·up, n_ff each
  float *slot_out;  // (token, expert slot) → that expert's weighted output, n_embd each
  float *weights;   // (token, expert slot) → gate weight
  int32_t* selected;  // (token, expert slot) → expert
  uint8_t* prepared;       // token rows prepared for the kernels (prepared_row_bytes of the widest)
  uint8_t* prepared_acts;  // (token, expert slot) activations prepared for the down projection
  const void **xs, **xs_k, **xs_v;  // each token's prepared row (xs_k, xs_v: as k and v's types take it)
  const void **expert_xs, **act_xs;  // per slot, in slots_by_expert order: its token's row, its activation
  uint8_t *k_rows, *v_rows;  // the batch's keys and values in the cache's format
  // Experts: the (token, slot) pairs of each expert (slots_by_expert[first[e] .. first[e + 1])).
  int32_t *slots_by_expert, *first, *next_slot, *active;
  const uint8_t **gate_base, **up_base, **down_base;  // with an expert cache: where each held expert is
  int32_t* held;
  // Per worker.
  float* scores;           // the query heads of one KV head: n_ctx · score_lanes(group) (attention.h)
  uint8_t* query;          // those heads in the cache's dot format: group · head_dim floats' room
  float* tiles;            // 3 · kMaxBatch · kTileRows floats: gate, up and down outputs of one row tile
  uint8_t* embedding_row;  // one embedding row read on demand (budgeted mode)
  float* logits;           // kLogitRows positions' logits (n_vocab each), when every position's are asked for
  float *router_next, *predicted_weight;  // decode: the next layer's router, applied early
  int32_t* predicted;
  // Attention spread over threads (InferenceContext::attention_spread): each part of a pair's
  // positions, its score maxima, score_lanes(group) floats; room for threads² parts.
  float* part_max;

  static constexpr int64_t kTileRows = 16;
  size_t scores_stride() const { return scores_stride_; }
  size_t query_stride() const { return query_stride_; }

 private:
  Workspace() = default;  // an unallocated one, for layout() to measure with
  // Lays the buffers out in `base` (nullptr: only measures); returns the bytes needed.
  static size_t layout(const SmallThinkerHParams& hp, int32_t n_ctx, int threads, size_t embedding_scratch_bytes, Workspace* ws,
                       uint8_t* base);
  AlignedBuffer arena_;
  int32_t n_ctx_ = 0;
  size_t scores_stride_ = 0, query_stride_ = 0;
};

class InferenceContext {
 public:
  // Experts per token the pass handles (SmallThinker: 4 and 6).
  static constexpr int kMaxExpertsUsed = 256;
  // A cancelled batch may have overwritten up to kMaxBatch ring rows, so a cancellable context
  // needs at least that much slack; with 512 a slot whose window has wrapped can still rewind
  // a few hundred positions exactly (further back it starts over).
  static constexpr int32_t kSlotRewindSlack = 512;
  static_assert(kSlotRewindSlack >= kMaxBatch, "a cancelled batch must not overwrite keys still in a window");

  // rewind_slack: extra positions each sliding-window ring keeps so that rewind() and
  // cancellation work (see KvCache); 0 for one-shot evaluation, kSlotRewindSlack for slots.
  // The workspace must hold contexts of n_ctx positions.
  InferenceContext(const Model& model, Workspace& workspace, ThreadPool& pool, int32_t n_ctx, KvType kv_type, int32_t rewind_slack = 0);

  // Evaluates `tokens` at positions n_past().. and appends them to the cache. When
  // `all_logits` is set, `logits` receives n·n_vocab values (one row per token), else only
  // the last token's row.
  void evaluate(const int32_t* tokens, int32_t n, bool all_logits, std::vector<float>& logits);
  // The same, handing every token's logits in order to each_row(i, logits of tokens[i]) (the
  // row is valid during the call only) without holding more than kLogitRows of them.
  using LogitRowSink = std::function<void(int32_t index, const float* logits)>;
  void evaluate_each(const int32_t* tokens, int32_t n, const LogitRowSink& each_row);

  int32_t n_past() const { return n_past_; }
  // Forgets positions n.. so the next token is at position n; false (and nothing changed)
  // when a sliding-window ring no longer holds what position n would attend to. Back to 0
  // (a reset) always succeeds.
  bool rewind(int32_t n);
  // While *flag is true, evaluate() stops at the next layer boundary and throws
  // EvaluationCancelled. nullptr: never cancelled.
  void set_cancel_flag(const std::atomic<bool>* flag) { cancel_ = flag; }
  int32_t n_ctx() const { return kv_.n_ctx(); }
  const KvCache& kv_cache() const { return kv_; }
  const RoutingStats& routing_stats() const { return routing_; }

 private:
  // The pass over n ≤ kMaxBatch tokens at positions pos0..; last_logits receives the last
  // token's logits (nullptr: none), or each_row every token's, numbered from first_row (the
  // batch's first token's index in the evaluation).
  void forward(const int32_t* tokens, int32_t n, int32_t pos0, float* last_logits, const LogitRowSink* each_row, int32_t first_row);
  // The batches of evaluate() and evaluate_each().
  void evaluate_batches(const int32_t* tokens, int32_t n, float* last_logits, const LogitRowSink* each_row);
  void route(int layer, int32_t n);
  void attention(int layer, int32_t n, int32_t pos0);
  // What attention() works out for a batch, handed on to attention_spread() as it is.
  struct AttentionBatch {
    int32_t n, pos0;
    int layer, group;      // group: query heads per KV head
    float scale;           // of the key dots
    int32_t fewest_keys;   // the positions the batch's first token attends to, the fewest of any
  };
  // attention() for batches of fewer (token, KV head) pairs than threads, one pair's positions
  // and dimensions over several threads, with the same results (forward.cpp). key_head(g) and
  // value_head(g) give KV head g's rows as a function of the position.
  template <typename KeyHead, typename ValueHead>
  void attention_spread(const AttentionBatch& batch, KeyHead key_head, ValueHead value_head);
  // Spread when every pair has at least kMinSpreadKeys positions, in parts of at least
  // kMinPartKeys. The two more regions cost about 12 µs a layer (forced on 2 threads at short
  // context, the Zen 5 VM: decode 5 % slower); a pair's attention takes about 80 ns a position
  // on one thread, so with 3 threads for 2 pairs the spreading pays from about 900 positions.
  static constexpr int32_t kMinSpreadKeys = 1024, kMinPartKeys = 128;
  void experts(int layer, int32_t n);
  void experts_chunk(int layer, const int32_t* chunk, int n_chunk, const ExpertMatrices& gate, const ExpertMatrices& up,
                     const ExpertMatrices& down);
  void select_experts(const float* router_logits, int32_t* selected, float* weights) const;
  void rope_tables(int32_t pos, float* cos, float* sin) const;
  // Experts of one layer held from the expert cache for the current computation.
  void acquire_experts(int layer, const int32_t* experts, int n, ExpertMatrices& gate, ExpertMatrices& up, ExpertMatrices& down);
  void release_experts(int layer);  // everything acquire_experts() holds
  void predict_next_layer(int layer);
  void count_routing(int layer, int32_t n);

  // At every layer boundary: stops a cancelled evaluation; also where the work counter moves.
  void check_cancel() const {
    note_work();
    if (cancelled()) throw EvaluationCancelled();
  }
  bool cancelled() const { return cancel_ && cancel_->load(std::memory_order_relaxed); }

  const Model& model_;
  const SmallThinkerHParams& hp_;
  Workspace& ws_;
  ThreadPool& pool_;
  KvCache kv_;
  int32_t n_past_ = 0;
  int32_t written_end_ = 0;  // one past the highest position ever written (rings overwrite below it)
  const std::atomic<bool>* cancel_ = nullptr;
  int n_active_ = 0;  // experts the current layer's tokens use (ws_.active[0 .. n_active_))
  int n_held_ = 0;    // experts acquired from the cache right now (ws_.held[0 .. n_held_))
  RoutingStats routing_;
  std::vector<double> rope_inv_freq_;  // base^(−2i/d), i < d/2
};

}  // namespace st
