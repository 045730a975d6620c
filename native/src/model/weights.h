// Views of the model's weights (in the memory-mapped file, or in memory read from it): what each
// layer's tensors are, as matrices whose format (formats/format.h) says how they are stored
// and multiplied.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "formats/format.h"

namespace st {

// The n_expert matrices of one expert tensor (ne = [cols, rows, n_expert]), back to back.
struct ExpertMatrices {
  const Format* format = nullptr;
  GgmlType type = GgmlType::F32;
  const uint8_t* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t n_expert = 0;
  size_t row_bytes = 0;
  // With an expert cache the experts are not back to back: base[e] is expert e's first byte
  // (already in `format`'s layout), filled for the experts a computation holds (forward.cpp).
  const uint8_t* const* base = nullptr;

  size_t expert_bytes() const { return static_cast<size_t>(rows) * row_bytes; }
  Matrix expert(int64_t e) const {
    return {format, type, base ? base[e] : data + static_cast<size_t>(e) * expert_bytes(), rows, cols, row_bytes};
  }
};

struct LayerWeights {
  const float* attn_norm = nullptr;  // [E]
  Matrix attn_q;                     // H·hd rows of E
  Matrix attn_k;                     // KV·hd rows of E
  Matrix attn_v;                     // KV·hd rows of E
  Matrix attn_output;                // E rows of H·hd
  const float* ffn_norm = nullptr;   // [E]
  Matrix router;                     // N rows of E (F32 or F16)
  ExpertMatrices ffn_gate;           // per expert: ff rows of E
  ExpertMatrices ffn_up;             // per expert: ff rows of E
  // Per expert: E rows of ff (upstream flavour), multiplied like gate and up; or, when
  // `ffn_down_rows_are_neurons` (the powerinfer flavour stores it transposed), ff rows of E,
  // one contiguous row per neuron, of which only the active neurons' rows are read.
  ExpertMatrices ffn_down;
  bool ffn_down_rows_are_neurons = false;
};

struct ModelWeights {
  Matrix token_embd;          // V rows of E (data is nullptr when rows are read on demand)
  const float* output_norm = nullptr;
  Matrix output;              // V rows of E (token_embd's bytes when the file has no output.weight)
  std::vector<LayerWeights> layers;
};

}  // namespace st
