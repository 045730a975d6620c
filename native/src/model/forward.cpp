// The SmallThinker forward pass (SPEC §2), one token at a time:
//   router logits from the raw residual -> attention (RoPE or NoPE, full or sliding window)
//   -> top-k experts, ReGLU, exploiting exact ReLU sparsity -> next residual.
#include "forward.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "attention.h"
#include "file_reader.h"
#include "ops.h"
#include "runtime/thread_pool.h"

namespace st {

InferenceContext::InferenceContext(const Model& model, int32_t n_ctx, KvType kv_type, ThreadPool& pool, int32_t rewind_slack)
    : model_(model), hp_(model.hparams()), pool_(pool), kv_(model.hparams(), n_ctx, kv_type, rewind_slack) {
  const size_t E = hp_.n_embd, Q = static_cast<size_t>(hp_.n_head) * hp_.head_dim,
               KVW = static_cast<size_t>(hp_.n_head_kv) * hp_.head_dim, F = hp_.n_ff_exp,
               K = hp_.n_expert_used;
  x_.resize(E);
  xn_.resize(E);
  q_.resize(Q);
  k_.resize(KVW);
  v_.resize(KVW);
  attn_out_.resize(Q);
  proj_.resize(E);
  router_.resize(hp_.n_expert);
  ffn_out_.resize(E);
  scores_.resize(static_cast<size_t>(hp_.n_head) * n_ctx);
  gate_.resize(K * F);
  selected_.resize(K);
  expert_weight_.resize(K);
  for (int i = 0; i < hp_.head_dim / 2; i++) {
    rope_inv_freq_.push_back(std::pow(static_cast<double>(hp_.rope_freq_base), -2.0 * i / hp_.head_dim));
  }
  rope_cos_.resize(rope_inv_freq_.size());
  rope_sin_.resize(rope_inv_freq_.size());
  if (hp_.n_expert_used > kMaxExpertsUsed) {
    throw std::runtime_error("more than " + std::to_string(kMaxExpertsUsed) + " experts per token are not supported");
  }
  if (hp_.n_head / hp_.n_head_kv > kMaxQueryGroup) {
    throw std::runtime_error("more than " + std::to_string(kMaxQueryGroup) + " query heads per KV head are not supported");
  }
  // Per worker: the query heads of one KV head, each in the cache's dot format.
  query_scratch_.resize(size_t(pool.size()) * (hp_.n_head / hp_.n_head_kv) * hp_.head_dim * sizeof(float));
  x_prepared_.resize(ops::prepared_bytes(std::max<int64_t>(std::max(E, Q), K * F)));
  routing_.expert_uses.assign(size_t(hp_.n_layer) * hp_.n_expert, 0);
  if (model.expert_cache()) {
    gate_base_.assign(hp_.n_expert, nullptr);
    up_base_.assign(hp_.n_expert, nullptr);
    down_base_.assign(hp_.n_expert, nullptr);
    embd_scratch_.resize(model.embedding_scratch_bytes());
    router_next_.resize(hp_.n_expert);
    predicted_.resize(K);
    predicted_weight_.resize(K);
    expert_order_.reserve(K);
    held_.reserve(size_t(hp_.n_expert));
  }
}

size_t InferenceContext::scratch_bytes_for(const SmallThinkerHParams& hp, int32_t n_ctx, int threads) {
  const size_t E = hp.n_embd, Q = size_t(hp.n_head) * hp.head_dim, KVW = size_t(hp.n_head_kv) * hp.head_dim,
               F = hp.n_ff_exp, K = hp.n_expert_used, N = hp.n_expert, B = kMaxBatch, V = hp.n_vocab;
  const size_t prepared = sizeof(float) * std::max({E, Q, K * F});
  const size_t token = sizeof(float) * (4 * E + 2 * Q + 2 * KVW + N + size_t(hp.n_head) * n_ctx + K * F + threads * Q) +
                       prepared + sizeof(uint64_t) * size_t(hp.n_layer) * N;
  const size_t kv_row = 2 * KVW * sizeof(float);  // at most F32 rows
  const size_t batch = sizeof(float) * (B * (4 * E + 2 * Q + 2 * KVW + N + K * F + K * E + K + 2 * size_t(hp.head_dim)) + size_t(threads) * (hp.n_head / hp.n_head_kv) * n_ctx) +
                       B * prepared + B * kv_row;
  // The logits: one row per token, and a batch of rows when all positions are asked for.
  const size_t logits = sizeof(float) * V * (1 + B);
  return token + batch + logits;
}

size_t InferenceContext::scratch_bytes() const {
  return sizeof(float) * (x_.size() + xn_.size() + q_.size() + k_.size() + v_.size() + attn_out_.size() +
                          proj_.size() + router_.size() + ffn_out_.size() + scores_.size() + gate_.size()) +
         x_prepared_.size();
}

void InferenceContext::evaluate(const int32_t* tokens, int32_t n, bool all_logits, std::vector<float>& logits) {
  if (n <= 0) throw std::invalid_argument("evaluate needs at least one token");
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
  const size_t V = hp_.n_vocab;
  logits.resize(all_logits ? V * n : V);
  check_cancel();
  if (n == 1) {
    written_end_ = std::max(written_end_, n_past_ + 1);
    forward_token(tokens[0], n_past_, logits.data());
    n_past_++;
    return;
  }
  // Prompts go through in batches; only the logits asked for are computed.
  for (int32_t i = 0; i < n; i += kMaxBatch) {
    const int32_t m = std::min(kMaxBatch, n - i);
    const bool last = i + m == n;
    float* out = all_logits ? logits.data() + V * i : (last ? logits.data() : nullptr);
    written_end_ = std::max(written_end_, n_past_ + m);  // before: a cancelled batch has written some rows
    forward_batch(tokens + i, m, n_past_, out, all_logits);
    n_past_ += m;
  }
}

bool InferenceContext::rewind(int32_t n) {
  if (n < 0 || n > n_past_ || !kv_.can_rewind(written_end_, n)) return false;
  n_past_ = n;
  return true;
}

void InferenceContext::rope_tables(int32_t pos, float* cos, float* sin) const {
  for (size_t i = 0; i < rope_inv_freq_.size(); i++) {
    const double theta = static_cast<double>(pos) * rope_inv_freq_[i];
    cos[i] = static_cast<float>(std::cos(theta));
    sin[i] = static_cast<float>(std::sin(theta));
  }
}

void InferenceContext::forward_token(int32_t token, int32_t pos, float* logits_out) {
  const ModelWeights& w = model_.weights();
  ExpertCache* cache = model_.expert_cache();
  ops::dequantize_row(model_.embedding_row(token, aligned_scratch(embd_scratch_)), 0, x_.data());  // no embedding scale
  rope_tables(pos, rope_cos_.data(), rope_sin_.data());
  routing_.tokens++;
  if (cache) cache->count_tokens(1);

  for (int l = 0; l < hp_.n_layer; l++) {
    check_cancel();  // a decode step is ~50 ms on the 4b shape: stop between layers, not after it
    const LayerWeights& lw = w.layers[l];
    // 1. Router logits from the raw residual, before any norm: this is what lets expert
    //    loading start before attention (the memory-budget mode prefetches here).
    ops::matvec(lw.router, x_.data(), router_.data(), x_prepared_.data(), pool_);
    select_experts(router_.data(), selected_.data(), expert_weight_.data());
    if (cache) {
      cache->begin_step();
      // Their reads overlap the attention below.
      if (cache->config().prefetch) cache->prefetch(l, selected_.data(), hp_.n_expert_used);
      if (cache->config().predict_next_layer && l + 1 < hp_.n_layer) predict_next_layer(l);
    }

    // 2. Attention block.
    ops::rms_norm(x_.data(), lw.attn_norm, xn_.data(), hp_.n_embd, hp_.rms_eps);
    attention(l, pos);
    for (int i = 0; i < hp_.n_embd; i++) x_[i] += proj_[i];

    // 3. Mixture of experts on the normalised post-attention residual, routed by step 1.
    ops::rms_norm(x_.data(), lw.ffn_norm, xn_.data(), hp_.n_embd, hp_.rms_eps);
    moe_ffn(l);
    for (int i = 0; i < hp_.n_embd; i++) x_[i] += ffn_out_[i];
  }

  if (!logits_out) return;
  ops::rms_norm(x_.data(), w.output_norm, xn_.data(), hp_.n_embd, hp_.rms_eps);
  ops::matvec(w.output, xn_.data(), logits_out, x_prepared_.data(), pool_);
}


void InferenceContext::attention(int l, int32_t pos) {
  const LayerWeights& lw = model_.weights().layers[l];
  const int hd = hp_.head_dim, H = hp_.n_head, KVH = hp_.n_head_kv;
  ops::matvec3(lw.attn_q, lw.attn_k, lw.attn_v, xn_.data(), q_.data(), k_.data(), v_.data(), x_prepared_.data(), pool_);

  if (hp_.layer_uses_rope(l)) {
    for (int h = 0; h < H; h++) ops::rope_neox(q_.data() + h * hd, hd, rope_cos_.data(), rope_sin_.data());
    for (int h = 0; h < KVH; h++) ops::rope_neox(k_.data() + h * hd, hd, rope_cos_.data(), rope_sin_.data());
  }
  const KvRowFormat& kv = kv_.format();
  kv.encode(k_.data(), kv_.key(l, pos));
  kv.encode(v_.data(), kv_.value(l, pos));

  // Causal GQA over the visible window: query head h reads KV head h / (H / KVH).
  const int32_t first = kv_.first_visible(l, pos);
  const int32_t n_keys = pos - first + 1;
  const int group = H / KVH;
  const size_t head_bytes = kv.head_bytes();
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  // One KV head at a time with all the query heads that share it, so each key and value row is
  // read once per token instead of once per query head. Every score and every output is
  // computed exactly as head by head (same calls, same order over positions).
  pool_.parallel_for(KVH, [&](int64_t g_begin, int64_t g_end, int worker) {
    uint8_t* q_scratch = query_scratch_.data() + size_t(worker) * group * hd * sizeof(float);
    const void* qh[kMaxQueryGroup];
    float* sc[kMaxQueryGroup];
    float* out[kMaxQueryGroup];
    for (int64_t g = g_begin; g < g_end; g++) {
      const size_t kv_offset = static_cast<size_t>(g) * head_bytes;
      for (int i = 0; i < group; i++) {
        const int64_t h = g * group + i;
        qh[i] = kv.prepare_query(q_.data() + h * hd, q_scratch + size_t(i) * hd * sizeof(float));
        sc[i] = scores_.data() + h * kv_.n_ctx();
        out[i] = attn_out_.data() + h * hd;
      }
      attend_group(kv, qh, group, first, n_keys, scale, [&](int32_t p) { return kv_.key(l, p) + kv_offset; },
                   [&](int32_t p) { return kv_.value(l, p) + kv_offset; }, sc, out);
    }
  });
  ops::matvec(lw.attn_output, attn_out_.data(), proj_.data(), x_prepared_.data(), pool_);
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
    for (int j = 0; j < K; j++) sum += weights[j] = std::exp(router[order[j]] - max_l);
  } else {
    for (int j = 0; j < K; j++) sum += weights[j] = 1.0f / (1.0f + std::exp(-router[order[j]]));
  }
  sum = std::max(sum, 6.103515625e-5f);  // as llama.cpp: never divide by ~0
  for (int j = 0; j < K; j++) {
    selected[j] = order[j];
    weights[j] /= sum;
  }
}

