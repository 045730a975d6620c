// Turns a logits vector into the next token: repetition penalty, then greedy or
// temperature sampling restricted by top-k, top-p and min-p. Deterministic for a given seed on
// every platform (own PRNG, no std:: distributions whose output is implementation-defined).
#pragma once
#include <cstdint>
#include <deque>
#include <vector>

namespace st {

struct SamplerParams {
  float temperature = 0.0f;       // <= 0: greedy
  int32_t top_k = 0;              // <= 0: off
  float top_p = 1.0f;             // >= 1: off
  float min_p = 0.0f;             // <= 0: off
  float repeat_penalty = 1.0f;    // 1: off (llama.cpp semantics: divide positive, multiply negative)
  int32_t repeat_last_n = 64;     // how many recent tokens the penalty looks at
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplerParams& params);

  // Picks a token from logits[0..n_vocab). `logits` is not modified.
  int32_t sample(const float* logits, int32_t n_vocab);

  // Records a token the model has seen (prompt or generated), for the repetition penalty.
  void accept(int32_t token);

  const SamplerParams& params() const { return params_; }

 private:
  double next_uniform();  // [0, 1)

  SamplerParams params_;
  uint64_t rng_state_;
  std::deque<int32_t> recent_;
  // Scratch reused across calls, so sampling a token allocates nothing once warm.
  std::vector<std::pair<float, int32_t>> candidates_;  // (logit, id)
  std::vector<double> probs_;
  std::vector<int32_t> penalised_;                     // recent_'s ids, sorted, each once
  std::vector<float> adjusted_;                        // the logits after the penalty
};

}  // namespace st
