#include "thread_pool.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "float_mode.h"
#include "platform/platform.h"
#include "switches.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define ST_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define ST_CPU_RELAX() asm volatile("yield")
#else
#define ST_CPU_RELAX() ((void)0)
#endif

namespace st {

static int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Workers spin this long for the next job before sleeping: a decode step issues the next
// region within microseconds, and a futex wake-up costs more than that.
static constexpr int64_t kSpinNs = 300'000;
// The calling thread waits for pieces in progress this long, then gives its core away between
// looks: the thread it waits for may be the one the scheduler set aside.
static constexpr int64_t kWaitSpinNs = 20'000;
// Both bounds are times, read off the clock every this many rounds of the spin hint, because
// the hint's length differs by CPU: PAUSE takes 19 ns on Zen 5 (where 16,384 and 1,024 rounds
// were these bounds), about 140 cycles on Intel cores since Skylake, and ARM's YIELD is a
// no-op on many cores, so rounds meant twice as long on Intel and a few microseconds on ARM.
static constexpr int kRoundsPerClockRead = 64;

// Rounds of the spin hint until a time has passed since `start`.
class SpinBudget {
 public:
  SpinBudget(int64_t start, int64_t ns) : end_(start + ns) {}
  // One round of the hint; false once the time is spent.
  bool spin() {
    ST_CPU_RELAX();
    return ++rounds_ % kRoundsPerClockRead != 0 || now_ns() < end_;
  }

