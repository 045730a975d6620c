// The expert cache against the mapped model, meant to run under ThreadSanitizer and
// AddressSanitizer (sanitize-and-fuzz.sh): two compute threads and the cache's I/O threads
// evaluate a multi-batch prompt and greedy decode steps with a cache far smaller than the
// model, under every policy and prefetch setting, and every logit must equal the mapped
// model's bit for bit.
//   expert_cache_test MODEL.gguf
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "model/forward.h"
#include "model/model.h"
#include "runtime/thread_pool.h"

using namespace st;

// Logits of a 300-token prompt (all positions: three batches) and of 12 greedy decode steps.
static std::vector<float> run(const Model& model, ThreadPool& pool) {
  const int32_t V = model.hparams().n_vocab;
  std::vector<int32_t> prompt(300);
  for (size_t i = 0; i < prompt.size(); i++) prompt[i] = static_cast<int32_t>((7 + i * 7919) % V);
  Workspace workspace(model, 512, pool.size());
  InferenceContext ctx(model, workspace, pool, 512, KvType::F16);
  std::vector<float> all, logits;
  ctx.evaluate(prompt.data(), static_cast<int32_t>(prompt.size()), true, logits);
  all = logits;
  int32_t next = 0;
  for (int step = 0; step < 12; step++) {
    const float* last = logits.data() + logits.size() - V;
    next = 0;
    for (int32_t v = 1; v < V; v++) if (last[v] > last[next]) next = v;
    ctx.evaluate(&next, 1, false, logits);
    all.insert(all.end(), logits.begin(), logits.end());
  }
  return all;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: expert_cache_test MODEL.gguf\n");
    return 2;
  }
  ThreadPool pool(2);
  const std::unique_ptr<Model> mapped_model = Model::load(argv[1]);
  const std::vector<float> mapped = run(*mapped_model, pool);
  const SmallThinkerHParams& hp = mapped_model->hparams();
  int failed = 0, passed = 0;
  for (CachePolicy policy : {CachePolicy::Frequency, CachePolicy::Lru}) {
    for (int variant = 0; variant < 3; variant++) {
      ExpertCacheConfig config;
      config.policy = policy;
      config.prefetch = variant != 2;
      config.predict_next_layer = variant == 0;
      // 3k + 1 slots: far fewer than the model's experts, so they are evicted and re-read.
      config.slots = 3 * hp.n_expert_used + 1;
      config.bypass_experts = hp.n_expert_used;
      const std::unique_ptr<Model> budgeted = Model::load_budgeted(argv[1], config);
      const std::vector<float> got = run(*budgeted, pool);
      const ExpertCacheStats s = budgeted->expert_cache()->stats();
      const bool same = got.size() == mapped.size() && std::memcmp(got.data(), mapped.data(), got.size() * sizeof(float)) == 0;
      // The I/O time counters: reads took time, the idle share is part of the time a miss
      // waited, and once every needed expert has been acquired nothing is counted as waiting
      // (a prediction's read may still be in flight, so only the needed count must be back at 0).
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      const ExpertCacheStats later = budgeted->expert_cache()->stats();
      const bool io_ok = s.io_busy_ms > 0 && s.miss_outstanding_ms > 0 && s.io_idle_with_miss_ms <= s.miss_outstanding_ms &&
                         later.miss_outstanding_ms == s.miss_outstanding_ms;
      if (!io_ok) {
        std::printf("FAIL I/O counters: busy %.3f ms, miss outstanding %.3f ms (%.3f ms later), idle with a miss %.3f ms\n",
                    s.io_busy_ms, s.miss_outstanding_ms, later.miss_outstanding_ms, s.io_idle_with_miss_ms);
      }
      std::printf("%s policy=%s prefetch=%d predict=%d: %llu hits, %llu misses\n", same ? "ok" : "FAIL",
                  policy == CachePolicy::Lru ? "lru" : "frequency", config.prefetch, config.predict_next_layer,
                  static_cast<unsigned long long>(s.hits), static_cast<unsigned long long>(s.misses));
      if (same && io_ok && s.misses > 0) passed++;
      else failed++;
    }
  }
  std::printf("expert cache: %d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
