// The attention KV cache, bounded by construction: global layers hold up to n_ctx positions,
// sliding-window layers a ring of at most `window` positions (SPEC §2: 4096). Stored as F16.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "smallthinker_file.h"

namespace st {

class KvCache {
 public:
  KvCache(const SmallThinkerHParams& hp, int32_t n_ctx);

  // Rows of n_head_kv·head_dim halves for the key / value of `pos` in `layer`.
  uint16_t* key(int layer, int32_t pos) { return slot(k_[layer], layer, pos); }
  uint16_t* value(int layer, int32_t pos) { return slot(v_[layer], layer, pos); }
  const uint16_t* key(int layer, int32_t pos) const { return const_cast<KvCache*>(this)->key(layer, pos); }
  const uint16_t* value(int layer, int32_t pos) const { return const_cast<KvCache*>(this)->value(layer, pos); }

  // Oldest position a query at `pos` may attend to in `layer`.
  int32_t first_visible(int layer, int32_t pos) const {
    const int32_t w = window_[layer];
    return w > 0 && pos >= w ? pos - w + 1 : 0;
  }

  int32_t n_ctx() const { return n_ctx_; }
  size_t bytes() const { return bytes_; }
  // The size a cache for these parameters would take, without allocating it.
  static size_t bytes_for(const SmallThinkerHParams& hp, int32_t n_ctx);

 private:
  uint16_t* slot(std::vector<uint16_t>& store, int layer, int32_t pos) {
    const int32_t cap = capacity_[layer];
    return store.data() + static_cast<size_t>(pos % cap) * row_elems_;
  }

  int32_t n_ctx_;
  size_t row_elems_;
  size_t bytes_ = 0;
  std::vector<int32_t> window_;    // 0 for global layers
  std::vector<int32_t> capacity_;  // positions held per layer
  std::vector<std::vector<uint16_t>> k_, v_;
};

}  // namespace st
