// The SmallThinker forward pass (SPEC §2), one token at a time:
//   router logits from the raw residual -> attention (RoPE or NoPE, full or sliding window)
//   -> top-k experts, ReGLU, exploiting exact ReLU sparsity -> next residual.
#include "forward.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

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
  query_scratch_.resize(size_t(pool.size()) * hp_.head_dim * sizeof(float));
  x_prepared_.resize(ops::prepared_bytes(std::max<int64_t>(std::max(E, Q), K * F)));
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
  ops::dequantize_row(w.token_embd, token, x_.data());  // no embedding scale
  rope_tables(pos, rope_cos_.data(), rope_sin_.data());

  for (int l = 0; l < hp_.n_layer; l++) {
    check_cancel();  // a decode step is ~50 ms on the 4b shape: stop between layers, not after it
    const LayerWeights& lw = w.layers[l];
    // 1. Router logits from the raw residual, before any norm: this is what lets expert
    //    loading start before attention (the memory-budget mode prefetches here).
    ops::matvec(lw.router, x_.data(), router_.data(), x_prepared_.data(), pool_);

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
  pool_.parallel_for(H, [&](int64_t h_begin, int64_t h_end, int worker) {
    uint8_t* q_scratch = query_scratch_.data() + size_t(worker) * hd * sizeof(float);
    for (int64_t h = h_begin; h < h_end; h++) {
      const size_t kv_offset = static_cast<size_t>(h / group) * head_bytes;
      const void* qh = kv.prepare_query(q_.data() + h * hd, q_scratch);
      float* sc = scores_.data() + h * kv_.n_ctx();
      float max_s = -INFINITY;
      for (int32_t t = 0; t < n_keys; t++) {
        sc[t] = kv.dot(kv_.key(l, first + t) + kv_offset, qh) * scale;
        max_s = std::max(max_s, sc[t]);
      }
      float sum = 0;
      for (int32_t t = 0; t < n_keys; t++) sum += sc[t] = std::exp(sc[t] - max_s);
      const float inv = 1.0f / sum;
      float* out = attn_out_.data() + h * hd;
      std::fill(out, out + hd, 0.0f);
      for (int32_t t = 0; t < n_keys; t++) kv.add(kv_.value(l, first + t) + kv_offset, sc[t] * inv, out);
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

  select_experts(router_.data(), selected_.data(), expert_weight_.data());

  // ReGLU with exact ReLU sparsity: every gate row is needed, but the up row (and the down
  // column) of a neuron whose relu(gate) is 0 contributes nothing and is never read.
  ops::sparse_reglu(lw.ffn_gate, lw.ffn_up, selected_.data(), K, xn_.data(), gate_.data(), x_prepared_.data(), pool_);
  // gate_ now holds relu(gate)·up per selected expert (0 for inactive neurons).
  ops::expert_down(lw.ffn_down, lw.ffn_down_rows_are_neurons, selected_.data(), expert_weight_.data(), K,
                   gate_.data(), F, ffn_out_.data(), x_prepared_.data(), pool_);
}

}  // namespace st