void InferenceContext::moe_ffn(int l) {
  const LayerWeights& lw = model_.weights().layers[l];
  const int K = hp_.n_expert_used, F = hp_.n_ff_exp;
  ExpertCache* cache = model_.expert_cache();
  ExpertMatrices gate = lw.ffn_gate, up = lw.ffn_up, down = lw.ffn_down;

  // ReGLU with exact ReLU sparsity: every gate row is needed, but the up row (and the down
  // column) of a neuron whose relu(gate) is 0 contributes nothing and is never read.
  // gate_ then holds relu(gate)·up per selected expert (0 for inactive neurons).
  held_.clear();
  try {
    bool ready[kMaxExpertsUsed];
    if (cache) cache->readiness(l, selected_.data(), K, ready);
    const bool all_ready = std::all_of(ready, ready + (cache ? K : 0), [](bool r) { return r; });
    if (!cache || all_ready) {
      if (cache) acquire_experts(l, selected_.data(), K, gate, up, down);
      ops::sparse_reglu(gate, up, selected_.data(), K, xn_.data(), gate_.data(), x_prepared_.data(), pool_);
    } else {
      // Experts already in memory first, the others as their reads finish. Each expert's
      // activations are its own, so the order changes no value.
      std::vector<int32_t>& order = expert_order_;
      order.clear();
      for (int j = 0; j < K; j++) if (ready[j]) order.push_back(j);
      for (int j = 0; j < K; j++) if (!ready[j]) order.push_back(j);
      for (int j : order) {
        acquire_experts(l, &selected_[j], 1, gate, up, down);
        ops::sparse_reglu(gate, up, &selected_[j], 1, xn_.data(), gate_.data() + size_t(j) * F, x_prepared_.data(), pool_);
      }
    }
    ops::expert_down(down, lw.ffn_down_rows_are_neurons, selected_.data(), expert_weight_.data(), K, gate_.data(), F,
                     ffn_out_.data(), x_prepared_.data(), pool_);
  } catch (...) {
    release_experts(l);
    throw;
  }
  release_experts(l);
  count_routing(l, selected_.data(), gate_.data(), K);
}