 private:
  int64_t end_;
  int rounds_ = 0;
};

ThreadPool::ThreadPool(int n_threads)
    : n_threads_(std::max(1, n_threads)),
      // Asked on the thread that builds the pool too: the engine's own, which then calls it.
      scheduling_(platform::ask_for_interactive_scheduling()),
      shares_(new Share[size_t(std::max(1, n_threads))]),
      busy_core_(n_threads_),
      adapt_to_busy_cores_(n_threads_ > 1 && runtime::switches().busy_core_policy),
      takers_(n_threads_) {
  for (int w = 1; w < n_threads_; w++) threads_.emplace_back([this, w] { worker_loop(w); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true);
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  rejoin_.notify_all();
  for (auto& t : threads_) t.join();
}

void ThreadPool::worker_loop(int worker) {
  flush_denormals_on_this_thread();
  platform::ask_for_interactive_scheduling();
  uint64_t seen = 0;
  for (;;) {
    uint64_t g = generation_.load(std::memory_order_acquire);
    if (g == seen) {
      SpinBudget budget(now_ns(), kSpinNs);
      while (g == seen && !resting_.load(std::memory_order_relaxed) && budget.spin()) g = generation_.load(std::memory_order_acquire);
    }
    if (g == seen) {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
      g = generation_.load(std::memory_order_acquire);
    }
    seen = g;
    if (stop_.load()) return;
    if (worker >= takers_.load(std::memory_order_relaxed)) {
      // Left out while a core is busy: asleep, not spinning on the core another process wants.
      std::unique_lock<std::mutex> lock(mutex_);
      rejoin_.wait(lock, [&] { return stop_.load() || worker < takers_.load(std::memory_order_relaxed); });
      continue;
    }
    run_pieces(worker, g);
  }
}

// A piece is claimed by raising its share's index with the region's generation still in the
// word: a worker that wakes after its region ended (or after later ones began) finds another
// generation there and claims nothing, so it never calls a finished region's fn. While a
// piece of region g is unfinished the calling thread has not left region g, so fn_ and the
// sizes read after a successful claim are g's.
void ThreadPool::run_pieces(int self, uint64_t generation) {
  const int shares = own_shares_only_.load(std::memory_order_relaxed) ? 1 : n_threads_;
  int finished = 0;
  for (int k = 0; k < shares; k++) {
    const int owner = (self + k) % n_threads_;
    Share& share = shares_[owner];
    for (;;) {
      uint64_t c = share.claim.load(std::memory_order_acquire);
      // The region is over (this thread then took none of it: the pieces it took keep the
      // region open until they are counted below).
      if ((c >> kIndexBits) != generation) break;
      const int piece = static_cast<int>(c & ((uint64_t(1) << kIndexBits) - 1));
      if (piece >= kPieces) break;  // this share is taken: the next one
      if (!share.claim.compare_exchange_weak(c, c + 1, std::memory_order_acq_rel)) continue;
      // The share's units [s0, s1); piece p starts where the pieces before it, halving from a
      // half of the share, end, and the last piece runs to the share's end.
      const int64_t s0 = units_ * owner / workers_, s1 = units_ * (owner + 1) / workers_, len = s1 - s0;
      const int64_t u0 = s1 - (len >> piece), u1 = piece + 1 < kPieces ? s1 - (len >> (piece + 1)) : s1;
      const int64_t begin = std::min(n_, u0 * grain_);
      const int64_t end = std::min(n_, u1 * grain_);
      if (begin < end) (*fn_)(begin, end, self);
      finished++;
    }
  }
  if (finished > 0) done_.fetch_add(finished, std::memory_order_release);
}

void ThreadPool::parallel_for(int64_t n, const RangeFn& fn, int64_t grain) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  const int64_t units = (n + grain - 1) / grain;
  const int64_t start = adapt_to_busy_cores_ ? now_ns() : 0;
  const int threads = adapt_to_busy_cores_ ? busy_core_.threads_for_region(start) : n_threads_;
  if (threads != takers_.load(std::memory_order_relaxed)) set_takers(threads);
  const int workers = static_cast<int>(std::min<int64_t>(threads, units));
  if (workers <= 1) {
    fn(0, n, 0);
    return;
  }
  const int64_t waited = run_region(n, fn, grain, workers, false);
  if (adapt_to_busy_cores_) {
    const int64_t end = now_ns();
    busy_core_.region_ended(end, end - start, waited);
  }
}

void ThreadPool::run_on_all(const std::function<void(int)>& fn) {
  if (n_threads_ == 1) {
    fn(0);
    return;
  }
  // One item per thread, and each share left to its owner: every worker runs fn once.
  if (takers_.load(std::memory_order_relaxed) != n_threads_) set_takers(n_threads_);
  run_region(n_threads_, [&](int64_t, int64_t, int worker) { fn(worker); }, 1, n_threads_, true);
}

void ThreadPool::set_takers(int threads) {
  {
    // Stored before the next region's generation is published, so a worker that sees that
    // region sees this count too.
    std::lock_guard<std::mutex> lock(mutex_);
    takers_.store(threads, std::memory_order_relaxed);
  }
  rejoin_.notify_all();
}

int64_t ThreadPool::run_region(int64_t n, const RangeFn& fn, int64_t grain, int workers, bool own_shares_only) {
  const int64_t units = (n + grain - 1) / grain;
  fn_ = &fn;
  n_ = n;
  grain_ = grain;
  units_ = units;
  workers_ = workers;
  own_shares_only_.store(own_shares_only, std::memory_order_relaxed);
  done_.store(0, std::memory_order_relaxed);
  // Only this thread writes the generation (the destructor's last bump aside).
  const uint64_t g = generation_.load(std::memory_order_relaxed) + 1;
  // The shares of threads beyond `workers` (a small region) start out taken.
  for (int w = 0; w < n_threads_; w++) shares_[w].claim.store((g << kIndexBits) | (w < workers ? 0 : kPieces), std::memory_order_relaxed);
  {
    // The lock orders the generation bump against a worker about to sleep; the release
    // publishes the region above to every worker that sees the new generation.
    std::lock_guard<std::mutex> lock(mutex_);
    resting_.store(false, std::memory_order_relaxed);
    generation_.store(g, std::memory_order_release);
  }
  wake_.notify_all();
  run_pieces(0, g);
  if (done_.load(std::memory_order_acquire) == workers * kPieces) return 0;
  const int64_t wait_start = now_ns();
  SpinBudget budget(wait_start, kWaitSpinNs);
  bool spinning = true;
  while (done_.load(std::memory_order_acquire) < workers * kPieces) {
    if (spinning)
      spinning = budget.spin();
    else
      std::this_thread::yield();
  }
  return now_ns() - wait_start;
}

int default_thread_count() { return platform::compute_core_count(); }

}  // namespace st
