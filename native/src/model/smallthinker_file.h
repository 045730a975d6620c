// The SmallThinker architecture check on top of the GGUF reader: hyper-parameters of docs/model.md,
// every required tensor's presence, type and shape, and the file flavour.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "gguf/gguf_reader.h"

namespace st {

enum class ExpertGating { Softmax = 1, Sigmoid = 2 };

struct SmallThinkerHParams {
  int32_t n_layer = 0;
  int32_t n_embd = 0;
  int32_t n_head = 0;
  int32_t n_head_kv = 0;
  int32_t head_dim = 0;
  int32_t n_expert = 0;
  int32_t n_expert_used = 0;
  int32_t n_ff_exp = 0;
  int32_t n_ctx_train = 0;
  int32_t n_vocab = 0;
  float rope_freq_base = 10000.0f;
  float rms_eps = 1e-6f;
  ExpertGating gating = ExpertGating::Sigmoid;
  bool has_swa = false;
  int32_t sliding_window = 0;  // 4096 when has_swa, whatever the file stores (as llama.cpp)

  // The layer schedule (docs/model.md): with SWA, layers l % 4 == 0 are global and NoPE, the rest RoPE + window.
  bool layer_is_swa(int l) const { return has_swa && l % 4 != 0; }
  bool layer_uses_rope(int l) const { return !has_swa || l % 4 != 0; }
};

enum class Flavour { Upstream, PowerInfer };

struct SmallThinkerFile {
  gguf::GgufFile gguf;
  SmallThinkerHParams hparams;
  Flavour flavour = Flavour::Upstream;
  bool tied_embeddings = false;
  std::vector<std::string> warnings;

  // Opens and validates; throws gguf::GgufError with a clear message.
  static SmallThinkerFile open(const std::string& path);
  static SmallThinkerFile check(gguf::GgufFile gguf);

  // Estimated resident memory for inference at `n_ctx` (see the formula in the .cpp).
  uint64_t estimated_bytes(int32_t n_ctx) const;
};

const char* flavour_name(Flavour f);

}  // namespace st
