// The batched forward pass for prompts: the same math as forward.cpp, but every weight row is
// read once for up to kMaxBatch tokens (matrix-matrix instead of matrix-vector), which is
// what makes prefill fast. Attention stays causal token by token within the batch.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "attention.h"
#include "forward.h"
#include "kernels/kernels.h"
#include "ops.h"
#include "runtime/thread_pool.h"

namespace st {

void InferenceContext::ensure_batch_scratch() {
  Batch& b = batch_;
  if (!b.x.empty()) return;
  const size_t B = kMaxBatch, E = hp_.n_embd, Q = size_t(hp_.n_head) * hp_.head_dim,
               KVW = size_t(hp_.n_head_kv) * hp_.head_dim, K = hp_.n_expert_used, F = hp_.n_ff_exp;
  b.x.resize(B * E);
  b.xn.resize(B * E);
  b.q.resize(B * Q);
  b.k.resize(B * KVW);
  b.v.resize(B * KVW);
  b.attn_out.resize(B * Q);
  b.proj.resize(B * E);
  b.router.resize(B * hp_.n_expert);
  b.act.resize(B * K * F);
  b.ffn_out.resize(B * E);
  b.slot_out.resize(B * K * E);
  b.weights.resize(B * K);
  b.selected.resize(B * K);
  b.scores.resize(size_t(pool_.size()) * (hp_.n_head / hp_.n_head_kv) * kv_.n_ctx());
  b.rope_cos.resize(B * rope_inv_freq_.size());
  b.rope_sin.resize(B * rope_inv_freq_.size());
  b.prepared.resize(ops::prepared_bytes(int64_t(B) * std::max({E, Q, K * F})));
  b.k_rows.resize(B * kv_.format().row_bytes());
  b.v_rows.resize(B * kv_.format().row_bytes());
}

void InferenceContext::forward_batch(const int32_t* tokens, int32_t n, int32_t pos0, float* logits_out, bool all_logits) {
  ensure_batch_scratch();
  Batch& b = batch_;
  const ModelWeights& w = model_.weights();
  const int E = hp_.n_embd;
  routing_.tokens += n;
  if (model_.expert_cache()) model_.expert_cache()->count_tokens(n);
  for (int32_t t = 0; t < n; t++) {
    ops::dequantize_row(model_.embedding_row(tokens[t], aligned_scratch(embd_scratch_)), 0, b.x.data() + size_t(t) * E);
    rope_tables(pos0 + t, b.rope_cos.data() + t * rope_inv_freq_.size(), b.rope_sin.data() + t * rope_inv_freq_.size());
  }
  for (int l = 0; l < hp_.n_layer; l++) {
    const LayerWeights& lw = w.layers[l];
    ops::matmul(lw.router, b.x.data(), n, b.router.data(), b.prepared.data(), pool_);
    route_batch(l, n);  // with an expert cache, the first experts' reads overlap attention
    for (int32_t t = 0; t < n; t++) ops::rms_norm(&b.x[size_t(t) * E], lw.attn_norm, &b.xn[size_t(t) * E], E, hp_.rms_eps);
    check_cancel();  // a batch takes ~0.1 s per layer on the 4b shape: stop between blocks
    attention_batch(l, n, pos0);
    check_cancel();
    for (size_t i = 0; i < size_t(n) * E; i++) b.x[i] += b.proj[i];
    for (int32_t t = 0; t < n; t++) ops::rms_norm(&b.x[size_t(t) * E], lw.ffn_norm, &b.xn[size_t(t) * E], E, hp_.rms_eps);
    moe_ffn_batch(l, n);
    for (size_t i = 0; i < size_t(n) * E; i++) b.x[i] += b.ffn_out[i];
  }
  if (!logits_out) return;
  if (all_logits) {
    for (int32_t t = 0; t < n; t++) ops::rms_norm(&b.x[size_t(t) * E], w.output_norm, &b.xn[size_t(t) * E], E, hp_.rms_eps);
    ops::matmul(w.output, b.xn.data(), n, logits_out, b.prepared.data(), pool_);
  } else {
    ops::rms_norm(&b.x[size_t(n - 1) * E], w.output_norm, xn_.data(), E, hp_.rms_eps);
    ops::matvec(w.output, xn_.data(), logits_out, x_prepared_.data(), pool_);
  }
}

void InferenceContext::attention_batch(int l, int32_t n, int32_t pos0) {
  Batch& b = batch_;
  const LayerWeights& lw = model_.weights().layers[l];
  const int hd = hp_.head_dim, H = hp_.n_head, KVH = hp_.n_head_kv;
  const size_t QW = size_t(H) * hd, KVW = size_t(KVH) * hd, half = rope_inv_freq_.size();
  ops::matmul(lw.attn_q, b.xn.data(), n, b.q.data(), b.prepared.data(), pool_);
  ops::matmul(lw.attn_k, b.xn.data(), n, b.k.data(), b.prepared.data(), pool_);
  ops::matmul(lw.attn_v, b.xn.data(), n, b.v.data(), b.prepared.data(), pool_);
  for (int32_t t = 0; t < n && hp_.layer_uses_rope(l); t++) {
    const float* c = &b.rope_cos[t * half];
    const float* s = &b.rope_sin[t * half];
    for (int h = 0; h < H; h++) ops::rope_neox(&b.q[t * QW + h * hd], hd, c, s);
    for (int h = 0; h < KVH; h++) ops::rope_neox(&b.k[t * KVW + h * hd], hd, c, s);
  }
  // The batch's keys and values are staged in the cache's own format, so in-batch positions
  // read exactly what token-by-token evaluation would read from the cache. Queries read older
  // positions from the cache and in-batch ones from the staging rows; the batch goes into the
  // cache only afterwards, so the sliding-window ring never overwrites a key an earlier query
  // of this batch still needs.
  const KvRowFormat& kv = kv_.format();
  const size_t row_bytes = kv.row_bytes(), head_bytes = kv.head_bytes();
  for (int32_t t = 0; t < n; t++) {
    kv.encode(&b.k[t * KVW], b.k_rows.data() + t * row_bytes);
    kv.encode(&b.v[t * KVW], b.v_rows.data() + t * row_bytes);
  }
  auto key_row = [&](int32_t p) { return p >= pos0 ? b.k_rows.data() + size_t(p - pos0) * row_bytes : kv_.key(l, p); };
  auto value_row = [&](int32_t p) { return p >= pos0 ? b.v_rows.data() + size_t(p - pos0) * row_bytes : kv_.value(l, p); };
  const int group = H / KVH;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  // One (token, KV head) pair at a time with all the query heads that share the KV head.
  pool_.parallel_for(int64_t(n) * KVH, [&](int64_t i0, int64_t i1, int worker) {
    uint8_t* q_scratch = query_scratch_.data() + size_t(worker) * group * hd * sizeof(float);
    const void* qh[kMaxQueryGroup];
    float* sc[kMaxQueryGroup];
    float* out[kMaxQueryGroup];
    for (int64_t i = i0; i < i1; i++) {
      const int32_t t = static_cast<int32_t>(i / KVH);
      const int g = static_cast<int>(i % KVH);
      const size_t kv_offset = static_cast<size_t>(g) * head_bytes;
      const int32_t pos = pos0 + t, first = kv_.first_visible(l, pos), n_keys = pos - first + 1;
      for (int j = 0; j < group; j++) {
        const int h = g * group + j;
        qh[j] = kv.prepare_query(&b.q[t * QW + h * hd], q_scratch + size_t(j) * hd * sizeof(float));
        sc[j] = b.scores.data() + (size_t(worker) * group + j) * kv_.n_ctx();
        out[j] = &b.attn_out[t * QW + h * hd];
      }
      attend_group(kv, qh, group, first, n_keys, scale, [&](int32_t p) { return key_row(p) + kv_offset; },
                   [&](int32_t p) { return value_row(p) + kv_offset; }, sc, out);
    }
  });
  for (int32_t t = 0; t < n; t++) {
    std::memcpy(kv_.key(l, pos0 + t), b.k_rows.data() + t * row_bytes, row_bytes);
    std::memcpy(kv_.value(l, pos0 + t), b.v_rows.data() + t * row_bytes, row_bytes);
  }
  ops::matmul(lw.attn_output, b.attn_out.data(), n, b.proj.data(), b.prepared.data(), pool_);
}

void InferenceContext::route_batch(int l, int32_t n) {
  Batch& b = batch_;
  const int N = hp_.n_expert, K = hp_.n_expert_used;
  for (int32_t t = 0; t < n; t++) select_experts(&b.router[size_t(t) * N], &b.selected[t * K], &b.weights[t * K]);
  // Group the (token, slot) pairs by expert so each expert's rows are read once per batch.
  b.routed.assign(N, {});
  for (int32_t t = 0; t < n; t++)
    for (int j = 0; j < K; j++) b.routed[b.selected[t * K + j]].push_back(t * K + j);
  b.active.clear();
  for (int e = 0; e < N; e++) if (!b.routed[e].empty()) b.active.push_back(e);
  // The experts go through the FFN in chunks that fit the expert cache with room for the
  // next chunk's reads (all at once without a cache). Ascending expert order either way, so
  // every output sums in the same order with or without a budget.
  ExpertCache* cache = model_.expert_cache();
  b.chunk = cache ? std::max(1, (cache->slots() - K) / 2) : std::max<int>(1, int(b.active.size()));
  if (cache) {
    cache->begin_step();
    if (cache->config().prefetch) cache->prefetch(l, b.active.data(), std::min<int>(b.chunk, int(b.active.size())));
  }
}

void InferenceContext::moe_ffn_batch(int l, int32_t n) {
  Batch& b = batch_;
  const int E = hp_.n_embd;
  ExpertCache* cache = model_.expert_cache();
  std::fill(b.ffn_out.begin(), b.ffn_out.begin() + size_t(n) * E, 0.0f);
  const int n_active = int(b.active.size());
  for (int c0 = 0; c0 < n_active; c0 += b.chunk) {
    const int c1 = std::min(n_active, c0 + b.chunk);
    ExpertMatrices gate = model_.weights().layers[l].ffn_gate, up = model_.weights().layers[l].ffn_up,
                   down = model_.weights().layers[l].ffn_down;
    held_.clear();
    try {
      if (cache) {
        acquire_experts(l, &b.active[c0], c1 - c0, gate, up, down);
        // The next chunk loads while this one computes.
        cache->begin_step();
        if (c1 < n_active && cache->config().prefetch) cache->prefetch(l, &b.active[c1], std::min(b.chunk, n_active - c1));
      }
      moe_ffn_chunk(l, n, c0, c1, gate, up, down);
    } catch (...) {
      if (cache) release_experts(l);
      throw;
    }
    if (cache) release_experts(l);
  }
  {
    // Each token's weighted expert outputs added in its router's order, as the token-by-token
    // pass (and llama.cpp) add them, so a prompt evaluated in a batch rounds like one
    // evaluated token by token.
    const int K = hp_.n_expert_used;
    pool_.parallel_for(n, [&](int64_t t0, int64_t t1, int) {
      for (int64_t t = t0; t < t1; t++) {
        float* y = &b.ffn_out[size_t(t) * E];
        for (int j = 0; j < K; j++) {
          const float* o = &b.slot_out[(size_t(t) * K + j) * E];
          for (int r = 0; r < E; r++) y[r] += o[r];
        }
      }
    });
  }
  for (int e : b.active) {
    for (int32_t slot : b.routed[e]) count_routing(l, &b.selected[slot], &b.act[size_t(slot) * hp_.n_ff_exp], 1);
  }
}

// Experts b.active[c0 .. c1) for their tokens: gate and up rows, then the down projection
// added into b.ffn_out.
void InferenceContext::moe_ffn_chunk(int l, int32_t n, int c0, int c1, const ExpertMatrices& gate_m,
                                     const ExpertMatrices& up_m, const ExpertMatrices& down_m) {
  Batch& b = batch_;
  const LayerWeights& lw = model_.weights().layers[l];
  const int K = hp_.n_expert_used, F = hp_.n_ff_exp, E = hp_.n_embd;
  const std::vector<std::vector<int32_t>>& routed = b.routed;
  const int32_t* active = b.active.data() + c0;
  const int n_chunk = c1 - c0;

  // Gate and up: every gate row, and the up row only where relu(gate) > 0.
  const void* xq = ops::prepare_rows(gate_m.type, b.xn.data(), n, E, b.prepared.data());
  const size_t xstride = ops::prepared_row_bytes(E);
  auto x_row = [&](int32_t t) { return static_cast<const uint8_t*>(xq) + size_t(t) * xstride; };
  // Up rows take the same prepared input as the gate rows: one type for both, which the
  // model loader checks (every published file has it).
  std::vector<std::vector<const void*>> inputs(n_chunk);  // chunk expert -> its tokens' activations
  for (int i = 0; i < n_chunk; i++) for (int32_t slot : routed[active[i]]) inputs[i].push_back(x_row(slot / K));
  if (gate_m.expert(active[0]).packed && up_m.expert(active[0]).packed) {
    gate_up_packed(gate_m, up_m, n_chunk, active, inputs);
  } else {
  pool_.parallel_for(int64_t(n_chunk) * F, [&](int64_t i0, int64_t i1, int) {
    std::vector<float> gate(kMaxBatch);
    std::vector<const void*> up_inputs;
    std::vector<int32_t> up_slots;
    std::vector<float> up(kMaxBatch);
    for (int64_t i = i0; i < i1; i++) {
      if ((i & 63) == 0 && cancelled()) return;  // the batch is dropped: stop early
      const int ci = int(i / F);
      const int e = active[ci];
      const int64_t r = i % F;
      const WeightMatrix g = gate_m.expert(e), u = up_m.expert(e);
      const std::vector<int32_t>& slots = routed[e];
      ops::dot_row_many(g, r, inputs[ci].data(), int64_t(slots.size()), gate.data());
      // The up row only for the tokens whose relu(gate) is positive.
      up_inputs.clear();
      up_slots.clear();
      for (size_t s = 0; s < slots.size(); s++) {
        b.act[size_t(slots[s]) * F + r] = 0.0f;
        if (gate[s] > 0.0f) { up_inputs.push_back(inputs[ci][s]); up_slots.push_back(int32_t(s)); }
      }
      ops::dot_row_many(u, r, up_inputs.data(), int64_t(up_inputs.size()), up.data());
      for (size_t j = 0; j < up_slots.size(); j++) b.act[size_t(slots[up_slots[j]]) * F + r] = gate[up_slots[j]] * up[j];
    }
  }, 8);
  }
  check_cancel();

  if (lw.ffn_down_rows_are_neurons) {
    // Transposed down: each thread owns a column slice of every token's output.
    pool_.parallel_for(E, [&](int64_t col0, int64_t col1, int) {
      for (int i = 0; i < n_chunk; i++) {
        if (cancelled()) return;
        const WeightMatrix d = down_m.expert(active[i]);
        for (int32_t slot : routed[active[i]]) std::fill(&b.slot_out[size_t(slot) * E + col0], &b.slot_out[size_t(slot) * E + col1], 0.0f);
        for (int64_t r = 0; r < F; r++) {
          for (int32_t slot : routed[active[i]]) {
            const float a = b.act[size_t(slot) * F + r];
            if (a == 0.0f) continue;
            ops::axpy_row(d, r, col0, b.weights[slot] * a, &b.slot_out[size_t(slot) * E + col0], col1 - col0);
          }
        }
      }
    }, 32);
    check_cancel();
    return;
  }
  // Upstream down (E rows of F per expert): dense against each (token, slot) activation, each
  // weighted output kept per slot and summed per token once all chunks are done
  // (moe_ffn_batch), in the token's own expert order.
  // Only this chunk's slots are prepared, each at its own row of the scratch.
  const size_t astride = ops::prepared_row_bytes(F);
  std::vector<std::vector<const void*>> act_inputs(n_chunk);  // chunk expert -> its slots' activations
  for (int i = 0; i < n_chunk; i++) {
    for (int32_t slot : routed[active[i]]) {
      uint8_t* dst = b.prepared.data() + size_t(slot) * astride;
      act_inputs[i].push_back(ops::prepare_rows(down_m.type, &b.act[size_t(slot) * F], 1, F, dst));
    }
  }
  if (down_m.expert(active[0]).packed) {
    // Packed: 16 output rows at a time for up to 8 of an expert's tokens.
    const int64_t R = kernels::kPackRows, A = kernels::kMaxPackedActivations;
    pool_.parallel_for(E / R, [&](int64_t g0, int64_t g1, int) {
      float out[kernels::kMaxPackedActivations * kernels::kPackRows];
      for (int i = 0; i < n_chunk; i++) {
        if (cancelled()) return;
        const WeightMatrix d = down_m.expert(active[i]);
        const std::vector<int32_t>& slots = routed[active[i]];
        for (int64_t g = g0; g < g1; g++) {
          for (size_t t0 = 0; t0 < slots.size(); t0 += A) {
            const int m = int(std::min<size_t>(A, slots.size() - t0));
            ops::dot_group(d, g, act_inputs[i].data() + t0, m, out);
            for (int j = 0; j < m; j++) {
              const int32_t slot = slots[t0 + j];
              float* y = &b.slot_out[size_t(slot) * E + g * R];
              for (int r = 0; r < R; r++) y[r] = b.weights[slot] * out[j * R + r];
            }
          }
        }
      }
    });
    check_cancel();
    return;
  }
  pool_.parallel_for(E, [&](int64_t r0, int64_t r1, int) {
    std::vector<float> out(kMaxBatch);
    for (int i = 0; i < n_chunk; i++) {
      if (cancelled()) return;
      const WeightMatrix d = down_m.expert(active[i]);
      const std::vector<int32_t>& slots = routed[active[i]];
      for (int64_t r = r0; r < r1; r++) {
        ops::dot_row_many(d, r, act_inputs[i].data(), int64_t(slots.size()), out.data());
        for (size_t s = 0; s < slots.size(); s++) b.slot_out[size_t(slots[s]) * E + r] = b.weights[slots[s]] * out[s];
      }
    }
  }, 16);
  check_cancel();
}

// Gate and up with packed weights: a chunk expert's 16-row group against its tokens, up to 8
// at a time. The up rows of a token go 16 at a time when more than a few of the group's
// neurons are active for it, else one by one; both give each row's exact packed value.
void InferenceContext::gate_up_packed(const ExpertMatrices& gate_m, const ExpertMatrices& up_m, int n_chunk, const int32_t* active,
                                      const std::vector<std::vector<const void*>>& inputs) {
  Batch& b = batch_;
  const int F = hp_.n_ff_exp;
  const int64_t R = kernels::kPackRows, A = kernels::kMaxPackedActivations, groups = F / R;
  pool_.parallel_for(int64_t(n_chunk) * groups, [&](int64_t i0, int64_t i1, int) {
    std::vector<float> gate(size_t(kMaxBatch) * R), up(size_t(kMaxBatch) * R), out(size_t(A) * R);
    std::vector<const void*> dense_inputs;
    std::vector<int32_t> dense;
    for (int64_t i = i0; i < i1; i++) {
      if ((i & 7) == 0 && cancelled()) return;  // the batch is dropped: stop early
      const int ci = int(i / groups);
      const int64_t g = i % groups;
      const int e = active[ci];
      const WeightMatrix gm = gate_m.expert(e), um = up_m.expert(e);
      const std::vector<int32_t>& slots = b.routed[e];
      const std::vector<const void*>& xs = inputs[ci];
      const size_t ns = slots.size();
      for (size_t t0 = 0; t0 < ns; t0 += A) ops::dot_group(gm, g, xs.data() + t0, int(std::min<size_t>(A, ns - t0)), &gate[t0 * R]);
      dense.clear();
      dense_inputs.clear();
      for (size_t s = 0; s < ns; s++) {
        const float* gs = &gate[s * R];
        if (!ops::packed_up_rows_one_by_one(gs)) {
          dense.push_back(int32_t(s));
          dense_inputs.push_back(xs[s]);
          continue;
        }
        for (int r = 0; r < R; r++) up[s * R + r] = gs[r] > 0.0f ? ops::dot_packed_row(um, g * R + r, xs[s]) : 0.0f;
      }
      for (size_t t0 = 0; t0 < dense.size(); t0 += A) {
        const int m = int(std::min<size_t>(A, dense.size() - t0));
        ops::dot_group(um, g, dense_inputs.data() + t0, m, out.data());
        for (int j = 0; j < m; j++) std::copy(&out[j * R], &out[(j + 1) * R], &up[dense[t0 + j] * R]);
      }
      for (size_t s = 0; s < ns; s++) {
        float* a = &b.act[size_t(slots[s]) * F + g * R];
        for (int r = 0; r < R; r++) a[r] = gate[s * R + r] > 0.0f ? gate[s * R + r] * up[s * R + r] : 0.0f;
      }
    }
  });
}

}  // namespace st
