// A pool of worker threads created once and kept for the model's lifetime: decode runs a few
// parallel regions per layer, so dispatch must cost microseconds, not a thread start.
// The calling thread takes part as worker 0.
//
// An editor's engine shares the cores: the TypeScript server and linters run in bursts while
// the user types, and the scheduler then sets one of our threads aside for milliseconds. So a
// region is not tied to its threads: each thread's share is cut into a few pieces, halving in
// size, which their owner takes front to back and any thread that has finished its own may
// take too. The calling thread returns once every piece is done, without waiting for a worker
// that never got a core (docs/benchmarks.md, "Another process on the cores"). And when a core
// stays taken, regions use one thread fewer for a while (busy_core_policy.h).
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "busy_core_policy.h"

namespace st {

class ThreadPool {
 public:
  // fn(begin, end, worker): process items [begin, end) on worker `worker` (0..size()-1). A
  // worker may be called for several ranges of one region, one after the other.
  using RangeFn = std::function<void(int64_t begin, int64_t end, int worker)>;

  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Splits [0, n) into size() contiguous shares (aligned to `grain` items) and runs them in
  // parallel; returns when all are done. Which thread computes which range may vary from run
  // to run, and so may the number of shares (fewer while a core is busy), so fn's results must
  // depend on neither. Not reentrant.
  void parallel_for(int64_t n, const RangeFn& fn, int64_t grain = 1);
  // Runs fn(worker) once on every worker, each on its own thread.
  void run_on_all(const std::function<void(int worker)>& fn);
  // The calling thread is about to block (on a read from storage) and will issue no region for
  // a while: workers waiting for the next region sleep now instead of spinning, which would
  // take a core from the threads that read (the next region wakes them).
  void rest_workers() { resting_.store(true, std::memory_order_relaxed); }
  // What the OS was asked for the pool's threads and what it answered
  // (platform::ask_for_interactive_scheduling), for the session's info.
  const std::string& scheduling() const { return scheduling_; }
  // How often parallel_for dropped a thread because the caller waited on a held-up one.
  int64_t busy_core_drops() const { return busy_core_.drops(); }

  // Pieces per share, each half the one before (1/2, 1/4, … 1/32 and the last 1/32): a thread
  // that finishes first takes the other's small last pieces, so the two finish within a
  // thirty-second of a share of each other. Four equal quarters left a region's end up to a
  // quarter share apart, and the first thread spun meanwhile: decode spent 9 % of its samples
  // waiting so (halving pieces: decode +3.5-5 %, docs/benchmarks.md, 2026-12-05 afternoon).
  static constexpr int kPieces = 6;

 private:
  // What two threads' words must stay apart by: a cache line, 128 bytes on Apple silicon
  // (`sysctl hw.cachelinesize`; not measured here, no ARM machine), where 64 would put two
  // threads' claim words, or done_ and the flags waiting workers read, on one line. On x86
  // 64 and 128 gave the same region cost (Zen 5, 2 threads: 1.2-1.4 µs a region in one run,
  // 0.44-0.57 µs in a quieter one).
#if defined(__aarch64__) || defined(_M_ARM64)
  static constexpr size_t kLine = 128;
#else
  static constexpr size_t kLine = 64;
#endif
  // A share's claim word: the region's generation above kIndexBits, the next piece below.
  static constexpr int kIndexBits = 16;
  struct alignas(kLine) Share {
    std::atomic<uint64_t> claim{0};
  };

  // Publishes a region and takes part in it until every piece is done. Returns the nanoseconds
  // the caller then waited for pieces other threads held.
  int64_t run_region(int64_t n, const RangeFn& fn, int64_t grain, int workers, bool own_shares_only);
  // Sets takers_ and wakes the workers it lets back in.
  void set_takers(int threads);
  void worker_loop(int worker);
  // Takes and runs pieces of region `generation` as `self`: its own share first, then the others'.
  void run_pieces(int self, uint64_t generation);

  int n_threads_;
  std::string scheduling_;
  std::vector<std::thread> threads_;
  std::unique_ptr<Share[]> shares_;
  // The current region, written by the calling thread before it publishes the generation.
  const RangeFn* fn_ = nullptr;
  int64_t n_ = 0, grain_ = 1, units_ = 0;
  int workers_ = 0;
  std::atomic<bool> own_shares_only_{false};  // run_on_all: no thread takes another's pieces
  std::atomic<uint64_t> generation_{0};
  // Pieces finished in the current region, each thread's added once when it has no more to
  // take, and on a line of its own: the line above is read by every thread as a region starts
  // and by waiting workers all the time, and an increment per piece on it cost each region
  // a dozen transfers of that line between the cores.
  alignas(kLine) std::atomic<int> done_{0};
  alignas(kLine) std::atomic<bool> stop_{false};  // aligned so that nothing after shares done_'s line
  std::atomic<bool> resting_{false};  // rest_workers() since the last region
  std::mutex mutex_;
  std::condition_variable wake_;
  // parallel_for's thread count; off with SMALLTHINKER_BUSY_CORE=ignore (runtime/switches.h).
  BusyCorePolicy busy_core_;
  bool adapt_to_busy_cores_;
  // Workers 0..takers_-1 take part in regions; the others sleep on rejoin_ until it grows.
  std::atomic<int> takers_;
  std::condition_variable rejoin_;
};

// platform::compute_core_count(): physical cores, the performance kind only, those this process
// may run on, at most what a CPU quota grants.
int default_thread_count();

}  // namespace st
