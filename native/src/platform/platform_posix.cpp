// platform.h for Linux and macOS.
#if !defined(_WIN32)
#include "platform.h"

#include <fcntl.h>
#if defined(__linux__)
#include <sched.h>
#endif
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__linux__) && defined(__aarch64__)
#include <sys/auxv.h>
#endif
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#if defined(__APPLE__)
#include <mach/mach.h>
#include <pthread/qos.h>
#include <sys/sysctl.h>
#endif

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <thread>
#include <utility>
#include <vector>

namespace st::platform {

static int fd_of(intptr_t handle) { return static_cast<int>(handle); }

static std::string errno_text() { return std::strerror(errno); }

// What the C++ library counts (hardware threads, 0 when unknown), at least 1: where nothing
// better says how many cores there are.
static int hardware_threads() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

File::File(const std::string& path, Caching caching) {
  int flags = O_RDONLY | O_CLOEXEC;
#if defined(O_DIRECT)
  if (caching == Caching::bypass) flags |= O_DIRECT;
#endif
  const int fd = ::open(path.c_str(), flags);
  if (fd < 0) {
    if (caching == Caching::bypass) return;
    throw std::runtime_error(path + ": cannot open: " + errno_text());
  }
  struct stat st {};
  const bool stat_ok = ::fstat(fd, &st) == 0;
  if (!stat_ok || !S_ISREG(st.st_mode)) {
    const std::string why = stat_ok ? "not a regular file" : "cannot stat: " + errno_text();
    ::close(fd);
    if (caching == Caching::bypass) return;
    throw std::runtime_error(path + ": " + why);
  }
#if defined(__APPLE__)
  // macOS has no O_DIRECT: F_NOCACHE keeps this descriptor's reads out of the unified buffer cache.
  if (caching == Caching::bypass && ::fcntl(fd, F_NOCACHE, 1) != 0) {
    ::close(fd);
    return;
  }
#elif !defined(O_DIRECT)
  if (caching == Caching::bypass) {
    ::close(fd);
    return;
  }
#endif
  handle_ = fd;
}

File::~File() {
  if (handle_ >= 0) ::close(fd_of(handle_));
}

File::File(File&& o) noexcept : handle_(std::exchange(o.handle_, -1)) {}

File& File::operator=(File&& o) noexcept {
  if (this != &o) {
    if (handle_ >= 0) ::close(fd_of(handle_));
    handle_ = std::exchange(o.handle_, -1);
  }
  return *this;
}

bool File::is_open() const { return handle_ >= 0; }

uint64_t File::size() const {
  struct stat st {};
  return handle_ >= 0 && ::fstat(fd_of(handle_), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

FileIdentity File::identity() const {
  struct stat st {};
  if (handle_ < 0 || ::fstat(fd_of(handle_), &st) != 0) return {};
  FileIdentity id;
  id.device = static_cast<uint64_t>(st.st_dev);
  id.inode = static_cast<uint64_t>(st.st_ino);
  id.size = static_cast<uint64_t>(st.st_size);
#if defined(__APPLE__)
  id.modified_ns = static_cast<int64_t>(st.st_mtimespec.tv_sec) * 1000000000 + st.st_mtimespec.tv_nsec;
#else
  id.modified_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
#endif
  return id;
}

size_t File::read_at(uint64_t offset, void* dst, size_t n) const {
  auto* out = static_cast<uint8_t*>(dst);
  size_t done = 0;
  while (done < n) {
    const ssize_t got = ::pread(fd_of(handle_), out + done, n - done, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw ReadError("read failed: " + errno_text(), errno == EINVAL);
    if (got == 0) break;
    done += static_cast<size_t>(got);
  }
  return done;
}

void File::drop_cached(uint64_t offset, uint64_t n) const {
#if defined(POSIX_FADV_DONTNEED)
  ::posix_fadvise(fd_of(handle_), static_cast<off_t>(offset), static_cast<off_t>(n), POSIX_FADV_DONTNEED);
#else
  (void)offset;
  (void)n;
#endif
}

void File::advise_no_read_ahead() const {
#if defined(POSIX_FADV_RANDOM)
  ::posix_fadvise(fd_of(handle_), 0, 0, POSIX_FADV_RANDOM);
#elif defined(F_RDAHEAD)
  ::fcntl(fd_of(handle_), F_RDAHEAD, 0);
#endif
}

FileMapping::FileMapping(const std::string& path) : file_(path, File::Caching::normal) {
  size_ = static_cast<size_t>(file_.size());
  if (size_ == 0) throw std::runtime_error(path + ": the file is empty");
  void* p = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd_of(file_.handle_), 0);
  if (p == MAP_FAILED) throw std::runtime_error(path + ": cannot map: " + errno_text());
  data_ = static_cast<const uint8_t*>(p);
}

FileMapping::~FileMapping() {
  if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

void* allocate_pages(size_t bytes) {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::runtime_error("cannot allocate " + std::to_string(bytes >> 20) + " MiB: " + errno_text());
  return p;
}

void free_pages(void* p, size_t bytes) {
  if (p) ::munmap(p, bytes);
}

void advise_large_pages(void* p, size_t bytes) {
#if defined(MADV_HUGEPAGE)
  ::madvise(p, bytes, MADV_HUGEPAGE);
#else
  (void)p;
  (void)bytes;
#endif
}

void advise_small_pages(void* p, size_t bytes) {
#if defined(MADV_NOHUGEPAGE)
  ::madvise(p, bytes, MADV_NOHUGEPAGE);
#else
  (void)p;
  (void)bytes;
#endif
}

namespace {
// The whole pages [begin, end) that hold the bytes [p, p + bytes).
struct PageSpan {
  uintptr_t begin, end;
};
PageSpan page_span(const void* p, size_t bytes) {
  static const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t at = reinterpret_cast<uintptr_t>(p);
  return {at & ~(page - 1), (at + bytes + page - 1) & ~(page - 1)};
}
}  // namespace

void populate_for_writing(void* p, size_t bytes) {
#if defined(__linux__)
  constexpr int kPopulateWrite = 23;  // MADV_POPULATE_WRITE, which older headers lack
  if (bytes == 0) return;
  const PageSpan span = page_span(p, bytes);
  ::madvise(reinterpret_cast<void*>(span.begin), span.end - span.begin, kPopulateWrite);
#else
  (void)p;
  (void)bytes;
#endif
}

double cached_share(const void* p, size_t bytes) {
  static const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  if (bytes == 0) return 1;
  const PageSpan span = page_span(p, bytes);
  std::vector<unsigned char> present((span.end - span.begin) / page);
#if defined(__APPLE__)
  const int failed = ::mincore(reinterpret_cast<void*>(span.begin), span.end - span.begin, reinterpret_cast<char*>(present.data()));
#else
  const int failed = ::mincore(reinterpret_cast<void*>(span.begin), span.end - span.begin, present.data());
#endif
  if (failed != 0) return 1;
  size_t cached = 0;
  for (unsigned char v : present) cached += v & 1;
  return static_cast<double>(cached) / static_cast<double>(present.size());
}

#if defined(__linux__)
// A "Vm...:  1234 kB" line of /proc/self/status, in bytes.
static uint64_t proc_status_bytes(const char* key) {
  std::ifstream status("/proc/self/status");
  const size_t key_len = std::strlen(key);
  std::string line;
  while (std::getline(status, line)) {
    if (line.compare(0, key_len, key) == 0) return std::stoull(line.substr(key_len)) * 1024;
  }
  return 0;
}
uint64_t resident_bytes() { return proc_status_bytes("VmRSS:"); }
uint64_t peak_resident_bytes() { return proc_status_bytes("VmHWM:"); }

// The path of a /proc/self/maps line ("start-end perms offset dev inode   path") that maps a
// regular file; empty for anonymous memory and devices.
static std::string mapped_file(const std::string& line) {
  const size_t slash = line.find(" /");
  return slash == std::string::npos || line.compare(slash + 1, 5, "/dev/") == 0 ? std::string() : line.substr(slash + 1);
}

// The page cache behind each file mapping of /proc/self/maps: mincore reports, for a file
// mapping, which of its pages are in the page cache, whether or not this process touched them.
// A file mapped twice (an executable's segments are) is counted per mapping range, and the
// ranges do not overlap.
static uint64_t mapped_files_cached_bytes() {
  std::ifstream maps("/proc/self/maps");
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> present;
  uint64_t total = 0;
  std::string line;
  while (std::getline(maps, line)) {
    if (mapped_file(line).empty()) continue;
    uintptr_t start = 0, end = 0;
    if (std::sscanf(line.c_str(), "%" SCNxPTR "-%" SCNxPTR, &start, &end) != 2 || end <= start) continue;
    const size_t pages = (end - start) / page;
    present.assign(pages, 0);
    if (::mincore(reinterpret_cast<void*>(start), end - start, present.data()) != 0) continue;
    for (unsigned char v : present) total += (v & 1) ? page : 0;
  }
  return total;
}

uint64_t resident_and_mapped_cache_bytes() {
  return proc_status_bytes("RssAnon:") + proc_status_bytes("RssShmem:") + mapped_files_cached_bytes();
}

void drop_unused_mapped_file_cache() {
  if (!page_cache_is_charged()) return;
  // The files of /proc/self/maps, each once. POSIX_FADV_DONTNEED drops a file's clean pages
  // that no page table maps, in any process: what read-ahead cached beyond what was run.
  std::ifstream maps("/proc/self/maps");
  std::set<std::string> files;
  std::string line;
  while (std::getline(maps, line)) {
    if (std::string path = mapped_file(line); !path.empty()) files.insert(path);
  }
  for (const std::string& path : files) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);  // fails for " (deleted)" files: they are skipped
    if (fd < 0) continue;
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

// Calls visit(dir, v2) for the directory of this process's cgroup and of each one above it up
// to the root (a limit may sit on any of them), under `root` (a test's made-up tree, else ""):
// in the cgroup v2 tree, and in the v1 tree of `v1_controller` ("memory", "cpu"). From
// /proc/self/cgroup: "0::/path" (v2) and "N:controllers:/path" (v1). In a container whose own
// cgroup is mounted as the root, the path names the host's cgroup and the walk reaches the
// container's at the root. Stops when visit returns true, and says whether it did.
template <typename Visit>
static bool visit_own_cgroups(const std::string& root, const std::string& v1_controller, Visit visit) {
  std::ifstream cgroups(root + "/proc/self/cgroup");
  std::string line;
  while (std::getline(cgroups, line)) {
    const size_t a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string controllers = "," + line.substr(a + 1, b - a - 1) + ",";
    std::string dir = line.substr(b + 1);
    const bool v2 = controllers == ",,";
    if (!v2 && controllers.find("," + v1_controller + ",") == std::string::npos) continue;
    const std::string tree = root + (v2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/" + v1_controller);
    while (true) {
      if (visit(tree + (dir == "/" ? "" : dir), v2)) return true;
      if (dir.empty() || dir == "/") break;
      dir = dir.substr(0, dir.rfind('/'));
    }
  }
  return false;
}

bool page_cache_is_charged() {
  return visit_own_cgroups("", "memory", [](const std::string& dir, bool v2) {
    std::ifstream f(dir + (v2 ? "/memory.max" : "/memory.limit_in_bytes"));
    std::string v;
    return f >> v && v != "max" && v.size() < 19;  // "max" (v2) or about 2^63 (v1) mean no limit
  });
}

namespace {

// A sysfs CPU list ("0-3,8,10-11") as CPU numbers; empty when the file is missing or malformed.
std::vector<int> read_cpu_list(const std::string& path) {
  std::ifstream f(path);
  std::string text;
  std::vector<int> cpus;
  if (!(f >> text)) return cpus;
  size_t at = 0;
  while (at < text.size()) {
    const size_t comma = std::min(text.find(',', at), text.size());
    const std::string part = text.substr(at, comma - at);
    char* end = nullptr;
    const long first = std::strtol(part.c_str(), &end, 10);
    long last = first;
    if (*end == '-') last = std::strtol(end + 1, &end, 10);
    if (end == part.c_str() || *end != '\0' || first < 0 || last < first || last >= 65536) return {};
    for (long c = first; c <= last; c++) cpus.push_back(static_cast<int>(c));
    at = comma + 1;
  }
  return cpus;
}

// A number from the first word of a file, or `otherwise`.
double read_number(const std::string& path, double otherwise) {
  std::ifstream f(path);
  std::string word;
  if (!(f >> word)) return otherwise;
  char* end = nullptr;
  const double v = std::strtod(word.c_str(), &end);
  return end != word.c_str() && *end == '\0' ? v : otherwise;
}

// Of `cpus`, those of the faster kind on a CPU with two: Intel's hybrid CPUs (Alder Lake and
// later) list their performance cores in /sys/devices/cpu_core/cpus (the kernel's hybrid PMU,
// Linux 5.13 on); Arm's big.LITTLE gives each CPU a cpu_capacity (1024 for the fastest), and
// the cores with at least half the largest are kept (a phone's prime and big cores, not its
// little ones). `cpus` itself where there is one kind, or nothing says.
std::vector<int> performance_cpus(const std::string& root, const std::vector<int>& cpus) {
  std::vector<int> kept;
  const std::vector<int> p_cores = read_cpu_list(root + "/sys/devices/cpu_core/cpus");
  if (!p_cores.empty()) {
    for (int c : cpus) {
      if (std::find(p_cores.begin(), p_cores.end(), c) != p_cores.end()) kept.push_back(c);
    }
    return kept.empty() ? cpus : kept;
  }
  std::vector<double> capacity;
  for (int c : cpus) {
    capacity.push_back(read_number(root + "/sys/devices/system/cpu/cpu" + std::to_string(c) + "/cpu_capacity", -1));
    if (capacity.back() <= 0) return cpus;
  }
  const double largest = capacity.empty() ? 0 : *std::max_element(capacity.begin(), capacity.end());
  for (size_t i = 0; i < cpus.size(); i++) {
    if (2 * capacity[i] >= largest) kept.push_back(cpus[i]);
  }
  return kept;
}

// The CPUs a CPU-time quota grants this process, whole ones (at least 1), or 0 without one:
// cgroup v2's cpu.max ("200000 100000": quota and period), v1's cpu.cfs_quota_us and
// cpu.cfs_period_us (quota -1: none); the smallest on the way to the root.
int cpu_quota_cpus(const std::string& root) {
  int cpus = 0;
  visit_own_cgroups(root, "cpu", [&](const std::string& dir, bool v2) {
    double quota = -1, period = 0;
    if (v2) {
      std::ifstream f(dir + "/cpu.max");
      std::string q;
      if (f >> q >> period && q != "max") quota = std::strtod(q.c_str(), nullptr);
    } else {
      quota = read_number(dir + "/cpu.cfs_quota_us", -1);
      period = read_number(dir + "/cpu.cfs_period_us", 0);
    }
    if (quota > 0 && period > 0) {
      const int granted = std::max(1, static_cast<int>(quota / period));
      cpus = cpus == 0 ? granted : std::min(cpus, granted);
    }
    return false;  // every level counts
  });
  return cpus;
}

}  // namespace

int linux_compute_core_count(const std::string& root, const std::vector<int>& allowed) {
  const std::string sys = root + "/sys/devices/system/cpu/";
  std::vector<int> cpus;
  for (int c : read_cpu_list(sys + "online")) {
    if (allowed.empty() || std::find(allowed.begin(), allowed.end(), c) != allowed.end()) cpus.push_back(c);
  }
  if (cpus.empty()) cpus = allowed;
  // One thread per core: the hardware threads of a core share its arithmetic units.
  std::set<std::pair<std::string, std::string>> cores;  // (package, core)
  for (int c : performance_cpus(root, cpus)) {
    const std::string topology = sys + "cpu" + std::to_string(c) + "/topology/";
    std::ifstream core(topology + "core_id"), package(topology + "physical_package_id");
    std::string core_id, package_id;
    if (!(core >> core_id && package >> package_id)) core_id = "cpu" + std::to_string(c), package_id = "";
    cores.emplace(package_id, core_id);
  }
  int n = cores.empty() ? hardware_threads() : static_cast<int>(cores.size());
  // Threads beyond a quota are stopped until the next period, and every region waits for them.
  if (const int quota = cpu_quota_cpus(root); quota > 0) n = std::min(n, quota);
  return n;
}
#elif defined(__APPLE__)
uint64_t resident_bytes() {
  mach_task_basic_info_data_t info{};
  mach_msg_type_number_t count = MACH_TASK_BASIC_INFO_COUNT;
  if (task_info(mach_task_self(), MACH_TASK_BASIC_INFO, reinterpret_cast<task_info_t>(&info), &count) != KERN_SUCCESS) return 0;
  return info.resident_size;
}
uint64_t peak_resident_bytes() {
  struct rusage usage {};
  return ::getrusage(RUSAGE_SELF, &usage) == 0 ? static_cast<uint64_t>(usage.ru_maxrss) : 0;  // bytes on macOS
}
uint64_t resident_and_mapped_cache_bytes() { return resident_bytes(); }
bool page_cache_is_charged() { return false; }
void drop_unused_mapped_file_cache() {}
#else
uint64_t resident_bytes() { return 0; }
uint64_t resident_and_mapped_cache_bytes() { return resident_bytes(); }
bool page_cache_is_charged() { return false; }
void drop_unused_mapped_file_cache() {}
uint64_t peak_resident_bytes() {
  struct rusage usage {};
  return ::getrusage(RUSAGE_SELF, &usage) == 0 ? static_cast<uint64_t>(usage.ru_maxrss) * 1024 : 0;
}
#endif

void return_free_memory() {
#if defined(__GLIBC__)
  malloc_trim(0);  // every arena, not only the main heap's top
#endif
}

int compute_core_count() {
#if defined(__linux__)
  cpu_set_t set;
  std::vector<int> allowed;
  if (::sched_getaffinity(0, sizeof set, &set) == 0) {
    for (int c = 0; c < CPU_SETSIZE; c++) {
      if (CPU_ISSET(c, &set)) allowed.push_back(c);
    }
  }
  return linux_compute_core_count("", allowed);
#elif defined(__APPLE__)
  int n = 0;
  size_t len = sizeof n;
  // Apple silicon: the performance cores when the OS says (the efficiency cores slow every barrier down).
  if (::sysctlbyname("hw.perflevel0.physicalcpu", &n, &len, nullptr, 0) == 0 && n > 0) return n;
  len = sizeof n;
  if (::sysctlbyname("hw.physicalcpu", &n, &len, nullptr, 0) == 0 && n > 0) return n;
  return hardware_threads();
#else
  return hardware_threads();
#endif
}

std::string ask_for_interactive_scheduling() {
#if defined(__APPLE__)
  const int error = ::pthread_set_qos_class_self_np(QOS_CLASS_USER_INITIATED, 0);
  return error == 0 ? "QoS class user-initiated" : "QoS class user-initiated refused: " + std::string(std::strerror(error));
#else
  return "the default (Linux has no QoS class)";
#endif
}

bool cpu_has_arm_dotprod() {
#if defined(__linux__) && defined(__aarch64__)
  constexpr unsigned long kHwcapAsimdDp = 1ul << 20;  // HWCAP_ASIMDDP in the kernel's arm64 uapi hwcap.h
  return (::getauxval(AT_HWCAP) & kHwcapAsimdDp) != 0;
#else
  return false;  // macOS builds every NEON kernel with it (Apple's cores all have it)
#endif
}

namespace {

struct sigaction previous_action;
MappedReadFaultHandler fault_handler = nullptr;

void on_sigbus(int sig, siginfo_t* info, void* context) {
  // A fault the kernel raised has si_code > 0 and the address; kill() and friends have neither.
  if (info && info->si_code > 0 && fault_handler) fault_handler(info->si_addr);
  if (previous_action.sa_flags & SA_SIGINFO) {
    previous_action.sa_sigaction(sig, info, context);
  } else if (previous_action.sa_handler != SIG_DFL && previous_action.sa_handler != SIG_IGN) {
    previous_action.sa_handler(sig);
  } else {
    // Back to the previous disposition, then the same signal again: it is blocked while this
    // handler runs, so it is delivered (and the process ends) as soon as the handler returns.
    ::sigaction(SIGBUS, &previous_action, nullptr);
    ::raise(SIGBUS);
  }
}

}  // namespace

void install_mapped_read_fault_handler(MappedReadFaultHandler handler) {
  fault_handler = handler;
  struct sigaction action {};
  action.sa_sigaction = on_sigbus;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGBUS, &action, &previous_action);
}

void write_stderr(const char* text, size_t n) {
  for (size_t done = 0; done < n;) {
    const ssize_t w = ::write(STDERR_FILENO, text + done, n - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    done += static_cast<size_t>(w);
  }
}

void exit_now(int code) { ::_exit(code); }

void block_forever() {
  for (;;) ::pause();
}

}  // namespace st::platform
#endif
