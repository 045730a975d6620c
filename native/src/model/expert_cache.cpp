#include "expert_cache.h"

#include <algorithm>
#include <chrono>
#include <iterator>
#include <stdexcept>

#include "platform/platform.h"

namespace st {

namespace {
size_t worst_span(size_t bytes) { return (bytes + FileReader::kAlign - 1) / FileReader::kAlign * FileReader::kAlign + FileReader::kAlign; }

// The span a slot gives matrices of kind k: enough for that kind's largest in any layer.
size_t kind_span(const std::vector<ExpertBytes>& bytes, int k) {
  size_t most = 0;
  for (const ExpertBytes& b : bytes) most = std::max(most, b[k]);
  return worst_span(most);
}
}  // namespace

size_t ExpertCache::slot_bytes_for(const std::vector<ExpertBytes>& bytes) {
  return kind_span(bytes, 0) + kind_span(bytes, 1) + kind_span(bytes, 2);
}

ExpertCache::ExpertCache(std::shared_ptr<FileReader> file, std::vector<ExpertLocation> locations, int32_t n_expert,
                         std::vector<ExpertBytes> bytes, const ExpertCacheConfig& config)
    : file_(std::move(file)),
      locations_(std::move(locations)),
      n_expert_(n_expert),
      bytes_(std::move(bytes)),
      gate_span_(kind_span(bytes_, 0)),
      up_span_(kind_span(bytes_, 1)),
      down_span_(kind_span(bytes_, 2)),
      slot_bytes_(gate_span_ + up_span_ + down_span_),
      config_(config) {
  if (config.slots < 1) throw std::invalid_argument("the expert cache needs at least one slot");
  if (bytes_.size() * static_cast<size_t>(n_expert) != locations_.size() || (!config.layouts.empty() && config.layouts.size() != bytes_.size())) {
    throw std::invalid_argument("the expert cache needs the sizes and layouts of every layer");
  }
  memory_ = AlignedBuffer(slot_bytes_ * static_cast<size_t>(config.slots));
  // Large pages: a read that lands in 4 KiB pages, and the first touch of each afterwards, cost
  // a fault per page, several times the read itself on some VMs (docs/memory.md).
  platform::advise_large_pages(memory_.data(), memory_.size());
  slots_.resize(config.slots);
  // The frequency policy keeps a bypass area of two layers' worth of experts for the ones it
  // does not admit (see pick_victim_locked); LRU uses every slot alike.
  const int32_t bypass = config.policy == CachePolicy::Frequency ? std::min(config.slots / 2, 2 * config.bypass_experts) : 0;
  main_slots_ = config.slots - bypass;
  data_.resize(config.slots);
  slot_of_.assign(locations_.size(), -1);
  frequency_.assign(locations_.size(), 0.0);
  // Two readers keep two requests in flight: the device serves them in parallel. They take
  // single matrices, so a lone miss has both reading its three matrices at once (a whole
  // expert per thread left one idle while a needed expert waited, docs/benchmarks.md).
  for (int i = 0; i < kIoThreads; i++) io_threads_.emplace_back([this] { io_loop(); });
}

ExpertCache::~ExpertCache() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  work_.notify_all();
  for (std::thread& t : io_threads_) t.join();
}

void ExpertCache::begin_step() {
  std::lock_guard<std::mutex> lock(mu_);
  step_++;
}

void ExpertCache::count_tokens(uint64_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.tokens += n;
}

void ExpertCache::touch_locked(int32_t k) {
  clock_++;
  frequency_[k] += 1.0;
  // Aging: halving every four passes over all experts' worth of uses keeps the counts about
  // what recently mattered (tens of tokens), yet long enough that an expert used once per
  // token does not look cold between two of its uses.
  if (++uses_since_aging_ >= 4 * std::max(slots_.size(), frequency_.size())) {
    uses_since_aging_ = 0;
    for (double& f : frequency_) f *= 0.5;
  }
  const int32_t s = slot_of_[k];
  if (s >= 0) slots_[s].last_use = clock_;
}

