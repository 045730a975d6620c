#include "sampler.h"

#include <algorithm>
#include <cmath>

#include "kernels/kernels.h"
#include "runtime/portable_math.h"

namespace st {

Sampler::Sampler(const SamplerParams& params) : params_(params), rng_state_(params.seed) {}

// splitmix64: tiny, fast, identical everywhere.
double Sampler::next_uniform() {
  uint64_t z = (rng_state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * (1.0 / 9007199254740992.0);
}

void Sampler::accept(int32_t token) {
  if (params_.repeat_last_n <= 0) return;
  recent_.push_back(token);
  while (static_cast<int32_t>(recent_.size()) > params_.repeat_last_n) recent_.pop_front();
}

int32_t Sampler::sample(const float* logits, int32_t n_vocab) {
  const float* x = logits;
  if (params_.repeat_penalty != 1.0f && !recent_.empty()) {
    // The penalty changes at most repeat_last_n logits: a copy with those changed, once each
    // however often the token recurs.
    penalised_.assign(recent_.begin(), recent_.end());
    std::sort(penalised_.begin(), penalised_.end());
    penalised_.erase(std::unique(penalised_.begin(), penalised_.end()), penalised_.end());
    adjusted_.assign(logits, logits + n_vocab);
    for (int32_t id : penalised_) {
      if (id < 0 || id >= n_vocab) continue;
      const float l = logits[id];
      adjusted_[id] = l > 0 ? l / params_.repeat_penalty : l * params_.repeat_penalty;
    }
    x = adjusted_.data();
  }
  const kernels::KernelTable& k = kernels::active();
  const auto by_logit = [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };

  if (params_.temperature <= 0.0f) {
    // Greedy: the first maximum wins ties, as llama.cpp's greedy sampler does; a NaN first
    // logit stays the pick (nothing compares greater), later NaNs are passed over.
    if (std::isnan(x[0])) return 0;
    float best;
    return static_cast<int32_t>(k.first_max(x, n_vocab, &best));
  }

  candidates_.clear();
  if (params_.top_k > 0 && params_.top_k < n_vocab) {
    // The k best (by logit, then id) without sorting the vocabulary: a heap of the best k so
    // far whose front is the worst of them; a later logit can only displace it by being
    // greater (on a tie the earlier id stays), and the scan skips to the next such logit.
    const size_t keep = static_cast<size_t>(params_.top_k);
    int64_t i = 0;
    for (; i < n_vocab && candidates_.size() < keep; i++) {
      if (!std::isnan(x[i])) candidates_.push_back({x[i], static_cast<int32_t>(i)});
    }
    std::make_heap(candidates_.begin(), candidates_.end(), by_logit);
    while (candidates_.size() == keep) {
      i += k.first_above(x + i, n_vocab - i, candidates_.front().first);
      if (i >= n_vocab) break;
      std::pop_heap(candidates_.begin(), candidates_.end(), by_logit);
      candidates_.back() = {x[i], static_cast<int32_t>(i)};
      std::push_heap(candidates_.begin(), candidates_.end(), by_logit);
      i++;
    }
    std::sort_heap(candidates_.begin(), candidates_.end(), by_logit);
  } else {
    for (int32_t i = 0; i < n_vocab; i++) {
      if (!std::isnan(x[i])) candidates_.push_back({x[i], i});
    }
    std::sort(candidates_.begin(), candidates_.end(), by_logit);
  }
  if (candidates_.empty()) return 0;  // every logit NaN
  size_t keep = candidates_.size();

  // Softmax at the temperature, in double for stable cumulative sums.
  std::vector<double>& probs = probs_;
  probs.assign(keep, 0.0);
  const double inv_t = 1.0 / params_.temperature;
  const double max_l = candidates_[0].first;
  double sum = 0;
  for (size_t i = 0; i < keep; i++) sum += probs[i] = portable_math::exp((candidates_[i].first - max_l) * inv_t);
  for (double& p : probs) p /= sum;

  // min-p: drop tokens less likely than min_p times the best one.
  if (params_.min_p > 0.0f) {
    size_t n = 1;
    while (n < keep && probs[n] >= params_.min_p * probs[0]) n++;
    keep = n;
  }
  // top-p: the smallest prefix whose mass reaches top_p.
  if (params_.top_p < 1.0f) {
    double cum = 0;
    size_t n = 0;
    while (n < keep) {
      cum += probs[n++];
      if (cum >= params_.top_p) break;
    }
    keep = n;
  }

  double mass = 0;
  for (size_t i = 0; i < keep; i++) mass += probs[i];
  double r = next_uniform() * mass;
  for (size_t i = 0; i < keep; i++) {
    r -= probs[i];
    if (r < 0) return candidates_[i].second;
  }
  return candidates_[keep - 1].second;
}

}  // namespace st
