// The softmax and the weighted sum of values of one query head, shared by the token-by-token
// and the batched attention so both compute every output the same way.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kv_cache.h"

namespace st {

// scores[0..n) are the scaled scores of positions first..first+n−1 (overwritten with their
// exponentials). Writes out[0..head_dim) = Σ softmax(scores)_t · value(first + t), summed in
// F32 in position order.
template <typename ValueHead>
void softmax_values(const KvRowFormat& kv, float* scores, int32_t first, int32_t n, float max_score, ValueHead value,
                    float* out) {
  float sum = 0;
  for (int32_t t = 0; t < n; t++) sum += scores[t] = std::exp(scores[t] - max_score);
  const float inv = 1.0f / sum;
  std::fill(out, out + kv.head_dim, 0.0f);
  for (int32_t t = 0; t < n; t++) kv.add(value(first + t), scores[t] * inv, out);
}

}  // namespace st