void ExpertCache::add_io_time_locked(ExpertCacheStats& stats, double ms) const {
  if (reading_ > 0) stats.io_busy_ms += ms;
  if (needed_ > 0) {
    stats.miss_outstanding_ms += ms;
    stats.io_idle_with_miss_ms += ms * static_cast<double>(kIoThreads - std::min(reading_, kIoThreads)) / kIoThreads;
  }
}

void ExpertCache::account_io_locked() {
  const auto now = std::chrono::steady_clock::now();
  add_io_time_locked(stats_, std::chrono::duration<double, std::milli>(now - io_mark_).count());
  io_mark_ = now;
}

int32_t ExpertCache::pick_victim_locked(int32_t incoming, bool speculative) const {
  // Two tiers, best first: slots this step has not asked for (free ones first, then the
  // least used lately); then, only so that a step asking for more experts than fit never
  // waits forever, experts this step asked for but nobody holds. A speculative read takes the
  // first tier only.
  auto candidates = [&](int32_t begin, int32_t end, int32_t best[2]) {
    auto better = [&](int32_t a, int32_t b) {  // is slot a a better victim than slot b?
      if (b < 0) return true;
      const Slot &sa = slots_[a], &sb = slots_[b];
      if ((sa.state == SlotState::Empty) != (sb.state == SlotState::Empty)) return sa.state == SlotState::Empty;
      if (config_.policy == CachePolicy::Frequency && a < main_slots_ && sa.key >= 0 && sb.key >= 0) {
        const double fa = frequency_[sa.key], fb = frequency_[sb.key];
        if (fa != fb) return fa < fb;
      }
      return sa.last_use < sb.last_use;
    };
    for (int32_t s = begin; s < end; s++) {
      const Slot& slot = slots_[s];
      if (slot.state == SlotState::Loading || slot.users > 0) continue;
      const int tier = slot.step == step_ ? 1 : 0;
      if (better(s, best[tier])) best[tier] = s;
    }
  };
  const int32_t n = static_cast<int32_t>(slots_.size());
  int32_t main[2] = {-1, -1};
  candidates(0, main_slots_, main);
  // Admission (frequency policy): an expert displaces a cached one only if it has been used
  // more often lately; otherwise it streams through the small bypass area. Without this, a
  // working set a little larger than the cache (every token touching the same experts in
  // layer order) would evict each expert just before its next use, as LRU does.
  const int32_t v = main[0];
  const bool admit = v >= 0 && (slots_[v].state == SlotState::Empty || main_slots_ == n ||
                                frequency_[incoming] > frequency_[slots_[v].key]);
  if (admit) return v;
  int32_t bypass[2] = {-1, -1};
  candidates(main_slots_, n, bypass);
  if (bypass[0] >= 0) return bypass[0];
  if (v >= 0 || speculative) return v;
  return main[1] >= 0 ? main[1] : bypass[1];
}

int32_t ExpertCache::request_locked(int32_t k, bool count, bool speculative) {
  if (count) touch_locked(k);
  int32_t s = slot_of_[k];
  if (s >= 0) {
    if (count) stats_.hits++;
    if (count && slots_[s].speculative) stats_.predicted++;
    if (!speculative) {
      if (slots_[s].state == SlotState::Loading && slots_[s].speculative) {
        account_io_locked();
        needed_++;  // a prediction's read in flight is now needed: its waiting matrices go first
        auto of_s = [s](const Part& p) { return p.slot == s; };
        std::copy_if(speculative_queue_.begin(), speculative_queue_.end(), std::back_inserter(needed_queue_), of_s);
        speculative_queue_.erase(std::remove_if(speculative_queue_.begin(), speculative_queue_.end(), of_s), speculative_queue_.end());
      }
      slots_[s].step = step_;
      slots_[s].speculative = false;
    }
    return s;
  }
  if (count) stats_.misses++;  // even when no slot is free yet: the caller retries uncounted
  s = pick_victim_locked(k, speculative);
  if (s < 0) return -1;
  Slot& slot = slots_[s];
  if (slot.key >= 0) slot_of_[slot.key] = -1;
  slot.key = k;
  slot.state = SlotState::Loading;
  slot.step = speculative ? 0 : step_;
  slot.speculative = speculative;
  slot.last_use = clock_;
  slot.error.clear();
  slot.parts_left = 3;
  slot_of_[k] = s;
  if (!speculative) {
    account_io_locked();
    needed_++;
  }
  std::deque<Part>& queue = speculative ? speculative_queue_ : needed_queue_;
  for (uint8_t m = 0; m < 3; m++) queue.push_back(Part{s, m});
  work_.notify_all();
  return s;
}

