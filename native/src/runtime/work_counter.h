// A process-wide count of native work done: one per layer computed, one per tensor loaded.
// The engine process reports it in its heartbeat, so the extension can tell a long
// computation (the count moves) from a stuck one (it does not) without timing requests.
#pragma once
#include <atomic>
#include <cstdint>

namespace st {

inline std::atomic<uint64_t>& work_counter() {
  static std::atomic<uint64_t> count{0};
  return count;
}

inline void note_work() { work_counter().fetch_add(1, std::memory_order_relaxed); }

}  // namespace st
