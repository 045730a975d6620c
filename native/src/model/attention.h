// Attention for the query heads that share one KV head (GQA), shared by the token-by-token and
// the batched forward pass so both compute every output the same way.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>

#include "kv_cache.h"

namespace st {

// Query heads per KV head the attention handles (forward.cpp checks the model at load).
constexpr int kMaxQueryGroup = 64;

// The m query heads qs[0..m) (prepared by kv.prepare_query) attend to positions first ..
// first+n−1, whose cached heads key(p) and value(p) give. scores[j] holds n floats of scratch;
// outs[j] receives head j's output (head_dim floats). Each key and value head is read once for
// all m query heads; per head the operations and their order are those of one head alone:
// score = (k·q)·scale, softmax with an F32 sum in position order, then Σ p·v in position order.
template <typename KeyHead, typename ValueHead>
void attend_group(const KvRowFormat& kv, const void* const* qs, int m, int32_t first, int32_t n, float scale, KeyHead key,
                  ValueHead value, float* const* scores, float* const* outs) {
  if (m > kMaxQueryGroup) throw std::logic_error("too many query heads per KV head");
  float max_s[kMaxQueryGroup], dots[kMaxQueryGroup], inv[kMaxQueryGroup], weights[kMaxQueryGroup];
  std::fill(max_s, max_s + m, -INFINITY);
  for (int32_t t = 0; t < n; t++) {
    kv.dot_heads(key(first + t), qs, m, dots);
    for (int j = 0; j < m; j++) {
      scores[j][t] = dots[j] * scale;
      max_s[j] = std::max(max_s[j], scores[j][t]);
    }
  }
  for (int j = 0; j < m; j++) {
    float sum = 0;
    for (int32_t t = 0; t < n; t++) sum += scores[j][t] = std::exp(scores[j][t] - max_s[j]);
    inv[j] = 1.0f / sum;
    std::fill(outs[j], outs[j] + kv.head_dim, 0.0f);
  }
  for (int32_t t = 0; t < n; t++) {
    for (int j = 0; j < m; j++) weights[j] = scores[j][t] * inv[j];
    kv.add_heads(value(first + t), weights, outs, m);
  }
}

}  // namespace st