void ExpertCache::prefetch(int layer, const int32_t* experts, int n) {
  std::lock_guard<std::mutex> lock(mu_);
  for (int i = 0; i < n; i++) {
    const int32_t k = key(layer, experts[i]);
    const bool missing = slot_of_[k] < 0;
    if (request_locked(k, true, false) >= 0 && missing) stats_.prefetches++;
  }
  cancel_unconfirmed_locked(layer);
}

void ExpertCache::empty_slot_locked(Slot& slot) {
  if (slot.key >= 0) slot_of_[slot.key] = -1;
  slot.key = -1;
  slot.state = SlotState::Empty;
  slot.speculative = false;
  slot.error.clear();
}

void ExpertCache::cancel_unconfirmed_locked(int layer) {
  // The predictions for this layer that its router did not confirm (a confirmed one moved to
  // the needed queue in request_locked): their matrices not yet begun are dropped. A slot with
  // none in flight is free at once; one with a matrix in flight is freed when that read ends.
  // Measured on the smooth 4B in 1 GiB: 89.6 -> 82.6 MB read a token (docs/memory.md).
  std::deque<Part>& queue = speculative_queue_;
  size_t kept = 0;
  for (size_t i = 0; i < queue.size(); i++) {
    const Part part = queue[i];
    Slot& slot = slots_[part.slot];
    // key < 0: a slot cancelled earlier in this loop (only such slots have parts queued).
    if (slot.key >= 0 && slot.key / n_expert_ != layer) {
      queue[kept++] = part;
      continue;
    }
    if (slot.key >= 0) {
      slot_of_[slot.key] = -1;
      slot.key = -1;
      stats_.cancelled++;
    }
    if (--slot.parts_left == 0) empty_slot_locked(slot);
  }
  if (kept == queue.size()) return;
  queue.resize(kept);
  loaded_.notify_all();  // slots freed: an acquire waiting for one may go on
}

void ExpertCache::prefetch_speculative(int layer, const int32_t* experts, int n) {
  std::lock_guard<std::mutex> lock(mu_);
  for (int i = 0; i < n; i++) {
    const int32_t k = key(layer, experts[i]);
    if (slot_of_[k] < 0) request_locked(k, false, true);
  }
}

void ExpertCache::readiness(int layer, const int32_t* experts, int n, bool* ready) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (int i = 0; i < n; i++) {
    const int32_t s = slot_of_[key(layer, experts[i])];
    ready[i] = s >= 0 && slots_[s].state == SlotState::Ready;
  }
}

