// Views of the model's weights (in the memory-mapped file, or in memory read from it): what each layer's tensors are,
// with their type and shape in the engine's terms (rows of `cols` contiguous elements).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "ggml_types.h"

namespace st {

// `rows` rows of `cols` elements; y = W·x means y[r] = dot(row r, x). A ggml tensor with
// ne = [cols, rows] is exactly this.
struct WeightMatrix {
  GgmlType type = GgmlType::F32;
  const uint8_t* data = nullptr;  // the rows as in the file (nullptr when only `packed` is kept)
  int64_t rows = 0;
  int64_t cols = 0;
  size_t row_bytes = 0;
  // Q4_0 rows packed 16 at a time (kernels::pack_q4_0x16) when the CPU's kernels take them:
  // group g (rows 16g..16g+15) starts at packed + g·16·row_bytes.
  const uint8_t* packed = nullptr;

  const uint8_t* row(int64_t r) const { return data + static_cast<size_t>(r) * row_bytes; }
  size_t bytes() const { return static_cast<size_t>(rows) * row_bytes; }
};

// The n_expert matrices of one expert tensor (ne = [cols, rows, n_expert]), back to back.
struct ExpertMatrices {
  GgmlType type = GgmlType::F32;
  const uint8_t* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t n_expert = 0;
  size_t row_bytes = 0;
  // The same, packed (see WeightMatrix::packed), or nullptr.
  const uint8_t* packed = nullptr;
  // With an expert cache the experts are not back to back: base[e] is expert e's first byte
  // (filled for the experts a layer uses; see forward.cpp), packed when `base_is_packed`.
  const uint8_t* const* base = nullptr;
  bool base_is_packed = false;

  size_t expert_bytes() const { return static_cast<size_t>(rows) * row_bytes; }
  WeightMatrix expert(int64_t e) const {
    const size_t offset = static_cast<size_t>(e) * expert_bytes();
    if (base) return {type, base_is_packed ? nullptr : base[e], rows, cols, row_bytes, base_is_packed ? base[e] : nullptr};
    return {type, data ? data + offset : nullptr, rows, cols, row_bytes, packed ? packed + offset : nullptr};
  }
};

struct LayerWeights {
  const float* attn_norm = nullptr;  // [E]
  WeightMatrix attn_q;               // H·hd rows of E
  WeightMatrix attn_k;               // KV·hd rows of E
  WeightMatrix attn_v;               // KV·hd rows of E
  WeightMatrix attn_output;          // E rows of H·hd
  const float* ffn_norm = nullptr;   // [E]
  WeightMatrix router;               // N rows of E (F32 or F16)
  ExpertMatrices ffn_gate;           // per expert: ff rows of E
  ExpertMatrices ffn_up;             // per expert: ff rows of E
  // Per expert, in the layout the sparse down projection reads: ff rows of E, one contiguous
  // row per expert neuron ("transposed down"). The powerinfer flavour stores it so; for the
  // upstream flavour (E rows of ff) `ffn_down_rows_are_neurons` is false and the dense
  // E-row layout is used (see forward.cpp).
  ExpertMatrices ffn_down;
  bool ffn_down_rows_are_neurons = false;
};

struct ModelWeights {
  WeightMatrix token_embd;    // V rows of E (data is nullptr when rows are read on demand)
  const float* output_norm = nullptr;
  WeightMatrix output;        // V rows of E (token_embd when the file has no output.weight)
  std::vector<LayerWeights> layers;
};

}  // namespace st
