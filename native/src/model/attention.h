// Attention for the query heads that share one KV head (GQA), shared by the token-by-token and
// the batched forward pass so both compute every output the same way.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#if defined(__SSE2__) || defined(_M_X64)
#include <emmintrin.h>
#endif

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

// Scores are kept position-major: one row of score_lanes(m) floats per position, the m query
// heads side by side and zeros after them. Every softmax step then runs across the heads in
// vector lanes (lane j does exactly head j's operations, in position order), and the key dots
// land in place and the value weights are read in place, with no transposing copies (the
// scalar loops that gathered them per head took as long as the value sums at 2,000 positions).
constexpr int score_lanes(int m) { return (m + 7) / 8 * 8; }

// Lanes j of the rows x + t·stride, t < n: x ← x·scale, and max[j] = the largest (std::max in
// row order: a NaN never becomes the maximum). MAXPS(x, max) is exactly x > max ? x : max;
// the compiler leaves that loop scalar.
inline void scale_and_max8(float* x, int stride, int32_t n, float scale, float* max) {
#if defined(__SSE2__) || defined(_M_X64)
  const __m128 s = _mm_set1_ps(scale);
  __m128 m0 = _mm_set1_ps(-INFINITY), m1 = m0;
  for (int32_t t = 0; t < n; t++, x += stride) {
    const __m128 x0 = _mm_mul_ps(_mm_loadu_ps(x), s), x1 = _mm_mul_ps(_mm_loadu_ps(x + 4), s);
    _mm_storeu_ps(x, x0);
    _mm_storeu_ps(x + 4, x1);
    m0 = _mm_max_ps(x0, m0);
    m1 = _mm_max_ps(x1, m1);
  }
  _mm_storeu_ps(max, m0);
  _mm_storeu_ps(max + 4, m1);
#else
  float mx[8];
  std::fill(mx, mx + 8, -INFINITY);
  for (int32_t t = 0; t < n; t++, x += stride) {
    for (int j = 0; j < 8; j++) {
      x[j] *= scale;
      mx[j] = std::max(mx[j], x[j]);
    }
  }
  std::copy(mx, mx + 8, max);
#endif
}

// The steps of attention below, each over a range of positions (or of a head's dimensions), so
// that one query's attention can also be spread over several threads (attend_group does them
// all in order on one). Scores are rows t = 0 .. n−1 for positions first + t.

// Key dots of rows [t0, t1) a few positions at a time (each exactly what one position alone
// gives), written straight into the positions' score rows.
template <typename KeyHead>
void key_dots(const KvRowFormat& kv, const void* const* qs, int m, int32_t first, int32_t t0, int32_t t1, KeyHead key, float* scores) {
  const int S = score_lanes(m);
  const size_t head_bytes = kv.head_bytes();
  constexpr int D = kernels::kMaxDotRows;
  float* dot_rows[D];
  const uint8_t* key_heads[D];
  for (int32_t t = t0; t < t1; t += D) {
    const int rows = static_cast<int>(std::min<int32_t>(D, t1 - t));
    for (int r = 0; r < rows; r++) {
      if (t + r + kPrefetchAhead < t1) prefetch_head(key(first + t + r + kPrefetchAhead), head_bytes);
      key_heads[r] = key(first + t + r);
      dot_rows[r] = scores + size_t(t + r) * S;
      std::fill(dot_rows[r] + m, dot_rows[r] + S, 0.0f);  // the padding lanes: finite, ignored
    }
    kv.dot_rows_heads(key_heads, rows, qs, m, dot_rows);
  }
}

// Rows [t0, t1) scaled; max_s[0..S) receives each lane's largest (scale_and_max8).
inline void scale_and_max(float* scores, int S, int32_t t0, int32_t t1, float scale, float* max_s) {
  for (int j0 = 0; j0 < S; j0 += 8) scale_and_max8(scores + size_t(t0) * S + j0, S, t1 - t0, scale, max_s + j0);
}

// max ← what scale_and_max8 would have ended with had the rows whose largest are `later` come
// after those of `max`: MAXPS keeps the first of equal values (+0 and −0) and never takes a
// NaN, so the first part's maximum stays unless the later one is strictly larger.
inline void fold_max(float* max, const float* later, int S) {
  for (int j = 0; j < S; j++) max[j] = later[j] > max[j] ? later[j] : max[j];
}

