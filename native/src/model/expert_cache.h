// The memory-budget mode's expert cache (issue: bounded memory): one cache shared by every
// layer, holding whole experts (gate, up and down matrices together) in fixed-size slots,
// filled from the model file by an I/O thread.
//
// How a layer uses it (forward.cpp): as soon as the router logits exist, before attention,
// prefetch() queues the reads of the chosen experts that are missing; attention runs while
// they load; the FFN then acquire()s each expert (present ones first), computes, and
// release()s them. A slot in use or wanted by the current layer is never evicted.
//
// Replacement: `lru`, or `frequency` (the default): the least frequently used expert goes,
// with counts that halve every few tokens so the cache follows a change of topic, and ties
// broken by recency; a missing expert is admitted only if it was used more often lately than
// the one it would displace, else it passes through a small bypass area. Nothing is pinned:
// a hot set learned since load kept a session's first experts after its routing moved, and
// bought nothing while it stayed (expert_cache_test.cpp, docs/memory.md).
#pragma once
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "file_reader.h"
#include "formats/format.h"

namespace st {

enum class CachePolicy { Lru, Frequency };

// Where one expert's three matrices are in the file.
struct ExpertLocation {
  uint64_t gate_offset = 0, up_offset = 0, down_offset = 0;
};

struct ExpertCacheStats {
  uint64_t hits = 0;        // expert uses found resident (or already loading) when requested
  uint64_t misses = 0;      // expert uses that had to be read
  uint64_t bytes_read = 0;
  double stall_ms = 0;      // time the compute thread waited for a read to finish
  uint64_t prefetches = 0;  // reads started before the expert was needed
  uint64_t predicted = 0;   // hits on experts read because the next-layer prediction asked
  uint64_t cancelled = 0;   // predictions whose reads were dropped (all, or those not begun): the router chose otherwise
  uint64_t tokens = 0;      // tokens evaluated through the cache (for per-token figures)
  // Whether storage is kept busy (wall-clock time, over the cache's life):
  double io_busy_ms = 0;              // at least one read in flight
  double miss_outstanding_ms = 0;     // at least one needed (not speculative) read queued or in flight
  double io_idle_with_miss_ms = 0;    // ... weighted by the share of I/O threads not reading then
};

struct ExpertCacheConfig {
  int32_t slots = 0;
  CachePolicy policy = CachePolicy::Frequency;
  // Read a layer's experts as soon as its router has chosen them (before attention). Off:
  // each expert is read when the FFN reaches it (the baseline prefetch is measured against).
  bool prefetch = true;
  // Also read what the next layer's router, applied to this layer's input, would choose
  // (measured: it halves the stall time; see docs/memory.md).
  bool predict_next_layer = true;
  // Experts one layer uses (k): the frequency policy's bypass area holds twice that.
  int32_t bypass_experts = 0;
  // How each kind of matrix (gate, up, down) of an expert is laid out once read, on the I/O
  // thread before anyone can use it: its format and one expert's shape (no format: as read).
  struct Layout {
    const Format* format = nullptr;
    int64_t rows = 0, cols = 0;
  };
  // Per layer: a file may give layers different types (llama-quantize's _M mixes keep some
  // layers' down projections wider).
  std::vector<std::array<Layout, 3>> layouts;
};

// One layer's expert matrices in bytes: gate, up, down.
using ExpertBytes = std::array<size_t, 3>;

class ExpertCache {
 public:
  // Pointers to one resident expert's matrices (valid while acquired).
  struct Expert {
    const uint8_t* gate = nullptr;
    const uint8_t* up = nullptr;
    const uint8_t* down = nullptr;
  };

  // `locations[l * n_expert + e]`; `bytes[l]`: the sizes of layer l's matrices (a slot fits
  // the largest of each kind).
  ExpertCache(std::shared_ptr<FileReader> file, std::vector<ExpertLocation> locations, int32_t n_expert,
              std::vector<ExpertBytes> bytes, const ExpertCacheConfig& config);
  ~ExpertCache();
  ExpertCache(const ExpertCache&) = delete;
  ExpertCache& operator=(const ExpertCache&) = delete;

  // The bytes one slot takes (the three matrices, each read as an aligned span).
  static size_t slot_bytes_for(const std::vector<ExpertBytes>& bytes);
  size_t slot_bytes() const { return slot_bytes_; }
  int32_t slots() const { return static_cast<int32_t>(slots_.size()); }

