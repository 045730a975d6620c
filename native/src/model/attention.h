// Attention for the query heads that share one KV head (GQA), shared by the token-by-token and
// the batched forward pass so both compute every output the same way.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>

#include "kernels/kernels.h"
#include "kv_cache.h"

namespace st {

// Query heads per KV head the attention handles (forward.cpp checks the model at load).
constexpr int kMaxQueryGroup = 64;

// Cached heads are read a few positions ahead of their use: one token's attention walks tens of
// megabytes of cache, head by head and layer by layer, and the CPU's own prefetchers left
// decode at 2,000 positions waiting on those reads (about 40 % of its time in the two kernels).
constexpr int32_t kPrefetchAhead = 8;
inline void prefetch_head(const uint8_t* head, size_t bytes) {
  for (size_t b = 0; b < bytes; b += 64) __builtin_prefetch(head + b);
}

// The m query heads qs[0..m) (prepared by kv.prepare_query) attend to positions first ..
// first+n−1, whose cached heads key(p) and value(p) give. scores[j] holds n floats of scratch;
// outs[j] receives head j's output (head_dim floats). Each key and value head is read once for
// all m query heads; per head the operations and their order are those of one head alone:
// score = (k·q)·scale, softmax with an F32 sum in position order, then Σ p·v in position order.
template <typename KeyHead, typename ValueHead>
void attend_group(const KvRowFormat& kv, const void* const* qs, int m, int32_t first, int32_t n, float scale, KeyHead key,
                  ValueHead value, float* const* scores, float* const* outs) {
  if (m > kMaxQueryGroup) throw std::logic_error("too many query heads per KV head");
  constexpr int D = kernels::kMaxDotRows;
  float max_s[kMaxQueryGroup], dots[D][kMaxQueryGroup], inv[kMaxQueryGroup];
  std::fill(max_s, max_s + m, -INFINITY);
  const size_t head_bytes = kv.head_bytes();
  float* dot_rows[D];
  for (int r = 0; r < D; r++) dot_rows[r] = dots[r];
  const uint8_t* key_heads[D];
  // Key dots a few positions at a time (each exactly what one position alone gives).
  for (int32_t t = 0; t < n; t += D) {
    const int rows = static_cast<int>(std::min<int32_t>(D, n - t));
    for (int r = 0; r < rows; r++) {
      if (t + r + kPrefetchAhead < n) prefetch_head(key(first + t + r + kPrefetchAhead), head_bytes);
      key_heads[r] = key(first + t + r);
    }
    kv.dot_rows_heads(key_heads, rows, qs, m, dot_rows);
    for (int r = 0; r < rows; r++) {
      for (int j = 0; j < m; j++) {
        scores[j][t + r] = dots[r][j] * scale;
        max_s[j] = std::max(max_s[j], scores[j][t + r]);
      }
    }
  }
  const kernels::KernelTable& k = kernels::active();
  for (int j = 0; j < m; j++) k.exp_shifted(scores[j], max_s[j], n);
  // Each head's sum in position order; the heads side by side, so that one addition's latency
  // is not paid per position.
  float sums[kMaxQueryGroup];
  std::fill(sums, sums + m, 0.0f);
  for (int32_t t = 0; t < n; t++) {
    for (int j = 0; j < m; j++) sums[j] += scores[j][t];
  }
  for (int j = 0; j < m; j++) {
    inv[j] = 1.0f / sums[j];
    std::fill(outs[j], outs[j] + kv.head_dim, 0.0f);
  }
  // Σ p·v a few positions at a time (the same additions in the same order as one by one).
  constexpr int R = kernels::kMaxAxpyRows;
  float block_weights[R][kMaxQueryGroup];
  const float* ws[R];
  const uint8_t* heads[R];
  for (int32_t t = 0; t < n; t += R) {
    const int rows = static_cast<int>(std::min<int32_t>(R, n - t));
    for (int r = 0; r < rows; r++) {
      if (t + r + kPrefetchAhead < n) prefetch_head(value(first + t + r + kPrefetchAhead), head_bytes);
      for (int j = 0; j < m; j++) block_weights[r][j] = scores[j][t + r] * inv[j];
      ws[r] = block_weights[r];
      heads[r] = value(first + t + r);
    }
    kv.add_rows_heads(heads, rows, ws, outs, m);
  }
}

}  // namespace st