ExpertCache::Expert ExpertCache::acquire(int layer, int expert, const std::function<void()>& before_waiting) {
  const int32_t k = key(layer, expert);
  std::unique_lock<std::mutex> lock(mu_);
  int32_t s = slot_of_[k];
  // Not asked for in this step (no prefetch): this is the use, a hit or a miss.
  if (s < 0 || slots_[s].step != step_) s = request_locked(k, true, false);
  const auto t0 = std::chrono::steady_clock::now();
  bool waited = false;
  while (s < 0 || slots_[s].state == SlotState::Loading) {
    if (s < 0) s = request_locked(k, false, false);  // waiting for a free slot
    if (s >= 0 && slots_[s].state != SlotState::Loading) break;
    if (s < 0 && std::none_of(slots_.begin(), slots_.end(), [](const Slot& x) { return x.state == SlotState::Loading; })) {
      // Every slot is held by the caller: nothing will ever free one.
      throw std::logic_error("the expert cache has no free slot (" + std::to_string(slots_.size()) + " slots, all in use)");
    }
    if (!waited && before_waiting) before_waiting();
    waited = true;
    loaded_.wait(lock);  // a read finished (ours, or one that frees a slot)
    s = slot_of_[k];
  }
  if (waited) stats_.stall_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  Slot& slot = slots_[s];
  if (slot.state == SlotState::Failed) {
    const std::string error = slot.error;
    empty_slot_locked(slot);
    throw std::runtime_error(error);
  }
  slot.users++;
  slot.step = step_;
  return data_[s];
}

void ExpertCache::release(int layer, const int32_t* experts, int n) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (int i = 0; i < n; i++) {
      const int32_t s = slot_of_[key(layer, experts[i])];
      if (s >= 0 && slots_[s].users > 0) slots_[s].users--;
    }
  }
  loaded_.notify_all();  // an acquire may be waiting for a slot to free up
}

void ExpertCache::io_loop() {
  // A needed expert's read holds up the computation: the readers are interactive work too.
  platform::ask_for_interactive_scheduling();
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    work_.wait(lock, [&] { return stopping_ || !needed_queue_.empty() || !speculative_queue_.empty(); });
    if (stopping_) return;
    std::deque<Part>& queue = needed_queue_.empty() ? speculative_queue_ : needed_queue_;
    const Part part = queue.front();
    queue.pop_front();
    const int32_t s = part.slot;
    const ExpertLocation& where = locations_[slots_[s].key];
    const size_t layer = static_cast<size_t>(slots_[s].key / n_expert_);
    const uint64_t offset[3] = {where.gate_offset, where.up_offset, where.down_offset};
    const size_t placed[3] = {0, gate_span_, gate_span_ + up_span_};
    const uint64_t file_offset = offset[part.matrix];
    const size_t n = bytes_[layer][part.matrix];
    account_io_locked();
    reading_++;
    lock.unlock();
    const uint8_t* matrix = nullptr;
    std::string error;
    try {
      matrix = file_->read(file_offset, n, memory_.data() + static_cast<size_t>(s) * slot_bytes_ + placed[part.matrix]);
      // Laid out in the matrix's format; this part of the slot is this thread's until the
      // slot is marked loaded below.
      if (!config_.layouts.empty()) {
        const ExpertCacheConfig::Layout& layout = config_.layouts[layer][part.matrix];
        if (layout.format && layout.format->relays()) layout.format->lay_out(const_cast<uint8_t*>(matrix), layout.rows, layout.cols);
      }
    } catch (const std::exception& ex) {
      error = std::string("reading an expert from the model file failed: ") + ex.what();
    }
    lock.lock();
    Slot& slot = slots_[s];
    account_io_locked();
    reading_--;
    if (error.empty()) {
      const uint8_t** into[3] = {&data_[s].gate, &data_[s].up, &data_[s].down};
      *into[part.matrix] = matrix;
      stats_.bytes_read += FileReader::span_bytes(file_offset, n);
    } else if (slot.error.empty()) {
      slot.error = error;
    }
    if (--slot.parts_left > 0) continue;  // the other matrices' readers finish the slot
    if (!slot.speculative) needed_--;
    if (slot.key < 0) {
      empty_slot_locked(slot);  // a prediction cancelled while this matrix was being read
    } else {
      slot.state = slot.error.empty() ? SlotState::Ready : SlotState::Failed;
    }
    loaded_.notify_all();
  }
}

ExpertCacheStats ExpertCache::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  ExpertCacheStats s = stats_;  // with the time since the last change of the I/O state
  add_io_time_locked(s, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - io_mark_).count());
  return s;
}

}  // namespace st
