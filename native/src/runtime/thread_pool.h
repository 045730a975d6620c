// A pool of worker threads created once and kept for the model's lifetime: decode runs a few
// parallel regions per layer, so dispatch must cost microseconds, not a thread start.
// The calling thread takes part as worker 0.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace st {

class ThreadPool {
 public:
  // fn(begin, end, worker): process items [begin, end) on worker `worker` (0..size()-1).
  using RangeFn = std::function<void(int64_t begin, int64_t end, int worker)>;

  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Splits [0, n) into size() contiguous chunks (aligned to `grain` items) and runs them in
  // parallel; returns when all are done. Not reentrant.
  void parallel_for(int64_t n, const RangeFn& fn, int64_t grain = 1);

  // Runs fn(worker) once on every worker.
  void run_on_all(const std::function<void(int worker)>& fn);

 private:
  void worker_loop(int worker);
  void dispatch(const std::function<void(int)>& job);

  int n_threads_;
  std::vector<std::thread> threads_;
  const std::function<void(int)>* job_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
};

// Physical cores (not hyper-threads; on Apple silicon the performance cores), else the
// hardware threads.
int default_thread_count();

}  // namespace st
