// How many of the pool's threads a parallel region uses, decided from how long past regions
// waited for a thread the scheduler had set aside.
//
// An editor's engine shares the cores: a build or the TypeScript server can keep one busy for
// seconds, and the thread on it then runs in slices, so each region that thread holds a piece
// of waits for it. With one busy loop beside a 2-thread decode on 2 cores, one thread decoded
// 20 % faster than two (docs/benchmarks.md, "A busy core"). The pool reports each region's time
// and how much of it its caller spent waiting, with no piece left to take, for pieces other
// threads held. When that waiting is over a quarter of a window's region time, the next regions
// use one thread fewer for 0.2 s, and then the full count is tried again. While fewer threads
// run nothing tells whether the other process has stopped, so the hold is short: holds that
// doubled up to 4 s while the core stayed busy gained more beside a loop that never stopped, but
// lost 10-20 % beside one busy one second in two, whose pauses they outlasted. Which threads
// compute a range changes no result (ThreadPool::parallel_for), so the policy changes speed only.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>

namespace st {

class BusyCorePolicy {
 public:
  static constexpr int64_t kWindowNs = 50'000'000;  // region time a decision looks at
  static constexpr int kWaitedPercent = 25;         // waiting above this share of a window drops a thread
  static constexpr int64_t kHoldNs = 200'000'000;   // fewer threads for this long, then all again

  explicit BusyCorePolicy(int threads) : threads_(std::max(1, threads)), active_(threads_) {}

  // The threads the region starting at `now_ns` may use.
  int threads_for_region(int64_t now_ns) {
    if (active_ < threads_ && now_ns >= hold_until_) {
      active_ = threads_;  // its first window decides again
      region_ns_ = waited_ns_ = 0;
    }
    return active_;
  }

  // A region that ran on threads_for_region()'s count ended at `now_ns`: it took `region_ns`,
  // of which the caller waited `waited_ns` for pieces held by other threads.
  void region_ended(int64_t now_ns, int64_t region_ns, int64_t waited_ns) {
    if (active_ <= 1) return;
    region_ns_ += region_ns;
    waited_ns_ += waited_ns;
    if (region_ns_ < kWindowNs) return;
    const bool busy = waited_ns_ * 100 > region_ns_ * kWaitedPercent;
    region_ns_ = waited_ns_ = 0;
    if (!busy) return;
    active_--;
    hold_until_ = now_ns + kHoldNs;
    drops_.fetch_add(1, std::memory_order_relaxed);
  }

  // How often a window dropped a thread (the bench reports it); may be read from any thread.
  int64_t drops() const { return drops_.load(std::memory_order_relaxed); }

 private:
  int threads_, active_;
  int64_t region_ns_ = 0, waited_ns_ = 0;  // the current window
  int64_t hold_until_ = 0;
  std::atomic<int64_t> drops_{0};
};

}  // namespace st
