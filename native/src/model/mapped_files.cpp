#include "mapped_files.h"

#include <atomic>
#include <cstdint>

namespace st::mapped_files {
namespace {

static_assert(std::atomic<int>::is_always_lock_free && std::atomic<uintptr_t>::is_always_lock_free,
              "the signal handler may only read lock-free atomics");

enum State : int { kFree = 0, kWriting = 1, kLive = 2 };

// A slot is claimed (kFree -> kWriting), filled, then published (kLive, release); the
// handler reads a slot's range and path only after seeing kLive (acquire).
struct Slot {
  std::atomic<int> state{kFree};
  std::atomic<uintptr_t> begin{0};
  std::atomic<uintptr_t> end{0};
  char path[kMaxPathBytes] = {};
};

Slot slots[kSlots];

}  // namespace

int add(const void* begin, size_t size, const std::string& path) {
  for (int i = 0; i < kSlots; i++) {
    Slot& s = slots[i];
    int expected = kFree;
    if (!s.state.compare_exchange_strong(expected, kWriting, std::memory_order_acquire)) continue;
    s.begin.store(reinterpret_cast<uintptr_t>(begin), std::memory_order_relaxed);
    s.end.store(reinterpret_cast<uintptr_t>(begin) + size, std::memory_order_relaxed);
    const std::string printable = printable_path(path);
    printable.copy(s.path, printable.size());
    s.path[printable.size()] = '\0';
    s.state.store(kLive, std::memory_order_release);
    return i;
  }
  return -1;
}

void remove(int slot) {
  if (slot < 0 || slot >= kSlots) return;
  slots[slot].state.store(kFree, std::memory_order_release);
}

std::string printable_path(const std::string& path) {
  std::string out = path.substr(0, kMaxPathBytes - 1);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return out;
}

// A mapping is forgotten only when no thread reads it any more, so the slot a faulting
// read finds is not rewritten while the handler copies its path.
const char* find(const void* addr) {
  const auto a = reinterpret_cast<uintptr_t>(addr);
  for (Slot& s : slots) {
    if (s.state.load(std::memory_order_acquire) != kLive) continue;
    if (a >= s.begin.load(std::memory_order_relaxed) && a < s.end.load(std::memory_order_relaxed)) return s.path;
  }
  return nullptr;
}

}  // namespace st::mapped_files
