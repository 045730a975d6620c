#include "bandwidth.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#include "platform/platform.h"

namespace st {

namespace {

// Sums 64-bit words in eight independent chains, so the loads, not the adds, set the pace.
uint64_t sum_words(const uint64_t* p, size_t n) {
  uint64_t s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int k = 0; k < 8; k++) s[k] += p[i + k];
  }
  for (; i < n; i++) s[0] += p[i];
  uint64_t total = 0;
  for (uint64_t v : s) total += v;
  return total;
}

// Runs part(t) for t in [0, threads) on threads of their own and returns the seconds from the
// first start to the last join. Threads already started are joined even if starting a later
// one throws, so that a failed start is an exception and not std::terminate.
template <typename Part>
double timed_on_threads(int threads, const Part& part) {
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  try {
    for (int t = 0; t < threads; t++) pool.emplace_back([&part, t] { part(t); });
  } catch (...) {
    for (auto& th : pool) th.join();
    throw;
  }
  for (auto& th : pool) th.join();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

double measure_read_bandwidth(size_t bytes, int threads) {
  threads = std::max(1, threads);
  const size_t words = bytes / sizeof(uint64_t);
  std::vector<uint64_t> buffer(words);
  for (size_t i = 0; i < words; i++) buffer[i] = i;  // touched, so the pages are real
  std::vector<uint64_t> sink(threads);
  double best = 0;
  for (int pass = 0; pass < 4; pass++) {
    const double seconds = timed_on_threads(threads, [&](int t) {
      const size_t begin = words * t / threads, end = words * (t + 1) / threads;
      sink[t] += sum_words(buffer.data() + begin, end - begin);
    });
    best = std::max(best, static_cast<double>(words * sizeof(uint64_t)) / seconds);
  }
  volatile uint64_t keep = 0;
  for (uint64_t v : sink) keep = keep + v;
  (void)keep;
  return best;
}

double measure_fresh_memory_rate(size_t bytes, int threads) {
  threads = std::max(1, threads);
  constexpr size_t kPage = 4096;  // the smallest page anywhere we run: a write to each commits all
  bytes = std::max(kPage, bytes / kPage * kPage);
  // Volatile: the writes are the measurement, to memory released right after.
  volatile uint8_t* memory = static_cast<uint8_t*>(platform::allocate_pages(bytes));
  platform::advise_large_pages(const_cast<uint8_t*>(memory), bytes);
  double seconds = 0;
  try {
    seconds = timed_on_threads(threads, [&](int t) {
      const size_t pages = bytes / kPage, begin = pages * t / threads, end = pages * (t + 1) / threads;
      for (size_t i = begin; i < end; i++) memory[i * kPage] = 1;
    });
  } catch (...) {
    platform::free_pages(const_cast<uint8_t*>(memory), bytes);
    throw;
  }
  platform::free_pages(const_cast<uint8_t*>(memory), bytes);
  return static_cast<double>(bytes) / seconds;
}

}  // namespace st
