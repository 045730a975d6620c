#include "thread_pool.h"

#include "float_mode.h"

#include <algorithm>
#include <utility>

#include "platform/platform.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define ST_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define ST_CPU_RELAX() asm volatile("yield")
#else
#define ST_CPU_RELAX() ((void)0)
#endif

namespace st {

// Workers spin this many rounds for the next job before sleeping: a decode step issues the
// next region within microseconds, and a futex wake-up costs more than that.
static constexpr int kSpinRounds = 1 << 14;

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::max(1, n_threads)) {
  for (int w = 1; w < n_threads_; w++) threads_.emplace_back([this, w] { worker_loop(w); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true);
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
}

void ThreadPool::worker_loop(int worker) {
  flush_denormals_on_this_thread();
  uint64_t seen = 0;
  for (;;) {
    uint64_t g = generation_.load(std::memory_order_acquire);
    for (int spin = 0; g == seen && spin < kSpinRounds; spin++) {
      ST_CPU_RELAX();
      g = generation_.load(std::memory_order_acquire);
    }
    if (g == seen) {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
      g = generation_.load(std::memory_order_acquire);
    }
    seen = g;
    if (stop_.load()) return;
    (*job_)(worker);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::dispatch(const std::function<void(int)>& job) {
  if (n_threads_ == 1) {
    job(0);
    return;
  }
  job_ = &job;
  pending_.store(n_threads_ - 1, std::memory_order_release);
  {
    // The lock orders the generation bump against a worker about to sleep.
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  wake_.notify_all();
  job(0);
  while (pending_.load(std::memory_order_acquire) != 0) ST_CPU_RELAX();
}

void ThreadPool::run_on_all(const std::function<void(int)>& fn) { dispatch(fn); }

void ThreadPool::parallel_for(int64_t n, const RangeFn& fn, int64_t grain) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  const int64_t units = (n + grain - 1) / grain;
  const int workers = static_cast<int>(std::min<int64_t>(n_threads_, units));
  if (workers <= 1) {
    fn(0, n, 0);
    return;
  }
  dispatch([&](int w) {
    if (w >= workers) return;
    const int64_t begin = std::min(n, units * w / workers * grain);
    const int64_t end = std::min(n, units * (w + 1) / workers * grain);
    if (begin < end) fn(begin, end, w);
  });
}

int default_thread_count() { return platform::physical_core_count(); }

}  // namespace st