void InferenceContext::acquire_experts(int l, const int32_t* experts, int n, ExpertMatrices& gate, ExpertMatrices& up,
                                       ExpertMatrices& down) {
  ExpertCache* cache = model_.expert_cache();
  for (int i = 0; i < n; i++) {
    const ExpertCache::Expert e = cache->acquire(l, experts[i]);
    held_.push_back(experts[i]);
    gate_base_[experts[i]] = e.gate;
    up_base_[experts[i]] = e.up;
    down_base_[experts[i]] = e.down;
  }
  gate.base = gate_base_.data();
  up.base = up_base_.data();
  down.base = down_base_.data();
}

void InferenceContext::release_experts(int l) {
  if (!held_.empty()) model_.expert_cache()->release(l, held_.data(), static_cast<int>(held_.size()));
  held_.clear();
}

// The next layer's router applied to this layer's input residual: the residual changes
// little across one layer, so its top-k often matches what the next layer will choose, a
// whole layer earlier than the real router output.
void InferenceContext::predict_next_layer(int l) {
  const LayerWeights& next = model_.weights().layers[l + 1];
  ops::matvec(next.router, x_.data(), router_next_.data(), x_prepared_.data(), pool_);
  select_experts(router_next_.data(), predicted_.data(), predicted_weight_.data());
  model_.expert_cache()->prefetch_speculative(l + 1, predicted_.data(), hp_.n_expert_used);
}

void InferenceContext::count_routing(int l, const int32_t* selected, const float* act, int64_t n_slots) {
  const int F = hp_.n_ff_exp;
  uint64_t active = 0;
  for (int64_t s = 0; s < n_slots; s++) {
    routing_.expert_uses[size_t(l) * hp_.n_expert + selected[s]]++;
    for (int i = 0; i < F; i++) active += act[s * F + i] != 0.0f;
  }
  routing_.neurons_active += active;
  routing_.neurons_total += uint64_t(n_slots) * F;
}

}  // namespace st
