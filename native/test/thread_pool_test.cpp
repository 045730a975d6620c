// The thread pool under ThreadSanitizer and ASan (sanitize-and-fuzz.sh): every item of every
// region is done exactly once, whatever the sizes, grains and thread counts; a thread that has
// finished its share takes the pieces of one that is held up; and regions in quick succession,
// where a worker often wakes after its region has ended, never run a finished region's work;
// run_on_all reaches every worker; workers told to rest (the caller about to wait for a read)
// take part in the next region; a worker held up region after region is left out for a while
// (the busy-core policy, also on a made-up clock). And the pool's default size on made-up Linux
// machines: one thread per core, performance cores only, within the process's CPUs and its CPU quota.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>  // mkdtemp
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "platform/platform.h"
#include "runtime/thread_pool.h"
#include "check.h"

using st::ThreadPool;

static void every_item_once() {
  for (int threads : {1, 2, 3, 4}) {
    ThreadPool pool(threads);
    std::atomic<bool> ok{true};  // written by every thread that sees a bad range
    for (int64_t n : {1, 2, 3, 7, 16, 31, 64, 100, 1000}) {
      for (int64_t grain : {1, 4, 16}) {
        std::vector<std::atomic<int>> seen(static_cast<size_t>(n));
        pool.parallel_for(n, [&](int64_t b, int64_t e, int w) {
          if (b % grain != 0 || w < 0 || w >= threads) ok = false;
          for (int64_t i = b; i < e; i++) seen[size_t(i)].fetch_add(1);
        }, grain);
        for (auto& s : seen) ok = ok && s.load() == 1;
      }
    }
    check(ok.load(), std::to_string(threads) + " threads: every item once, ranges aligned to the grain");
  }
}

// Worker 1 is held up in its first piece; the calling thread does every other piece, the
// worker's remaining ones included, and the region ends once the held piece is done.
static void pieces_of_a_held_thread_are_taken() {
  ThreadPool pool(2);
  const int64_t n = 2 * ThreadPool::kPieces * 10;
  std::vector<int> who(n, -1);
  std::atomic<bool> held{false};
  pool.parallel_for(n, [&](int64_t b, int64_t e, int w) {
    if (w == 1 && !held.exchange(true)) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    for (int64_t i = b; i < e; i++) who[size_t(i)] = w;
  });
  int by_caller_in_second_share = 0;
  for (int64_t i = n / 2; i < n; i++) by_caller_in_second_share += who[size_t(i)] == 0;
  bool all = true;
  for (int v : who) all = all && v >= 0;
  check(all, "a held worker's region still completes");
  // If the worker was held, the caller took at least the last pieces of its share.
  check(!held.load() || by_caller_in_second_share >= n / 2 / ThreadPool::kPieces,
        "the caller takes the held worker's remaining pieces (" + std::to_string(by_caller_in_second_share) + " items)");
}

// Many tiny regions back to back, each writing into a buffer that the next region reuses: a
// late worker running an old region's fn would write stale values (and TSan would see it).
static void regions_in_quick_succession() {
  ThreadPool pool(3);
  std::vector<int64_t> buf(64);
  bool ok = true;
  for (int64_t r = 0; r < 20000; r++) {
    const int64_t n = 1 + r % 64;
    pool.parallel_for(n, [&](int64_t b, int64_t e, int) {
      for (int64_t i = b; i < e; i++) buf[size_t(i)] = r;
    });
    for (int64_t i = 0; i < n; i++) ok = ok && buf[size_t(i)] == r;
  }
  check(ok, "20,000 regions back to back: each item written by its own region");
}

// Another busy thread on the cores: the regions still complete.
static void with_a_busy_neighbour() {
  std::atomic<bool> stop{false};
  std::thread busy([&] {
    while (!stop.load(std::memory_order_relaxed)) {
    }
  });
  ThreadPool pool(2);
  std::atomic<int64_t> sum{0};
  for (int r = 0; r < 2000; r++) {
    pool.parallel_for(256, [&](int64_t b, int64_t e, int) {
      int64_t s = 0;
      for (int64_t i = b; i < e; i++) s += i;
      sum.fetch_add(s);
    });
  }
  stop.store(true);
  busy.join();
  check(sum.load() == int64_t(2000) * (255 * 256 / 2), "2,000 regions beside a busy thread sum every item");
}

