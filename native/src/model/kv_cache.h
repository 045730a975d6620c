// The attention KV cache, bounded by construction: global layers hold up to n_ctx positions,
// sliding-window layers a ring of `window` (docs/model.md: 4096) positions plus an optional slack.
// The slack is what lets a slot rewind to a shorter common prefix (prompt reuse) and drop an
// evaluation cancelled mid-batch while every query still finds its whole window. Stored as F16
// by default; Q8_0 to halve it again; F32 for exactness checks against the float64 reference.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "file_reader.h"
#include "smallthinker_file.h"

namespace st {

enum class KvType { F16, F32, Q8_0 };

// How one cached row (n_heads heads of head_dim values) is stored and read: the single place
// that knows the element type, used for cache rows and for the staged rows of a prefill batch.
struct KvRowFormat {
  KvType type = KvType::F16;
  int n_heads = 0;
  int head_dim = 0;

  size_t head_bytes() const;
  size_t row_bytes() const { return head_bytes() * static_cast<size_t>(n_heads); }
  // Where dimension d of a head starts, in bytes, for d a multiple of part_step(): a head's
  // dimensions [d0, d1) at that offset are a head of d1 − d0 dimensions to the methods below
  // (one thread may then add one part of the dimensions, another the next). Steps of 16 keep
  // the kernels' 8- and 16-value steps where they fall in a whole head, so every value gets the
  // same operations either way.
  size_t offset_bytes(int d) const;
  int part_step() const { return type == KvType::Q8_0 ? 32 : 16; }
  // Stores n_heads·head_dim floats in this format.
  void encode(const float* x, uint8_t* row) const;
  // The query head in the form dot() takes (Q8_0 blocks for a Q8_0 cache, as llama.cpp);
  // `scratch` holds head_dim floats.
  const void* prepare_query(const float* q, uint8_t* scratch) const;
  float dot(const uint8_t* head, const void* prepared_query) const;
  // The same for m prepared query heads that share this cached head (GQA): out[j] is exactly
  // dot(head, qs[j]); an F16 head is read and converted once for all of them.
  void dot_heads(const uint8_t* head, const void* const* qs, int m, float* out) const;
  // The same for the key heads of n_rows (≤ kernels::kMaxDotRows) positions: outs[r][j] is
  // exactly dot(heads[r], qs[j]).
  void dot_rows_heads(const uint8_t* const* heads, int n_rows, const void* const* qs, int m, float* const* outs) const;
  void add(const uint8_t* head, float s, float* out) const;  // out += s·value head
  // outs[j] += s[j]·value head for m outputs, each exactly as add().
  void add_heads(const uint8_t* head, const float* s, float* const* outs, int m) const;
  // The same for the value heads of n_rows (≤ kernels::kMaxAxpyRows) consecutive positions,
  // in order: outs[j] += s[r][j]·heads[r], each exactly as add_heads() row after row.
  void add_rows_heads(const uint8_t* const* heads, int n_rows, const float* const* s, float* const* outs, int m) const;
};

class KvCache {
 public:
  KvCache(const SmallThinkerHParams& hp, int32_t n_ctx, KvType type, int32_t rewind_slack = 0);

  // KV head `head` (head_dim elements of type()) of the key / value of `pos` in `layer`.
  // A layer keeps each KV head's positions contiguous ([head][position]), not a position's
  // heads together: the threads of one token's attention take a KV head each, and with the
  // heads interleaved the sequential prefetchers fetched the other thread's heads too
  // (one token's attention over 2,353 positions took about 1.4× as long in a microbenchmark).
  const uint8_t* key(int layer, int32_t pos, int head) const { return key_rows(layer, head)(pos); }
  const uint8_t* value(int layer, int32_t pos, int head) const { return value_rows(layer, head)(pos); }
  // One layer's KV head as a function of the position: what key() and value() give, with the
  // layer's fields read once, for loops over every cached position (attention called key()
  // and value() per position, and reloaded the layer's fields after each kernel call).
  struct HeadRows {
    const uint8_t* base;  // position 0
    int32_t capacity;     // positions the layer holds; only sliding-window layers wrap
    size_t head_bytes;
    // The row that holds `pos`: no division unless the layer wraps.
    int32_t slot(int32_t pos) const { return pos < capacity ? pos : pos % capacity; }
    const uint8_t* operator()(int32_t pos) const { return base + static_cast<size_t>(slot(pos)) * head_bytes; }
  };
  HeadRows key_rows(int layer, int head) const { return head_rows(k_[layer], layer, head); }
  HeadRows value_rows(int layer, int head) const { return head_rows(v_[layer], layer, head); }
  // Stores a key and a value row (n_head_kv heads, as KvRowFormat::encode writes them) at `pos`.
  void store(int layer, int32_t pos, const uint8_t* key_row, const uint8_t* value_row);
  KvType type() const { return format_.type; }
  const KvRowFormat& format() const { return format_; }

  // Oldest position a query at `pos` may attend to in `layer`.
  int32_t first_visible(int layer, int32_t pos) const {
    const int32_t w = window_[layer];
    return w > 0 && pos >= w ? pos - w + 1 : 0;
  }

  // Whether, with positions up to written_end - 1 ever written, position p can be the next
  // one written with every key it may attend to still in the cache (rings overwrite their
  // oldest rows).
  bool can_rewind(int32_t written_end, int32_t p) const;

  int32_t n_ctx() const { return n_ctx_; }
  size_t bytes() const { return bytes_; }
  // The size a cache for these parameters would take, without allocating it.
  static size_t bytes_for(const SmallThinkerHParams& hp, int32_t n_ctx, KvType type, int32_t rewind_slack = 0);

 private:
  // Commits the pages of slots [populated_[layer], slot + kPopulateAhead) of every head.
  void populate(int layer, int32_t slot);

  HeadRows head_rows(const uint8_t* rows, int layer, int head) const {
    const int32_t cap = capacity_[layer];
    return {rows + static_cast<size_t>(head) * static_cast<size_t>(cap) * head_bytes_, cap, head_bytes_};
  }

  int32_t n_ctx_;
  KvRowFormat format_;
  size_t row_bytes_;
  size_t head_bytes_;
  size_t bytes_ = 0;
  std::vector<int32_t> window_;    // 0 for global layers
  std::vector<int32_t> capacity_;  // positions held per layer
  // Every layer's keys and values in one anonymous mapping on small pages (kv_cache.cpp says
  // why). Pages are zero and only become resident when written.
  AlignedBuffer store_;
  std::vector<uint8_t*> k_, v_;  // each layer's rows in store_
  // Slots below this are committed, per layer. Written rows would otherwise come into memory
  // a page fault at a time, every 16th position of each (layer, KV head, key or value) region
  // at F16: on a guest whose faults cost 11 µs (Firecracker, 2026-12-05) that was 6.4 µs of
  // every layer of a decode step; committing 64 slots ahead in one call each costs ~0.7 µs a
  // page. Bounded: at most 64 positions past the last one written.
  static constexpr int32_t kPopulateAhead = 64;
  std::vector<int32_t> populated_;
};

}  // namespace st
