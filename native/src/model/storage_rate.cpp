#include "storage_rate.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include "file_reader.h"

namespace st {

StorageReadResult measure_storage_reads(const std::string& path, size_t chunk_bytes, int threads, double seconds,
                                        double pace_bytes_per_s) {
  if (chunk_bytes < 1 || chunk_bytes > (size_t(1) << 30)) throw std::invalid_argument("chunk_bytes must be 1 byte to 1 GiB");
  if (threads < 1 || threads > 64) throw std::invalid_argument("threads must be 1..64");
  if (!(seconds > 0 && seconds <= 600)) throw std::invalid_argument("seconds must be in (0, 600]");
  if (!(pace_bytes_per_s >= 0)) throw std::invalid_argument("pace_bytes_per_s must be ≥ 0");
  constexpr size_t kAlign = FileReader::kAlign;
  const size_t chunk = (chunk_bytes + kAlign - 1) / kAlign * kAlign;
  FileReader reader(path);
  const uint64_t size = reader.identity().size;
  if (size < chunk) throw std::runtime_error(path + ": smaller than one read of " + std::to_string(chunk) + " bytes");
  const uint64_t positions = (size - chunk) / kAlign + 1;

  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  const Clock::time_point stop = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::atomic<uint64_t> bytes{0};
  std::atomic<bool> failed{false};
  std::exception_ptr failure;
  std::mutex failure_lock;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; t++) {
    pool.emplace_back([&, t] {
      try {
        AlignedBuffer buffer(chunk);
        std::mt19937_64 rng(0x5eed + t);
        std::uniform_int_distribution<uint64_t> position(0, positions - 1);
        while (!failed.load() && Clock::now() < stop) {
          reader.read(position(rng) * kAlign, chunk, buffer.data());
          const uint64_t done = bytes.fetch_add(chunk) + chunk;
          if (pace_bytes_per_s > 0) {
            // Together no faster than the pace: wait until the bytes read so far are due.
            const Clock::time_point due =
                start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(double(done) / pace_bytes_per_s));
            std::this_thread::sleep_until(std::min(due, stop));
          }
        }
      } catch (...) {
        std::lock_guard<std::mutex> lock(failure_lock);
        if (!failure) failure = std::current_exception();
        failed.store(true);  // the others stop at their next read
      }
    });
  }
  for (auto& th : pool) th.join();
  if (failure) std::rethrow_exception(failure);
  StorageReadResult r;
  r.bytes = bytes.load();
  r.reads = r.bytes / chunk;
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.direct = reader.direct();
  return r;
}

}  // namespace st