// The busy-core policy on a made-up clock: quiet windows keep every thread; a window whose
// waiting passes a quarter drops one for the hold, after which all are tried again.
static void busy_core_policy_on_a_made_up_clock() {
  using st::BusyCorePolicy;
  constexpr int64_t ms = 1'000'000;
  int64_t now = 0;
  // One window of regions (1 ms each) in which the caller waited `waited_percent` of the time.
  auto window_of = [&](BusyCorePolicy& p, int waited_percent) {
    for (int64_t t = 0; t < BusyCorePolicy::kWindowNs; t += ms) {
      p.threads_for_region(now);
      now += ms;
      p.region_ended(now, ms, ms * waited_percent / 100);
    }
  };
  BusyCorePolicy policy(2);
  auto window = [&](int waited_percent) { window_of(policy, waited_percent); };
  for (int w = 0; w < 50; w++) window(20);
  check(policy.threads_for_region(now) == 2 && policy.drops() == 0, "waiting a fifth of the time keeps both threads");
  window(40);
  check(policy.threads_for_region(now) == 1 && policy.drops() == 1, "waiting 40 % of a window drops a thread");
  now += BusyCorePolicy::kHoldNs - ms;
  check(policy.threads_for_region(now) == 1, "one thread until the hold is over");
  now += ms;
  check(policy.threads_for_region(now) == 2, "both threads again after the hold");
  window(60);
  check(policy.threads_for_region(now) == 1 && policy.drops() == 2, "a busy window after the hold drops the thread again");
  now += BusyCorePolicy::kHoldNs;
  check(policy.threads_for_region(now) == 2, "and both again after that hold");
  window(5);
  check(policy.threads_for_region(now) == 2 && policy.drops() == 2, "a quiet window keeps both");

  BusyCorePolicy four(4);
  now = 0;
  for (int w = 0; w < 2; w++) window_of(four, 50);
  check(four.threads_for_region(now) == 2, "4 threads: two busy windows, two threads fewer");
  for (int w = 0; w < 3; w++) window_of(four, 50);
  check(four.threads_for_region(now) == 1, "never fewer than one");
  BusyCorePolicy one(1);
  one.region_ended(BusyCorePolicy::kWindowNs, BusyCorePolicy::kWindowNs, BusyCorePolicy::kWindowNs);
  check(one.threads_for_region(BusyCorePolicy::kWindowNs) == 1 && one.drops() == 0, "one thread stays one");
}

