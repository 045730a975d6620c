#include "kv_cache.h"

#include <algorithm>

namespace st {

static int32_t layer_capacity(const SmallThinkerHParams& hp, int layer, int32_t n_ctx) {
  return hp.layer_is_swa(layer) ? std::min(n_ctx, hp.sliding_window) : n_ctx;
}

static size_t element_bytes(KvType t) { return t == KvType::F32 ? 4 : 2; }

size_t KvCache::bytes_for(const SmallThinkerHParams& hp, int32_t n_ctx, KvType type) {
  size_t total = 0;
  const size_t row = static_cast<size_t>(hp.n_head_kv) * hp.head_dim * element_bytes(type);
  for (int l = 0; l < hp.n_layer; l++) total += 2 * row * layer_capacity(hp, l, n_ctx);
  return total;
}

KvCache::KvCache(const SmallThinkerHParams& hp, int32_t n_ctx, KvType type)
    : n_ctx_(n_ctx), type_(type), row_bytes_(static_cast<size_t>(hp.n_head_kv) * hp.head_dim * element_bytes(type)) {
  for (int l = 0; l < hp.n_layer; l++) {
    const int32_t cap = layer_capacity(hp, l, n_ctx);
    window_.push_back(hp.layer_is_swa(l) ? hp.sliding_window : 0);
    capacity_.push_back(cap);
    k_.emplace_back(static_cast<size_t>(cap) * row_bytes_);
    v_.emplace_back(static_cast<size_t>(cap) * row_bytes_);
    bytes_ += 2 * static_cast<size_t>(cap) * row_bytes_;
  }
}

}  // namespace st
