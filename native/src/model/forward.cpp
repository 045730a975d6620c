// The SmallThinker forward pass (docs/model.md) for n tokens at once, decode being n = 1:
//   embed → for each layer: router logits from the raw residual → attention (RoPE or NoPE,
//   full or sliding window) → the top-k experts, grouped by the tokens routed to them, with
//   exact ReLU sparsity → next residual → norm → logits.
// Every weight row is read once for all n tokens. What only decode or only a memory budget
// needs (the next layer's experts predicted early, the experts already in memory computed
// first) is a condition inside the pass, not another copy of it.
#include "forward.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <numeric>
#include <stdexcept>
#include <string>

#include "attention.h"
#include "ops.h"
#include "platform/platform.h"
#include "runtime/portable_math.h"
#include "runtime/float_mode.h"
#include "runtime/thread_pool.h"

namespace st {

// ---------------------------------------------------------------------------------------------
// Workspace

size_t Workspace::layout(const SmallThinkerHParams& hp, int32_t n_ctx, int threads, size_t embedding_scratch_bytes, Workspace* ws,
                         uint8_t* base) {
  const size_t B = kMaxBatch, E = hp.n_embd, Q = size_t(hp.n_head) * hp.head_dim, KVW = size_t(hp.n_head_kv) * hp.head_dim,
               F = hp.n_ff_exp, K = hp.n_expert_used, N = hp.n_expert, T = threads, group = hp.n_head / hp.n_head_kv,
               half = hp.head_dim / 2,
               kv_row = KVW * sizeof(float);  // a cached row in the widest KV type (F32)
  size_t used = 0;
  // Places `count` items of T at the next `align`-byte boundary (and sets *field when laying
  // out); the arena itself starts on a page.
  auto place = [&](auto** field, size_t count, size_t align = 64) {
    using Item = std::remove_pointer_t<std::remove_reference_t<decltype(*field)>>;
    used = (used + align - 1) / align * align;
    if (base) *field = reinterpret_cast<Item*>(base + used);
    used += count * sizeof(Item);
  };
  Workspace measuring;
  Workspace& w = ws ? *ws : measuring;
  for (float** row : {&w.x, &w.xn, &w.proj, &w.ffn_out}) place(row, B * E);
  place(&w.q, B * Q);
  place(&w.attn_out, B * Q);
  place(&w.k, B * KVW);
  place(&w.v, B * KVW);
  place(&w.router, B * N);
  place(&w.rope_cos, B * half);
  place(&w.rope_sin, B * half);
  place(&w.act, B * K * F);
  place(&w.slot_out, B * K * E);
  place(&w.weights, B * K);
  place(&w.selected, B * K);
  place(&w.prepared, B * prepared_row_bytes(std::max(E, Q)));
  place(&w.prepared_acts, B * K * prepared_row_bytes(F));
  place(&w.xs, B);
  place(&w.xs_k, B);
  place(&w.xs_v, B);
  place(&w.expert_xs, B * K);
  place(&w.act_xs, B * K);
  place(&w.k_rows, B * kv_row);
  place(&w.v_rows, B * kv_row);
  place(&w.slots_by_expert, B * K);
  place(&w.first, N + 1);
  place(&w.next_slot, N);
  place(&w.active, N);
  place(&w.gate_base, N);
  place(&w.up_base, N);
  place(&w.down_base, N);
  place(&w.held, N);
  const size_t scores_stride = size_t(score_lanes(static_cast<int>(group))) * size_t(n_ctx), query_stride = group * hp.head_dim * sizeof(float);
  place(&w.scores, T * scores_stride);
  place(&w.query, T * query_stride);
  place(&w.part_max, T * T * size_t(score_lanes(static_cast<int>(group))));  // ≤ lcm(threads, pairs) < T² parts
  place(&w.tiles, T * 3 * B * kTileRows);
  place(&w.embedding_row, embedding_scratch_bytes, FileReader::kAlign);  // O_DIRECT reads need an aligned buffer
  place(&w.logits, size_t(kLogitRows) * hp.n_vocab);
  place(&w.router_next, N);
  place(&w.predicted_weight, K);
  place(&w.predicted, K);
  if (ws) {
    ws->scores_stride_ = scores_stride;
    ws->query_stride_ = query_stride;
  }
  return (used + 63) / 64 * 64;
}

size_t Workspace::bytes_for(const SmallThinkerHParams& hp, int32_t n_ctx, int threads, size_t embedding_scratch_bytes) {
  return layout(hp, n_ctx, threads, embedding_scratch_bytes, nullptr, nullptr);
}

Workspace::Workspace(const Model& model, int32_t n_ctx, int threads) : n_ctx_(n_ctx) {
  const SmallThinkerHParams& hp = model.hparams();
  if (hp.n_expert_used > InferenceContext::kMaxExpertsUsed) {
    throw std::runtime_error("more than " + std::to_string(InferenceContext::kMaxExpertsUsed) + " experts per token are not supported");
  }
  if (hp.n_head / hp.n_head_kv > kMaxQueryGroup) {
    throw std::runtime_error("more than " + std::to_string(kMaxQueryGroup) + " query heads per KV head are not supported");
  }
  arena_ = AlignedBuffer(bytes_for(hp, n_ctx, threads, model.embedding_scratch_bytes()));
  layout(hp, n_ctx, threads, model.embedding_scratch_bytes(), this, arena_.data());
}

// ---------------------------------------------------------------------------------------------
// The context

InferenceContext::InferenceContext(const Model& model, Workspace& workspace, ThreadPool& pool, int32_t n_ctx, KvType kv_type,
                                   int32_t rewind_slack)
    : model_(model), hp_(model.hparams()), ws_(workspace), pool_(pool), kv_(model.hparams(), n_ctx, kv_type, rewind_slack) {
  if (n_ctx > workspace.n_ctx()) throw std::logic_error("the workspace is smaller than this context");
  for (int i = 0; i < hp_.head_dim / 2; i++) {
    rope_inv_freq_.push_back(portable_math::pow(static_cast<double>(hp_.rope_freq_base), -2.0 * i / hp_.head_dim));
  }
  routing_.expert_uses.assign(size_t(hp_.n_layer) * hp_.n_expert, 0);
}

void InferenceContext::evaluate(const int32_t* tokens, int32_t n, bool all_logits, std::vector<float>& logits) {
  const size_t V = hp_.n_vocab;
  if (!all_logits) {
    logits.resize(V);
    evaluate_batches(tokens, n, logits.data(), nullptr);
    return;
  }
  logits.resize(V * std::max(n, 0));
  const LogitRowSink copy = [&](int32_t i, const float* row) { std::copy(row, row + V, logits.data() + V * i); };
  evaluate_batches(tokens, n, nullptr, &copy);
}

void InferenceContext::evaluate_each(const int32_t* tokens, int32_t n, const LogitRowSink& each_row) {
  evaluate_batches(tokens, n, nullptr, &each_row);
}

void InferenceContext::evaluate_batches(const int32_t* tokens, int32_t n, float* last_logits, const LogitRowSink* each_row) {
  if (n <= 0) throw std::invalid_argument("evaluate needs at least one token");
  const DenormalsFlushedScope flush_subnormals;  // the pool's workers flush for good; this is Node's thread
  // This thread takes part in every region: it asks for the workers' scheduling too, once.
  static thread_local const bool asked = (platform::ask_for_interactive_scheduling(), true);
  (void)asked;
  if (n_past_ + n > kv_.n_ctx()) {
    throw std::length_error("the prompt needs " + std::to_string(n_past_ + n) + " positions but the context holds " +
                            std::to_string(kv_.n_ctx()));
  }
  for (int32_t i = 0; i < n; i++) {
    if (tokens[i] < 0 || tokens[i] >= hp_.n_vocab) {
      throw std::out_of_range("token id " + std::to_string(tokens[i]) + " is outside the vocabulary (" +
                              std::to_string(hp_.n_vocab) + ")");
    }
  }
  check_cancel();
  // Prompts go through in batches; only the logits asked for are computed.
  for (int32_t i = 0; i < n; i += kMaxBatch) {
    const int32_t m = std::min(kMaxBatch, n - i);
    const bool last = i + m == n;
    written_end_ = std::max(written_end_, n_past_ + m);  // before: a cancelled batch has written some rows
    forward(tokens + i, m, n_past_, last ? last_logits : nullptr, each_row, i);
    n_past_ += m;
  }
}

bool InferenceContext::rewind(int32_t n) {
  if (n == 0) {
    // Back to an empty context: nothing in the cache is needed any more, so whatever the
    // sliding-window rings overwrote does not matter (they start again from position 0).
    n_past_ = 0;
    written_end_ = 0;
    return true;
  }
  if (n < 0 || n > n_past_ || !kv_.can_rewind(written_end_, n)) return false;
  n_past_ = n;
  return true;
}

void InferenceContext::rope_tables(int32_t pos, float* cos, float* sin) const {
  for (size_t i = 0; i < rope_inv_freq_.size(); i++) {
    double s, c;
    portable_math::sincos(static_cast<double>(pos) * rope_inv_freq_[i], &s, &c);
    cos[i] = static_cast<float>(c);
    sin[i] = static_cast<float>(s);
  }
}

// ---------------------------------------------------------------------------------------------
// The pass

void InferenceContext::forward(const int32_t* tokens, int32_t n, int32_t pos0, float* last_logits, const LogitRowSink* each_row,
                               int32_t first_row) {
  const ModelWeights& w = model_.weights();
  Workspace& s = ws_;
  const int E = hp_.n_embd;
  const size_t half = rope_inv_freq_.size();
  routing_.tokens += n;
  if (model_.expert_cache()) model_.expert_cache()->count_tokens(n);
  for (int32_t t = 0; t < n; t++) {  // no embedding scale
    const Matrix row = model_.embedding_row(tokens[t], s.embedding_row);
    row.format->row_to_floats(row, 0, s.x + size_t(t) * E);
    rope_tables(pos0 + t, s.rope_cos + t * half, s.rope_sin + t * half);
  }
  // The residual's additions, row t of x += row t of delta.
  const auto add_row = [&](int64_t t, const float* delta) {
    for (int i = 0; i < E; i++) s.x[size_t(t) * E + i] += delta[size_t(t) * E + i];
  };
  // xn = norm(x), after x += delta where one is given: a row at a time.
  const auto norm_rows = [&](const float* weight, const float* delta = nullptr) {
    ops::for_each_row(n, pool_, [&](int64_t t) {
      if (delta) add_row(t, delta);
      ops::rms_norm(s.x + size_t(t) * E, weight, s.xn + size_t(t) * E, E, hp_.rms_eps);
    });
  };
  const auto add_rows = [&](const float* delta) { ops::for_each_row(n, pool_, [&](int64_t t) { add_row(t, delta); }); };

  for (int l = 0; l < hp_.n_layer; l++) {
    const LayerWeights& lw = w.layers[l];
    check_cancel();
    // 1. Router logits from the raw residual, before any norm: this is what lets expert
    //    loading start before attention (route() asks the expert cache for them now).
    ops::prepare_rows(lw.router.type, s.x, n, E, s.prepared, s.xs, pool_);
    ops::matmul(lw.router, s.xs, n, s.router, pool_);
    route(l, n);

    // 2. Attention block.
    norm_rows(lw.attn_norm);
    attention(l, n, pos0);
    check_cancel();

    // 3. Mixture of experts on the normalised post-attention residual, routed by step 1.
    norm_rows(lw.ffn_norm, s.proj);
    experts(l, n);
    add_rows(s.ffn_out);
  }

  if (each_row) {
    // Every position's logits, kLogitRows at a time: the head's rows are read once per
    // kLogitRows positions rather than once per batch, and no batch's worth is held.
    const size_t V = hp_.n_vocab;
    norm_rows(w.output_norm);
    for (int32_t t0 = 0; t0 < n; t0 += kLogitRows) {
      const int32_t m = std::min(kLogitRows, n - t0);
      ops::prepare_rows(w.output.type, s.xn + size_t(t0) * E, m, E, s.prepared, s.xs, pool_);
      ops::matmul(w.output, s.xs, m, s.logits, pool_);
      for (int32_t j = 0; j < m; j++) (*each_row)(first_row + t0 + j, s.logits + V * j);
    }
  } else if (last_logits) {
    ops::rms_norm(s.x + size_t(n - 1) * E, w.output_norm, s.xn, E, hp_.rms_eps);
    ops::prepare_rows(w.output.type, s.xn, 1, E, s.prepared, s.xs, pool_);
    ops::matmul(w.output, s.xs, 1, last_logits, pool_);
  }
}

namespace {

// A KV head by position during a batch: its staged rows from pos0 on (the batch's own keys and
// values, not yet in the cache), the cache's before.
struct BatchHeadRows {
  KvCache::HeadRows cached;
  const uint8_t* staged;  // position pos0's head
  int32_t pos0;
  size_t row_bytes;       // of a staged row (every KV head)
  const uint8_t* operator()(int32_t p) const { return p >= pos0 ? staged + size_t(p - pos0) * row_bytes : cached(p); }
};

}  // namespace

// One token's attention spread over more threads than it has KV heads (decode on a machine with
// more cores than the model's KV heads: 2 for the 4B, 4 for the 21B), in three regions: the key
// dots, scaled, over parts of the positions, each part's maxima kept; the exponentials over the
// same parts, each part folding all parts' maxima in order; then each thread one part of the
// heads' dimensions, over all positions: the softmax's sums (again in each thread, as they must
// run in position order) and the value sums of its dimensions. Every value gets the operations
// attend_group gives it on one thread, in the same order; what is left is two more barriers.
template <typename KeyHead, typename ValueHead>
void InferenceContext::attention_spread(const AttentionBatch& batch, KeyHead key_head, ValueHead value_head) {
  Workspace& s = ws_;
  const KvRowFormat& kv = kv_.format();
  const int32_t pos0 = batch.pos0, fewest_keys = batch.fewest_keys;
  const int l = batch.layer, group = batch.group;
  const float scale = batch.scale;
  const int hd = hp_.head_dim, KVH = hp_.n_head_kv, S = score_lanes(group);
  const size_t QW = size_t(hp_.n_head) * hd;
  const int pairs = batch.n * KVH, threads = pool_.size();
  // Parts per pair so that every thread gets as many (pairs · parts a multiple of the threads:
  // 3 threads and 2 pairs make 3 parts each, not 1), within the positions' and dimensions' steps.
  const int even_parts = threads / std::gcd(threads, pairs);
  const int parts = std::max(1, std::min(even_parts, fewest_keys / kMinPartKeys));  // of the positions
  const int steps = (hd + kv.part_step() - 1) / kv.part_step();
  const int dim_parts = std::min(steps, even_parts);
  struct Pair {
    int32_t t, first, n_keys;
    int g;
  };
  const auto pair_at = [&](int64_t p) {
    Pair r;
    r.t = static_cast<int32_t>(p / KVH);
    r.g = static_cast<int>(p % KVH);
    r.first = kv_.first_visible(l, pos0 + r.t);
    r.n_keys = pos0 + r.t - r.first + 1;
    return r;
  };
  // Part c of the pair's positions, [begin, end) of its score rows.
  const auto positions = [&](const Pair& p, int c, int32_t& begin, int32_t& end) {
    begin = static_cast<int32_t>(int64_t(p.n_keys) * c / parts);
    end = static_cast<int32_t>(int64_t(p.n_keys) * (c + 1) / parts);
  };
  const auto scores_of = [&](int64_t p) { return s.scores + size_t(p) * s.scores_stride(); };  // p < threads
  pool_.parallel_for(int64_t(pairs) * parts, [&](int64_t i0, int64_t i1, int worker) {
    uint8_t* q_scratch = s.query + size_t(worker) * s.query_stride();
    const void* qh[kMaxQueryGroup];
    for (int64_t i = i0; i < i1; i++) {
      const Pair p = pair_at(i / parts);
      for (int j = 0; j < group; j++) {
        qh[j] = kv.prepare_query(s.q + p.t * QW + size_t(p.g * group + j) * hd, q_scratch + size_t(j) * hd * sizeof(float));
      }
      int32_t begin, end;
      positions(p, static_cast<int>(i % parts), begin, end);
      float* scores = scores_of(i / parts);
      key_dots(kv, qh, group, p.first, begin, end, key_head(p.g), scores);
      scale_and_max(scores, S, begin, end, scale, s.part_max + size_t(i) * S);
    }
  });
  pool_.parallel_for(int64_t(pairs) * parts, [&](int64_t i0, int64_t i1, int) {
    alignas(64) float max_s[kMaxQueryGroup];
    for (int64_t i = i0; i < i1; i++) {
      const int64_t pair = i / parts;
      const float* maxima = s.part_max + size_t(pair) * parts * S;
      std::copy(maxima, maxima + S, max_s);
      for (int c = 1; c < parts; c++) fold_max(max_s, maxima + size_t(c) * S, S);
      int32_t begin, end;
      positions(pair_at(pair), static_cast<int>(i % parts), begin, end);
      exponentials(scores_of(pair), S, begin, end, max_s);
    }
  });
  pool_.parallel_for(int64_t(pairs) * dim_parts, [&](int64_t i0, int64_t i1, int) {
    alignas(64) float inv[kMaxQueryGroup];
    float* out[kMaxQueryGroup];
    for (int64_t i = i0; i < i1; i++) {
      const Pair p = pair_at(i / dim_parts);
      const int d = static_cast<int>(i % dim_parts);
      const int d0 = std::min(hd, steps * d / dim_parts * kv.part_step()), d1 = std::min(hd, steps * (d + 1) / dim_parts * kv.part_step());
      const float* scores = scores_of(i / dim_parts);
      inverse_sums(scores, S, p.n_keys, inv);
      for (int j = 0; j < group; j++) out[j] = s.attn_out + p.t * QW + size_t(p.g * group + j) * hd;
      value_sums(kv, group, p.first, p.n_keys, value_head(p.g), scores, inv, d0, d1, out);
    }
  });
}

void InferenceContext::attention(int l, int32_t n, int32_t pos0) {
  Workspace& s = ws_;
  const LayerWeights& lw = model_.weights().layers[l];
  const int hd = hp_.head_dim, H = hp_.n_head, KVH = hp_.n_head_kv, E = hp_.n_embd;
  const size_t QW = size_t(H) * hd, KVW = size_t(KVH) * hd, half = rope_inv_freq_.size();
  // q, k and v in one parallel region; one prepared row serves every weight type at once
  // (their forms do not overlap in it), so each type's form is written once.
  ops::prepare_rows(lw.attn_q.type, s.xn, n, E, s.prepared, s.xs, pool_);
  const void** xk = s.xs;
  const void** xv = s.xs;
  if (lw.attn_k.type != lw.attn_q.type) ops::prepare_rows(lw.attn_k.type, s.xn, n, E, s.prepared, xk = s.xs_k, pool_);
  if (lw.attn_v.type == lw.attn_k.type) xv = xk;
  else if (lw.attn_v.type != lw.attn_q.type) ops::prepare_rows(lw.attn_v.type, s.xn, n, E, s.prepared, xv = s.xs_v, pool_);
  ops::matmul3(lw.attn_q, s.xs, s.q, lw.attn_k, xk, s.k, lw.attn_v, xv, s.v, n, pool_);
  // The batch's keys and values are staged in the cache's own format, so in-batch positions
  // read exactly what later tokens will read from the cache. Queries read older positions
  // from the cache and in-batch ones from the staging rows; the batch goes into the cache
  // only afterwards, so the sliding-window ring never overwrites a key an earlier query of
  // this batch still needs.
  const KvRowFormat& kv = kv_.format();
  const size_t row_bytes = kv.row_bytes(), head_bytes = kv.head_bytes();
  const bool rope = hp_.layer_uses_rope(l);
  ops::for_each_row(n, pool_, [&](int64_t t) {
    if (rope) {
      const float* c = s.rope_cos + t * half;
      const float* sn = s.rope_sin + t * half;
      for (int h = 0; h < H; h++) ops::rope_neox(s.q + t * QW + h * hd, hd, c, sn);
      for (int h = 0; h < KVH; h++) ops::rope_neox(s.k + t * KVW + h * hd, hd, c, sn);
    }
    kv.encode(s.k + t * KVW, s.k_rows + t * row_bytes);
    kv.encode(s.v + t * KVW, s.v_rows + t * row_bytes);
  });
  // KV head g by position: a value the attention loops keep in registers across kernel calls.
  auto key_head = [&](int g) { return BatchHeadRows{kv_.key_rows(l, g), s.k_rows + g * head_bytes, pos0, row_bytes}; };
  auto value_head = [&](int g) { return BatchHeadRows{kv_.value_rows(l, g), s.v_rows + g * head_bytes, pos0, row_bytes}; };
  const int group = H / KVH;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const int pairs = n * KVH, threads = pool_.size();
  const int32_t fewest_keys = pos0 - kv_.first_visible(l, pos0) + 1;  // the batch's first token's
  if (pairs < threads && fewest_keys >= kMinSpreadKeys) {
    attention_spread(AttentionBatch{n, pos0, l, group, scale, fewest_keys}, key_head, value_head);  // decode, with cores to spare
  } else {
    // Causal GQA: one (token, KV head) pair at a time with all the query heads that share the
    // KV head, so each key and value row is read once for them (attention.h). A token's cost
    // grows with its position, so the tokens go first, last, second, second to last, …: each
    // thread's share of a prompt batch then holds early and late tokens alike.
    const auto token_at = [n](int64_t j) { return static_cast<int32_t>(j % 2 == 0 ? j / 2 : n - 1 - j / 2); };
    pool_.parallel_for(int64_t(n) * KVH, [&](int64_t i0, int64_t i1, int worker) {
      uint8_t* q_scratch = s.query + size_t(worker) * s.query_stride();
      const void* qh[kMaxQueryGroup];
      float* out[kMaxQueryGroup];
      float* scores = s.scores + size_t(worker) * s.scores_stride();
      for (int64_t i = i0; i < i1; i++) {
        const int32_t t = token_at(i / KVH);
        const int g = static_cast<int>(i % KVH);
        const int32_t pos = pos0 + t, first = kv_.first_visible(l, pos), n_keys = pos - first + 1;
        for (int j = 0; j < group; j++) {
          const int h = g * group + j;
          qh[j] = kv.prepare_query(s.q + t * QW + h * hd, q_scratch + size_t(j) * hd * sizeof(float));
          out[j] = s.attn_out + t * QW + h * hd;
        }
        attend_group(kv, qh, group, first, n_keys, scale, key_head(g), value_head(g), scores, out);
      }
    });
  }
  for (int32_t t = 0; t < n; t++) kv_.store(l, pos0 + t, s.k_rows + t * row_bytes, s.v_rows + t * row_bytes);
  ops::prepare_rows(lw.attn_output.type, s.attn_out, n, int64_t(QW), s.prepared, s.xs, pool_);
  ops::matmul(lw.attn_output, s.xs, n, s.proj, pool_);
}

// Top-k by router logit (sigmoid and softmax are monotonic, so the choice is the same), ties
// to the lower expert id; then the gate weights renormalised over the chosen k.
void InferenceContext::select_experts(const float* router, int32_t* selected, float* weights) const {
  const int N = hp_.n_expert, K = hp_.n_expert_used;
  int32_t order[256];
  for (int e = 0; e < N; e++) order[e] = e;
  std::partial_sort(order, order + K, order + N, [&](int32_t a, int32_t b) {
    return router[a] > router[b] || (router[a] == router[b] && a < b);
  });
  float sum = 0;
  if (hp_.gating == ExpertGating::Softmax) {
    // softmax over all experts, then restricted to the top k: the common denominator cancels.
    const float max_l = router[order[0]];
    for (int j = 0; j < K; j++) sum += weights[j] = portable_math::exp(router[order[j]] - max_l);
  } else {
    for (int j = 0; j < K; j++) sum += weights[j] = 1.0f / (1.0f + portable_math::exp(-router[order[j]]));
  }
  sum = std::max(sum, 6.103515625e-5f);  // as llama.cpp: never divide by ~0
  for (int j = 0; j < K; j++) {
    selected[j] = order[j];
    weights[j] /= sum;
  }
}

// Each token's top-k, and the (token, slot) pairs grouped by expert so that each expert's
// rows are read once for all its tokens. With an expert cache, the reads of what the FFN will
// need start here, while attention computes.
void InferenceContext::route(int l, int32_t n) {
  Workspace& s = ws_;
  const int N = hp_.n_expert, K = hp_.n_expert_used;
  ops::for_each_row(n, pool_, [&](int64_t t) { select_experts(s.router + size_t(t) * N, s.selected + t * K, s.weights + t * K); });
  // Counting sort of the slots by expert; ascending expert order, ascending slots within.
  std::fill(s.first, s.first + N + 1, 0);
  for (int32_t i = 0; i < n * K; i++) s.first[s.selected[i] + 1]++;
  for (int e = 0; e < N; e++) s.first[e + 1] += s.first[e];
  std::copy(s.first, s.first + N, s.next_slot);
  for (int32_t i = 0; i < n * K; i++) s.slots_by_expert[s.next_slot[s.selected[i]]++] = i;
  n_active_ = 0;
  for (int e = 0; e < N; e++) if (s.first[e + 1] > s.first[e]) s.active[n_active_++] = e;

  ExpertCache* cache = model_.expert_cache();
  if (!cache) return;
  cache->begin_step();
  if (n == 1) {
    // Decode: the token's experts, in its router's order, and the next layer's guessed ones.
    if (cache->config().prefetch) cache->prefetch(l, s.selected, K);
    if (cache->config().predict_next_layer && l + 1 < hp_.n_layer) predict_next_layer(l);
  } else if (cache->config().prefetch) {
    // A prompt batch: the first chunk of experts (experts() goes in chunks that fit the cache).
    const int chunk = std::max(1, (cache->slots() - K) / 2);
    cache->prefetch(l, s.active, std::min(chunk, n_active_));
  }
}

// The experts of every token, as whole chunks of experts: ReGLU (every gate row, and the up
// row only where relu(gate) > 0) and the down projection into each (token, slot)'s own
// output; then each token's outputs are added in its router's order, so that a prompt rounds
// like the same tokens one at a time (and like llama.cpp), whatever the chunks were.
void InferenceContext::experts(int l, int32_t n) {
  Workspace& s = ws_;
  const LayerWeights& lw = model_.weights().layers[l];
  const int E = hp_.n_embd, K = hp_.n_expert_used;
  ExpertCache* cache = model_.expert_cache();
  ExpertMatrices gate = lw.ffn_gate, up = lw.ffn_up, down = lw.ffn_down;
  // Gate and up take the same prepared input: one type for both, which the loader checks.
  ops::prepare_rows(gate.type, s.xn, n, E, s.prepared, s.xs, pool_);
  n_held_ = 0;
  try {
    if (!cache) {
      experts_chunk(l, s.active, n_active_, gate, up, down);
    } else if (n == 1) {
      // Decode: the experts already in memory first, all together; the others one by one as
      // their reads finish.
      bool ready[kMaxExpertsUsed];
      cache->readiness(l, s.selected, K, ready);
      int32_t order[kMaxExpertsUsed];
      int n_ready = 0;
      for (int j = 0; j < K; j++) if (ready[j]) order[n_ready++] = s.selected[j];
      int at = n_ready;
      for (int j = 0; j < K; j++) if (!ready[j]) order[at++] = s.selected[j];
      if (n_ready > 0) {
        acquire_experts(l, order, n_ready, gate, up, down);
        experts_chunk(l, order, n_ready, gate, up, down);
      }
      for (int j = n_ready; j < K; j++) {
        acquire_experts(l, &order[j], 1, gate, up, down);
        experts_chunk(l, &order[j], 1, gate, up, down);
      }
    } else {
      // A prompt batch: chunks that fit the cache with room for the next chunk's reads.
      const int chunk = std::max(1, (cache->slots() - K) / 2);
      for (int c0 = 0; c0 < n_active_; c0 += chunk) {
        const int c1 = std::min(n_active_, c0 + chunk);
        acquire_experts(l, s.active + c0, c1 - c0, gate, up, down);
        cache->begin_step();  // the next chunk loads while this one computes
        if (c1 < n_active_ && cache->config().prefetch) cache->prefetch(l, s.active + c1, std::min(chunk, n_active_ - c1));
        experts_chunk(l, s.active + c0, c1 - c0, gate, up, down);
        release_experts(l);
      }
    }
  } catch (...) {
    if (cache) release_experts(l);
    throw;
  }
  if (cache) release_experts(l);
  // Each token's weighted expert outputs, added in its router's order.
  pool_.parallel_for(n, [&](int64_t t0, int64_t t1, int) {
    for (int64_t t = t0; t < t1; t++) {
      float* y = s.ffn_out + size_t(t) * E;
      std::fill(y, y + E, 0.0f);
      for (int j = 0; j < K; j++) {
        const float* o = s.slot_out + (size_t(t) * K + j) * E;
        for (int r = 0; r < E; r++) y[r] += o[r];
      }
    }
  });
  count_routing(l, n);
}

// Experts chunk[0 .. n_chunk) for their tokens: act and slot_out of their slots.
void InferenceContext::experts_chunk(int l, const int32_t* chunk, int n_chunk, const ExpertMatrices& gate_m,
                                     const ExpertMatrices& up_m, const ExpertMatrices& down_m) {
  Workspace& s = ws_;
  const LayerWeights& lw = model_.weights().layers[l];
  const int K = hp_.n_expert_used, F = hp_.n_ff_exp, E = hp_.n_embd;
  const int64_t TR = Workspace::kTileRows;
  // An expert's slots and, in the same order, their tokens' prepared rows.
  auto slots_of = [&](int e) { return s.slots_by_expert + s.first[e]; };
  auto count_of = [&](int e) { return s.first[e + 1] - s.first[e]; };
  for (int i = 0; i < n_chunk; i++) {
    const int e = chunk[i];
    for (int32_t j = 0; j < count_of(e); j++) s.expert_xs[s.first[e] + j] = s.xs[slots_of(e)[j] / K];
  }

  // Gate and up, a tile of rows of one expert at a time: the gate rows, then the up rows
  // where relu(gate) > 0 (how is the format's business: it may read only the active rows).
  // A prompt's items go tile by tile across the chunk's experts, so that each thread's share
  // holds part of every expert: its popular experts carry many more tokens than the others,
  // and split by experts the shares were uneven (docs/benchmarks.md). Decode's one token makes
  // every expert the same work, and there the items go expert by expert: each thread then
  // streams its experts' rows front to back, where tile by tile it jumped between all of their
  // matrices every 16 rows (the region took 14-18 % longer, the down projection's 10 %).
  const bool by_expert = s.first[hp_.n_expert] == K;  // one token in the batch
  const int64_t tiles = (F + TR - 1) / TR;
  pool_.parallel_for(int64_t(n_chunk) * tiles, [&](int64_t i0, int64_t i1, int worker) {
    float* gates = s.tiles + size_t(worker) * 3 * kMaxBatch * TR;
    float* ups = gates + kMaxBatch * TR;
    for (int64_t i = i0; i < i1; i++) {
      if ((i & 7) == 0 && cancelled()) return;  // the batch is dropped: stop early
      const int e = chunk[by_expert ? i / tiles : i % n_chunk];
      const int64_t r0 = (by_expert ? i % tiles : i / n_chunk) * TR, r1 = std::min<int64_t>(F, r0 + TR);
      const Matrix g = gate_m.expert(e), u = up_m.expert(e);
      const int32_t m = count_of(e);
      const void* const* xs = s.expert_xs + s.first[e];
      g.format->product(g, r0, r1, xs, m, gates, size_t(TR));
      u.format->gated_product(u, r0, r1, xs, m, gates, size_t(TR), ups, size_t(TR));
      for (int32_t j = 0; j < m; j++) std::copy(ups + j * TR, ups + j * TR + (r1 - r0), s.act + size_t(slots_of(e)[j]) * F + r0);
    }
  }, 8);
  check_cancel();

  if (lw.ffn_down_rows_are_neurons) {
    // Transposed down: the rows of the active neurons only, added into each slot's output;
    // each thread owns a column slice, aligned to the type's blocks (32, or 256 for K-quants).
    const int64_t column_grain = std::max<int64_t>(32, ggml_type_traits(static_cast<uint32_t>(down_m.type)).block_elems);
    pool_.parallel_for(E, [&](int64_t c0, int64_t c1, int) {
      for (int i = 0; i < n_chunk; i++) {
        if (cancelled()) return;
        const int e = chunk[i];
        const Matrix d = down_m.expert(e);
        for (int32_t j = 0; j < count_of(e); j++) {
          const int32_t slot = slots_of(e)[j];
          const float* a = s.act + size_t(slot) * F;
          float* y = s.slot_out + size_t(slot) * E + c0;
          std::fill(y, y + (c1 - c0), 0.0f);
          for (int64_t r = 0; r < F; r++) {
            if (a[r] != 0.0f) d.format->add_row(d, r, c0, s.weights[slot] * a[r], y, c1 - c0);
          }
        }
      }
    }, column_grain);
    check_cancel();
    return;
  }
  // Upstream down (E rows of F per expert): dense against each slot's activation.
  const size_t astride = prepared_row_bytes(F);
  ops::for_each_row(n_chunk, pool_, [&](int64_t i) {
    const int e = chunk[i];
    for (int32_t j = 0; j < count_of(e); j++) {
      const int32_t slot = slots_of(e)[j];
      s.act_xs[s.first[e] + j] = prepare_activation(down_m.type, s.act + size_t(slot) * F, F, s.prepared_acts + size_t(slot) * astride);
    }
  });
  const int64_t block = std::max<int64_t>(TR, down_m.format->row_block()), blocks = (E + block - 1) / block;
  // Rows [r0, r1) of expert e's down projection for its tokens, weighted into their slots' outputs.
  const auto down_rows = [&](int e, int64_t r0, int64_t r1, float* out) {
    const Matrix d = down_m.expert(e);
    const int32_t m = count_of(e);
    d.format->product(d, r0, r1, s.act_xs + s.first[e], m, out, size_t(TR));
    for (int32_t j = 0; j < m; j++) {
      const int32_t slot = slots_of(e)[j];
      float* y = s.slot_out + size_t(slot) * E;
      for (int64_t r = r0; r < r1; r++) y[r] = s.weights[slot] * out[j * TR + (r - r0)];
    }
  };
  const auto down_block = [&](int e, int64_t b, float* out) {
    for (int64_t r0 = b * block; r0 < std::min<int64_t>(E, (b + 1) * block); r0 += TR) down_rows(e, r0, std::min<int64_t>(E, r0 + TR), out);
  };
  const auto down_out = [&](int worker) { return s.tiles + size_t(worker) * 3 * kMaxBatch * TR + 2 * kMaxBatch * TR; };
  if (by_expert) {
    // Decode: expert by expert, as gate and up above.
    pool_.parallel_for(int64_t(n_chunk) * blocks, [&](int64_t i0, int64_t i1, int worker) {
      for (int64_t i = i0; i < i1; i++) down_block(chunk[i / blocks], i % blocks, down_out(worker));
    });
  } else {
    pool_.parallel_for(blocks, [&](int64_t b0, int64_t b1, int worker) {
      for (int i = 0; i < n_chunk; i++) {
        if (cancelled()) return;
        for (int64_t b = b0; b < b1; b++) down_block(chunk[i], b, down_out(worker));
      }
    });
  }
  check_cancel();
}

void InferenceContext::acquire_experts(int l, const int32_t* experts, int n, ExpertMatrices& gate, ExpertMatrices& up,
                                       ExpertMatrices& down) {
  ExpertCache* cache = model_.expert_cache();
  Workspace& s = ws_;
  // Waiting for a read: the pool's workers would spin meanwhile on a core the reading threads
  // need to lay the expert out (docs/memory.md).
  const std::function<void()> rest = [this] { pool_.rest_workers(); };
  for (int i = 0; i < n; i++) {
    const ExpertCache::Expert e = cache->acquire(l, experts[i], rest);
    s.held[n_held_++] = experts[i];
    s.gate_base[experts[i]] = e.gate;
    s.up_base[experts[i]] = e.up;
    s.down_base[experts[i]] = e.down;
  }
  gate.base = s.gate_base;
  up.base = s.up_base;
  down.base = s.down_base;
}

void InferenceContext::release_experts(int l) {
  if (n_held_ > 0) model_.expert_cache()->release(l, ws_.held, n_held_);
  n_held_ = 0;
}

// The next layer's router applied to this layer's input residual: the residual changes
// little across one layer, so its top-k often matches what the next layer will choose, a
// whole layer earlier than the real router output.
void InferenceContext::predict_next_layer(int l) {
  Workspace& s = ws_;
  const LayerWeights& next = model_.weights().layers[l + 1];
  const void* x[1];
  ops::prepare_rows(next.router.type, s.x, 1, hp_.n_embd, s.prepared, x, pool_);
  ops::matmul(next.router, x, 1, s.router_next, pool_);
  select_experts(s.router_next, s.predicted, s.predicted_weight);
  model_.expert_cache()->prefetch_speculative(l + 1, s.predicted, hp_.n_expert_used);
}

void InferenceContext::count_routing(int l, int32_t n) {
  const int F = hp_.n_ff_exp, K = hp_.n_expert_used;
  uint64_t active = 0;
  for (int32_t slot = 0; slot < n * K; slot++) {
    routing_.expert_uses[size_t(l) * hp_.n_expert + ws_.selected[slot]]++;
    const float* a = ws_.act + size_t(slot) * F;
    for (int i = 0; i < F; i++) active += a[i] != 0.0f;
  }
  routing_.neurons_active += active;
  routing_.neurons_total += uint64_t(n) * K * F;
}

}  // namespace st