// Rows [t0, t1) ← exp(score − max of the lane).
inline void exponentials(float* scores, int S, int32_t t0, int32_t t1, const float* max_s) {
  kernels::active().exp_shifted(scores + size_t(t0) * S, max_s, S, int64_t(t1 - t0) * S);
}

// inv[j] = 1 / Σ of lane j over rows [0, n), each lane's sum an F32 sum in position order (the
// lanes side by side).
inline void inverse_sums(const float* scores, int S, int32_t n, float* inv) {
  for (int j0 = 0; j0 < S; j0 += 8) {
    float sums[8] = {};
    for (int32_t t = 0; t < n; t++) {
      const float* row = scores + size_t(t) * S + j0;
      for (int j = 0; j < 8; j++) sums[j] += row[j];
    }
    for (int j = 0; j < 8; j++) inv[j0 + j] = 1.0f / sums[j];
  }
}

// The dimensions [d0, d1) of each output: outs[j][d] = Σ over rows t in position order of
// (e[t][j]·inv[j])·value(first + t)[d]. d0 and d1 are multiples of kv.part_step() (a
// whole head is always allowed); the weights e·inv are made in a local block, so threads that
// share the score rows (one slice of the dimensions each) only read them.
template <typename ValueHead>
void value_sums(const KvRowFormat& kv, int m, int32_t first, int32_t n, ValueHead value, const float* scores, const float* inv, int d0,
                int d1, float* const* outs) {
  const int S = score_lanes(m);
  const size_t skip = kv.offset_bytes(d0), part_bytes = kv.offset_bytes(d1) - skip;
  const KvRowFormat part{kv.type, kv.n_heads, d1 - d0};
  float* part_outs[kMaxQueryGroup];
  for (int j = 0; j < m; j++) {
    part_outs[j] = outs[j] + d0;
    std::fill(part_outs[j], part_outs[j] + (d1 - d0), 0.0f);
  }
  // Σ p·v a few positions at a time (the same additions in the same order as one by one).
  constexpr int R = kernels::kMaxAxpyRows;
  alignas(64) float weights[R][kMaxQueryGroup];
  const float* ws[R];
  const uint8_t* heads[R];
  for (int32_t t = 0; t < n; t += R) {
    const int rows = static_cast<int>(std::min<int32_t>(R, n - t));
    for (int r = 0; r < rows; r++) {
      if (t + r + kPrefetchAhead < n) prefetch_head(value(first + t + r + kPrefetchAhead) + skip, part_bytes);
      const float* row = scores + size_t(t + r) * S;
      for (int j = 0; j < m; j++) weights[r][j] = row[j] * inv[j];
      ws[r] = weights[r];
      heads[r] = value(first + t + r) + skip;
    }
    part.add_rows_heads(heads, rows, ws, part_outs, m);
  }
}

// The m query heads qs[0..m) (prepared by kv.prepare_query) attend to positions first ..
// first+n−1, whose cached heads key(p) and value(p) give. scores holds n · score_lanes(m)
// floats of scratch; outs[j] receives head j's output (head_dim floats). Each key and value
// head is read once for all m query heads; per head the operations and their order are those
// of one head alone: score = (k·q)·scale, softmax with an F32 sum in position order, then
// Σ p·v in position order.
template <typename KeyHead, typename ValueHead>
void attend_group(const KvRowFormat& kv, const void* const* qs, int m, int32_t first, int32_t n, float scale, KeyHead key,
                  ValueHead value, float* scores, float* const* outs) {
  if (m > kMaxQueryGroup) throw std::logic_error("too many query heads per KV head");
  const int S = score_lanes(m);
  key_dots(kv, qs, m, first, 0, n, key, scores);
  // In fixed-size local arrays the compiler keeps in vector registers.
  alignas(64) float max_s[kMaxQueryGroup], inv[kMaxQueryGroup];
  scale_and_max(scores, S, 0, n, scale, max_s);
  exponentials(scores, S, 0, n, max_s);
  inverse_sums(scores, S, n, inv);
  value_sums(kv, m, first, n, value, scores, inv, 0, kv.head_dim, outs);
}

}  // namespace st