  // Starts a new step (one layer of one token, or one chunk of a batch): the experts
  // requested from now on are protected from eviction until the next step.
  void begin_step();
  void count_tokens(uint64_t n);
  // Queues reads of the missing experts among `experts` (no wait). Counts hits and misses.
  // The layer's router has spoken: its predicted experts it did not choose are not read (those
  // of their matrices not yet begun are dropped, and their slots freed).
  void prefetch(int layer, const int32_t* experts, int n);
  // Best-effort reads for a predicted future need: never evicts what this step protects and
  // counts neither hits nor misses.
  void prefetch_speculative(int layer, const int32_t* experts, int n);
  // ready[i]: whether experts[i] is resident now (one lock for the whole list).
  void readiness(int layer, const int32_t* experts, int n, bool* ready) const;
  // Waits until the expert is resident (reading it now if nobody asked before) and holds it.
  // before_waiting runs once if it must wait (with the cache's lock held: it must not call
  // back into the cache); the forward pass lets its pool's workers sleep there.
  Expert acquire(int layer, int expert, const std::function<void()>& before_waiting = {});
  // Lets go of experts acquired before.
  void release(int layer, const int32_t* experts, int n);

  const ExpertCacheConfig& config() const { return config_; }
  ExpertCacheStats stats() const;

 private:
  enum class SlotState : uint8_t { Empty, Loading, Ready, Failed };
  struct Slot {
    int32_t key = -1;  // layer · n_expert + expert
    SlotState state = SlotState::Empty;
    int32_t users = 0;
    uint64_t step = 0;  // the step that last requested it (protected while current)
    uint64_t last_use = 0;
    bool speculative = false;  // read for a prediction and not used yet
    uint8_t parts_left = 0;    // of its three matrices, those not read yet (while Loading)
    std::string error;
  };
  // One matrix (0 gate, 1 up, 2 down) of a Loading slot, waiting for an I/O thread.
  struct Part {
    int32_t slot;
    uint8_t matrix;
  };

  int32_t key(int layer, int expert) const { return layer * n_expert_ + expert; }
  // Under mu_: the slot of `k` (requesting its read if needed), or -1 when every slot is
  // busy. `count` says whether this use counts as a hit or a miss.
  int32_t request_locked(int32_t k, bool count, bool speculative);
  int32_t pick_victim_locked(int32_t incoming, bool speculative) const;
  // Forgets the slot's expert (if it still has one) and makes it free.
  void empty_slot_locked(Slot& slot);
  // Drops the queued reads of `layer`'s predictions that its router has just not chosen.
  void cancel_unconfirmed_locked(int layer);
  void touch_locked(int32_t k);
  // Adds the time since the last call to the I/O counters, for the current reading_ and
  // needed_; called before either changes.
  void account_io_locked();
  void add_io_time_locked(ExpertCacheStats& stats, double ms) const;
  void io_loop();

  std::shared_ptr<FileReader> file_;
  std::vector<ExpertLocation> locations_;
  int32_t n_expert_;
  std::vector<ExpertBytes> bytes_;
  size_t gate_span_, up_span_, down_span_, slot_bytes_;
  ExpertCacheConfig config_;
  AlignedBuffer memory_;
  // Per slot, where each matrix's first byte landed (spans are aligned reads).
  std::vector<Expert> data_;

  mutable std::mutex mu_;
  std::condition_variable loaded_;   // a read finished
  std::condition_variable work_;     // the I/O thread has something to read
  std::vector<Slot> slots_;         // [0, main_slots_): the cache proper; the rest: bypass
  int32_t main_slots_ = 0;
  std::vector<int32_t> slot_of_;     // key -> slot, or -1
  std::vector<double> frequency_;    // key -> aged use count
  // Matrices waiting for their read, those a step asked for first; each Loading slot has at
  // most its three in them, so together they hold at most three entries per slot.
  std::deque<Part> needed_queue_, speculative_queue_;
  uint64_t step_ = 1, clock_ = 0, uses_since_aging_ = 0;
  ExpertCacheStats stats_;
  int32_t reading_ = 0;  // matrix reads in flight
  int32_t needed_ = 0;   // Loading slots a step asked for (not only a prediction)
  std::chrono::steady_clock::time_point io_mark_ = std::chrono::steady_clock::now();
  bool stopping_ = false;
  static constexpr int kIoThreads = 2;
  std::vector<std::thread> io_threads_;
};

}  // namespace st
