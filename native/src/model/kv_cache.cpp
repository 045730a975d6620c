#include "kv_cache.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "kernels/fp16.h"
#include "kernels/kernels.h"
#include "platform/platform.h"

namespace st {

static int32_t layer_capacity(const SmallThinkerHParams& hp, int layer, int32_t n_ctx, int32_t slack) {
  return hp.layer_is_swa(layer) ? std::min(n_ctx, hp.sliding_window + slack) : n_ctx;
}

size_t KvRowFormat::head_bytes() const {
  switch (type) {
    case KvType::F32: return static_cast<size_t>(head_dim) * 4;
    case KvType::F16: return static_cast<size_t>(head_dim) * 2;
    case KvType::Q8_0: return static_cast<size_t>(head_dim / kQK8_0) * sizeof(BlockQ8_0);
  }
  return 0;
}

size_t KvRowFormat::offset_bytes(int d) const {
  switch (type) {
    case KvType::F32: return static_cast<size_t>(d) * 4;
    case KvType::F16: return static_cast<size_t>(d) * 2;
    case KvType::Q8_0: return static_cast<size_t>(d / kQK8_0) * sizeof(BlockQ8_0);
  }
  return 0;
}

void KvRowFormat::encode(const float* x, uint8_t* row) const {
  const int64_t n = static_cast<int64_t>(n_heads) * head_dim;
  switch (type) {
    case KvType::F32: std::memcpy(row, x, n * sizeof(float)); return;
    case KvType::F16: {
      kernels::active().to_f16(x, reinterpret_cast<uint16_t*>(row), n);
      return;
    }
    case KvType::Q8_0: kernels::active().quantize_row_q8_0(x, reinterpret_cast<BlockQ8_0*>(row), n); return;
  }
}

const void* KvRowFormat::prepare_query(const float* q, uint8_t* scratch) const {
  if (type != KvType::Q8_0) return q;
  kernels::active().quantize_row_q8_0(q, reinterpret_cast<BlockQ8_0*>(scratch), head_dim);
  return scratch;
}

float KvRowFormat::dot(const uint8_t* head, const void* q) const {
  const kernels::KernelTable& k = kernels::active();
  switch (type) {
    case KvType::F32: return k.dot_f32_f32(reinterpret_cast<const float*>(head), static_cast<const float*>(q), head_dim);
    case KvType::F16: return k.dot_f16_f32(reinterpret_cast<const uint16_t*>(head), static_cast<const float*>(q), head_dim);
    case KvType::Q8_0: return k.dot_q8_0_q8_0(reinterpret_cast<const BlockQ8_0*>(head), static_cast<const BlockQ8_0*>(q), head_dim);
  }
  return 0;
}

void KvRowFormat::dot_heads(const uint8_t* head, const void* const* qs, int m, float* out) const {
  const kernels::KernelTable& k = kernels::active();
  if (type == KvType::F16 && k.dot_f16_f32_heads) {
    k.dot_f16_f32_heads(reinterpret_cast<const uint16_t*>(head), reinterpret_cast<const float* const*>(qs), m, head_dim, out);
    return;
  }
  for (int j = 0; j < m; j++) out[j] = dot(head, qs[j]);
}

void KvRowFormat::dot_rows_heads(const uint8_t* const* heads, int n_rows, const void* const* qs, int m, float* const* outs) const {
  const kernels::KernelTable& k = kernels::active();
  if (type == KvType::F16 && k.dot_f16_f32_rows_heads) {
    k.dot_f16_f32_rows_heads(reinterpret_cast<const uint16_t* const*>(heads), n_rows, reinterpret_cast<const float* const*>(qs), m,
                             head_dim, outs);
    return;
  }
  for (int r = 0; r < n_rows; r++) dot_heads(heads[r], qs, m, outs[r]);
}

void KvRowFormat::add_heads(const uint8_t* head, const float* s, float* const* outs, int m) const {
  const kernels::KernelTable& k = kernels::active();
  if (type == KvType::F16 && k.axpy_f16_heads) {
    k.axpy_f16_heads(reinterpret_cast<const uint16_t*>(head), s, outs, m, head_dim);
    return;
  }
  for (int j = 0; j < m; j++) add(head, s[j], outs[j]);
}

void KvRowFormat::add_rows_heads(const uint8_t* const* heads, int n_rows, const float* const* s, float* const* outs, int m) const {
  const kernels::KernelTable& k = kernels::active();
  if (type == KvType::F16 && k.axpy_f16_rows_heads) {
    k.axpy_f16_rows_heads(reinterpret_cast<const uint16_t* const*>(heads), n_rows, s, outs, m, head_dim);
    return;
  }
  for (int r = 0; r < n_rows; r++) add_heads(heads[r], s[r], outs, m);
}

void KvRowFormat::add(const uint8_t* head, float s, float* out) const {
  const kernels::KernelTable& k = kernels::active();
  switch (type) {
    case KvType::F32: k.axpy_f32(reinterpret_cast<const float*>(head), s, out, head_dim); return;
    case KvType::F16: k.axpy_f16(reinterpret_cast<const uint16_t*>(head), s, out, head_dim); return;
    case KvType::Q8_0: k.axpy_q8_0(reinterpret_cast<const BlockQ8_0*>(head), s, out, head_dim); return;
  }
}

size_t KvCache::bytes_for(const SmallThinkerHParams& hp, int32_t n_ctx, KvType type, int32_t rewind_slack) {
  size_t total = 0;
  const size_t row = KvRowFormat{type, hp.n_head_kv, hp.head_dim}.row_bytes();
  for (int l = 0; l < hp.n_layer; l++) total += 2 * row * layer_capacity(hp, l, n_ctx, rewind_slack);
  return total;
}

KvCache::KvCache(const SmallThinkerHParams& hp, int32_t n_ctx, KvType type, int32_t rewind_slack)
    : n_ctx_(n_ctx), format_{type, hp.n_head_kv, hp.head_dim}, row_bytes_(format_.row_bytes()), head_bytes_(format_.head_bytes()) {
  if (type == KvType::Q8_0 && hp.head_dim % kQK8_0 != 0) {
    throw std::invalid_argument("a Q8_0 KV cache needs a head dimension that is a multiple of 32");
  }
  for (int l = 0; l < hp.n_layer; l++) {
    const int32_t cap = layer_capacity(hp, l, n_ctx, rewind_slack);
    window_.push_back(hp.layer_is_swa(l) ? hp.sliding_window : 0);
    capacity_.push_back(cap);
    bytes_ += 2 * static_cast<size_t>(cap) * row_bytes_;
  }
  store_ = AlignedBuffer(bytes_);
  // Small pages, also where the system makes huge pages by default: a layer keeps each KV
  // head's positions together, so a slot's first token touches every (layer, head) region, and
  // on huge pages each touch committed and zeroed 2 MiB, the whole cache at the first token (a
  // new chat slot's first 9 tokens took 690 ms instead of 84, a new completion slot's 375
  // instead of 46). Decode after 2,048 positions was 0-5 % faster on huge pages, within the
  // noise of three alternating runs (docs/benchmarks.md).
  platform::advise_small_pages(store_.data(), store_.size());
  size_t used = 0;
  for (int l = 0; l < hp.n_layer; l++) {
    const size_t layer_bytes = static_cast<size_t>(capacity_[l]) * row_bytes_;
    k_.push_back(store_.data() + used);
    populated_.push_back(0);
    v_.push_back(store_.data() + used + layer_bytes);
    used += 2 * layer_bytes;
  }
}

void KvCache::populate(int layer, int32_t slot) {
  const int32_t from = populated_[layer], to = std::min(capacity_[layer], slot + kPopulateAhead);
  const size_t offset = static_cast<size_t>(from) * head_bytes_, bytes = static_cast<size_t>(to - from) * head_bytes_;
  for (int h = 0; h < format_.n_heads; h++) {
    // The rows are the cache's own (store_), as in store().
    platform::populate_for_writing(const_cast<uint8_t*>(key_rows(layer, h).base) + offset, bytes);
    platform::populate_for_writing(const_cast<uint8_t*>(value_rows(layer, h).base) + offset, bytes);
  }
  populated_[layer] = to;
}

void KvCache::store(int layer, int32_t pos, const uint8_t* key_row, const uint8_t* value_row) {
  const int32_t slot = key_rows(layer, 0).slot(pos);
  if (slot >= populated_[layer]) populate(layer, slot);
  // The rows are the cache's own (store_): the addresses readers get, written here.
  for (int h = 0; h < format_.n_heads; h++) {
    std::memcpy(const_cast<uint8_t*>(key(layer, pos, h)), key_row + h * head_bytes_, head_bytes_);
    std::memcpy(const_cast<uint8_t*>(value(layer, pos, h)), value_row + h * head_bytes_, head_bytes_);
  }
}

bool KvCache::can_rewind(int32_t written_end, int32_t p) const {
  if (p < 0) return false;
  for (size_t l = 0; l < capacity_.size(); l++) {
    const int32_t oldest_kept = std::max(0, written_end - capacity_[l]);
    if (first_visible(static_cast<int>(l), p) < oldest_kept) return false;
  }
  return true;
}

}  // namespace st