// A worker held up in every piece it takes (as a thread on a busy core is): within a window the
// pool stops giving regions to it, and the regions after run on the caller alone until the
// hold is over; with three threads, the one left out takes no piece.
static void a_held_worker_is_left_out() {
  for (int threads : {2, 3}) {
    ThreadPool pool(threads);
    std::atomic<int> by_held{0};
    bool ok = true;
    auto region = [&](bool hold) {
      std::vector<std::atomic<int>> seen(64);
      pool.parallel_for(64, [&](int64_t b, int64_t e, int w) {
        if (w == threads - 1) {
          by_held.fetch_add(1);
          if (hold) std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
        for (int64_t i = b; i < e; i++) {
          // 20 µs an item, so that a region lasts long enough for every worker to take part.
          const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(20);
          while (std::chrono::steady_clock::now() < until) {
          }
          seen[size_t(i)].fetch_add(1);
        }
      });
      for (auto& v : seen) ok = ok && v.load() == 1;
    };
    for (int r = 0; r < 200 && pool.busy_core_drops() == 0; r++) region(true);
    check(pool.busy_core_drops() == 1, std::to_string(threads) + " threads: a worker held in every region is dropped (" + std::to_string(pool.busy_core_drops()) + " drops, " + std::to_string(by_held.load()) + " held pieces)");
    by_held = 0;
    const auto start = std::chrono::steady_clock::now();
    for (int r = 0; r < 50; r++) region(false);
    const bool within_hold = std::chrono::steady_clock::now() - start < std::chrono::nanoseconds(st::BusyCorePolicy::kHoldNs);
    check(!within_hold || by_held.load() == 0, std::to_string(threads) + " threads: the dropped worker takes no piece during the hold");
    check(ok, std::to_string(threads) + " threads: every item once while a worker is held or left out");
  }
}

// run_on_all: every worker once, each on a thread of its own.
static void run_on_all_reaches_every_worker() {
  for (int threads : {1, 2, 4}) {
    ThreadPool pool(threads);
    bool ok = true;
    for (int r = 0; r < 200; r++) {
      std::vector<std::atomic<int>> calls(static_cast<size_t>(threads));
      std::vector<std::thread::id> ids(static_cast<size_t>(threads));
      pool.run_on_all([&](int w) {
        calls[size_t(w)].fetch_add(1);
        ids[size_t(w)] = std::this_thread::get_id();
      });
      for (int w = 0; w < threads; w++) {
        ok = ok && calls[size_t(w)].load() == 1;
        for (int v = 0; v < w; v++) ok = ok && ids[size_t(v)] != ids[size_t(w)];
      }
    }
    check(ok, std::to_string(threads) + " threads: run_on_all calls each worker once, on its own thread");
  }
}

// rest_workers() between regions, as the forward pass calls it before waiting for an expert:
// the sleeping workers wake for the next region, and every item is still done once, with rests
// given right after a region, after the workers fell asleep, and several times in a row.
static void rested_workers_take_part_again() {
  ThreadPool pool(3);
  bool ok = true;
  for (int r = 0; r < 300; r++) {
    for (int k = 0; k <= r % 3; k++) pool.rest_workers();
    if (r % 50 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    std::vector<std::atomic<int>> calls(3);
    pool.run_on_all([&](int w) { calls[size_t(w)].fetch_add(1); });
    for (auto& c : calls) ok = ok && c.load() == 1;
    std::vector<std::atomic<int>> seen(97);
    pool.parallel_for(97, [&](int64_t b, int64_t e, int) {
      for (int64_t i = b; i < e; i++) seen[size_t(i)].fetch_add(1);
    });
    for (auto& v : seen) ok = ok && v.load() == 1;
  }
  check(ok, "300 regions after rest_workers(): every worker takes part, every item once");
}

#if defined(__linux__)
// A made-up machine: a directory standing for "/" with the /sys and /proc files
// linux_compute_core_count reads.
struct MadeUpMachine {
  std::string root;
  MadeUpMachine() {
    char dir[] = "/tmp/st-cores-XXXXXX";
    root = ::mkdtemp(dir) ? dir : "";
  }
  ~MadeUpMachine() {
    std::error_code ignored;
    if (!root.empty()) std::filesystem::remove_all(root, ignored);
  }
  void file(const std::string& path, const std::string& text) {
    const std::filesystem::path full = root + path;
    std::filesystem::create_directories(full.parent_path());
    std::ofstream(full) << text << "\n";
  }
  // CPU `cpu` as hardware thread of core `core` in package 0.
  void cpu(int cpu, int core) {
    const std::string t = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
    file(t + "core_id", std::to_string(core));
    file(t + "physical_package_id", "0");
  }
  int count(const std::vector<int>& allowed = {}) const { return st::platform::linux_compute_core_count(root, allowed); }
};

// 4 cores with two hardware threads each, numbered as Linux does (cpu0-3 the cores' first
// threads, cpu4-7 their second).
static void four_cores_eight_threads(MadeUpMachine& m) {
  m.file("/sys/devices/system/cpu/online", "0-7");
  for (int c = 0; c < 8; c++) m.cpu(c, c % 4);
}

static void default_threads_on_made_up_machines() {
  {
    MadeUpMachine m;
    four_cores_eight_threads(m);
    check(m.count() == 4, "4 cores with 2 threads each: 4 threads, got " + std::to_string(m.count()));
    check(m.count({0, 4}) == 1, "allowed only both threads of one core: 1, got " + std::to_string(m.count({0, 4})));
    check(m.count({0, 1, 4}) == 2, "allowed threads of two cores: 2, got " + std::to_string(m.count({0, 1, 4})));
  }
  {
    MadeUpMachine m;  // cpu1 offline: its directory has no topology, and the online list skips it
    m.file("/sys/devices/system/cpu/online", "0,2-3");
    for (int c : {0, 2, 3}) m.cpu(c, c);
    check(m.count() == 3, "CPUs 0, 2 and 3 online: 3, got " + std::to_string(m.count()));
  }
  {
    MadeUpMachine m;  // Intel hybrid: 2 performance cores with 2 threads each, 8 efficiency cores
    m.file("/sys/devices/system/cpu/online", "0-11");
    for (int c = 0; c < 4; c++) m.cpu(c, c / 2 * 4);
    for (int c = 4; c < 12; c++) m.cpu(c, 8 + c);
    m.file("/sys/devices/cpu_core/cpus", "0-3");
    m.file("/sys/devices/cpu_atom/cpus", "4-11");
    check(m.count() == 2, "2 performance and 8 efficiency cores: 2, got " + std::to_string(m.count()));
    check(m.count({6, 7, 8}) == 3, "allowed only efficiency cores: those 3, got " + std::to_string(m.count({6, 7, 8})));
  }
  {
    MadeUpMachine m;  // Arm: 1 prime core, 3 big, 4 little
    m.file("/sys/devices/system/cpu/online", "0-7");
    const int capacity[8] = {280, 280, 280, 280, 870, 870, 870, 1024};
    for (int c = 0; c < 8; c++) {
      m.cpu(c, c);
      m.file("/sys/devices/system/cpu/cpu" + std::to_string(c) + "/cpu_capacity", std::to_string(capacity[c]));
    }
    check(m.count() == 4, "1 prime, 3 big and 4 little cores: 4, got " + std::to_string(m.count()));
  }
  {
    MadeUpMachine m;  // cgroup v2: 1.5 CPUs granted on the process's cgroup, 3 on its parent
    four_cores_eight_threads(m);
    m.file("/proc/self/cgroup", "0::/user.slice/editor");
    m.file("/sys/fs/cgroup/user.slice/editor/cpu.max", "150000 100000");
    m.file("/sys/fs/cgroup/user.slice/cpu.max", "300000 100000");
    m.file("/sys/fs/cgroup/cpu.max", "max 100000");
    check(m.count() == 1, "a quota of 1.5 CPUs: 1, got " + std::to_string(m.count()));
    m.file("/sys/fs/cgroup/user.slice/editor/cpu.max", "max 100000");
    check(m.count() == 3, "no quota of its own, 3 CPUs above it: 3, got " + std::to_string(m.count()));
  }
  {
    MadeUpMachine m;  // cgroup v1 in a container: the path names the host's cgroup, the container's is the root
    four_cores_eight_threads(m);
    m.file("/proc/self/cgroup", "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n2:cpuset:/docker/abc");
    m.file("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "200000");
    m.file("/sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000");
    check(m.count() == 2, "a v1 quota of 2 CPUs: 2, got " + std::to_string(m.count()));
    m.file("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "-1");
    check(m.count() == 4, "a v1 quota of -1 (none): 4, got " + std::to_string(m.count()));
  }
  {
    MadeUpMachine m;  // nothing to read, or a list that does not parse: the hardware threads
    const int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    check(m.count() == threads, "no /sys: the hardware threads");
    m.file("/sys/devices/system/cpu/online", "0-x");
    check(m.count() == threads, "a malformed online list: the hardware threads");
  }
  const int here = st::default_thread_count();
  check(here >= 1 && here <= static_cast<int>(std::max(1u, std::thread::hardware_concurrency())),
        "this machine: between 1 and its hardware threads, got " + std::to_string(here));
}
#endif

int main() {
  every_item_once();
  rested_workers_take_part_again();
  run_on_all_reaches_every_worker();
  pieces_of_a_held_thread_are_taken();
  regions_in_quick_succession();
  with_a_busy_neighbour();
  busy_core_policy_on_a_made_up_clock();
  a_held_worker_is_left_out();
#if defined(__linux__)
  default_threads_on_made_up_machines();
#endif
  std::printf("thread pool: %d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
