// What the engine needs from the operating system, in one place: opening, reading and mapping
// files, page-granular memory, the process's memory use, the machine's cores, and a hook for
// reads of a mapped file that fail. Nothing outside native/src/platform/ includes an OS header;
// platform_posix.cpp implements this for Linux and macOS, platform_windows.cpp for Windows.
// Paths are UTF-8 everywhere (Windows converts them to UTF-16 for its wide-character calls, so
// user folders with spaces and non-ASCII names work).
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace st::platform {

// Which file a handle reads, compared when a file is opened twice (the second open must see the
// file whose header was parsed) and later with itself (a file rewritten in place since loading
// is noticed). All zero for memory, or when the OS cannot say.
struct FileIdentity {
  uint64_t device = 0;
  uint64_t inode = 0;  // the file index on Windows
  uint64_t size = 0;
  int64_t modified_ns = 0;

  bool operator==(const FileIdentity& o) const {
    return device == o.device && inode == o.inode && size == o.size && modified_ns == o.modified_ns;
  }
  bool operator!=(const FileIdentity& o) const { return !(*this == o); }
};

// A regular file opened read-only. Moves, does not copy; closes on destruction. Other processes
// may still rename, replace or delete the file while it is open (as POSIX allows; Windows is
// asked for the same sharing), which is how a download replaces a model in use.
class File {
 public:
  enum class Caching {
    normal,
    // Reads bypass the page cache (O_DIRECT on Linux, F_NOCACHE on macOS, no buffering on
    // Windows). Offsets, lengths and buffers must then be multiples of kDirectAlign. Such an
    // open may fail where a normal one succeeds (tmpfs, some network file systems): check
    // is_open().
    bypass,
  };
  static constexpr size_t kDirectAlign = 4096;

  File() = default;
  // Throws std::runtime_error naming the path when a normal open fails or the path is not a
  // regular file; a bypassing open that fails leaves the File closed instead.
  File(const std::string& path, Caching caching);
  ~File();
  File(File&& o) noexcept;
  File& operator=(File&& o) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  bool is_open() const;
  uint64_t size() const;  // as fstat says now
  FileIdentity identity() const;

  // Reads up to n bytes at `offset` into dst; returns how many there were before the end of the
  // file. Throws ReadError on failure.
  size_t read_at(uint64_t offset, void* dst, size_t n) const;
  // A hint that [offset, offset + n) will not be read again through the page cache: it may drop
  // those pages (Linux does; elsewhere nothing happens).
  void drop_cached(uint64_t offset, uint64_t n) const;
  // A hint that reads will not run on sequentially: no read-ahead, so the page cache holds only
  // what was read (Linux's read-ahead reaches 8 MiB past a read on some disks).
  void advise_no_read_ahead() const;

 private:
  friend class FileMapping;
  intptr_t handle_ = -1;  // a file descriptor, or a Windows HANDLE
};

// A failed read. `refused_alignment` says the OS refused a bypassing read for its alignment or
// size (EINVAL, ERROR_INVALID_PARAMETER): the caller may read again through the cache.
struct ReadError : std::runtime_error {
  ReadError(const std::string& what, bool refused_alignment) : std::runtime_error(what), refused_alignment(refused_alignment) {}
  bool refused_alignment;
};

// A whole file mapped read-only and shared: pages are read on first touch and the OS may drop
// them under pressure. Throws std::runtime_error naming the path when it cannot.
class FileMapping {
 public:
  explicit FileMapping(const std::string& path);
  ~FileMapping();
  FileMapping(const FileMapping&) = delete;
  FileMapping& operator=(const FileMapping&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const File& file() const { return file_; }

 private:
  File file_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  intptr_t mapping_ = 0;  // the section handle on Windows
};

// The share, from 0 to 1, of the pages behind [p, p + bytes) of a file mapping that the page
// cache holds now (mincore on Linux and macOS). 1 where the OS cannot say (Windows), so that
// a caller choosing between a copy from the cache and a read from storage keeps the first.
double cached_share(const void* p, size_t bytes);

// Zeroed memory straight from the OS, aligned to at least File::kDirectAlign, returned to the OS
// by free_pages (so the resident size is what was touched). Throws std::runtime_error when the
// OS refuses.
void* allocate_pages(size_t bytes);
void free_pages(void* p, size_t bytes);
// Asks for large pages behind [p, p + bytes) where the OS gives them without privileges
// (transparent huge pages on Linux); elsewhere nothing happens, and everything works the same.
void advise_large_pages(void* p, size_t bytes);
// The opposite, for memory that fills a little at a time (a KV cache): small pages, so that a
// first write commits and zeroes 4 KiB, not 2 MiB (where the system makes huge pages by default).
void advise_small_pages(void* p, size_t bytes);
// Commits the pages behind [p, p + bytes) for writing now, in one call, rather than a page
// fault at each page's first write (Linux 5.14's MADV_POPULATE_WRITE; an older kernel refuses
// it and the writes fault as before). Elsewhere nothing happens.
void populate_for_writing(void* p, size_t bytes);

// The process's resident memory now and at its peak, in bytes; 0 where the OS cannot say.
uint64_t resident_bytes();
uint64_t peak_resident_bytes();
// Whether a memory limit that charges page cache to the process that read it applies to this
// process: a Linux memory cgroup with a limit, on this process's cgroup or one above it (a
// container's, a `systemd-run -p MemoryMax=`'s, the memory benchmark's). False elsewhere.
bool page_cache_is_charged();
// The anonymous resident memory plus the page cache of every file the process maps (its
// executable and libraries, as much of them as read-ahead cached, not only the pages it
// touched): what such a limit counts of this process. The resident memory where the OS cannot
// say more.
uint64_t resident_and_mapped_cache_bytes();
// Where page_cache_is_charged: drops the page cache of the files this process maps (its
// executable and libraries) that no process has mapped in, the read-ahead it never used, which
// such a limit charges to this process; pages in use stay. Nothing elsewhere.
void drop_unused_mapped_file_cache();

// Hands memory the C library's allocator keeps after large frees back to the OS (glibc keeps
// it in its arenas), so releasing a model shows in the resident set at once.
void return_free_memory();

// The cores the engine's compute threads should run on, its default thread count (at least 1):
// - physical cores, not hardware threads (a core's two threads share its arithmetic units);
// - on CPUs with two kinds of cores (Intel's since Alder Lake, Apple silicon, Arm's
//   big.LITTLE) the performance cores only: every parallel region waits for its slowest thread;
// - only those this process may run on (Linux: `taskset`, a container's cpuset);
// - no more than a CPU-time quota grants, in whole CPUs (Linux: a container's `--cpus`, a
//   cgroup's cpu.max): threads beyond it stand still until the quota's next period.
// Falls back to the hardware threads where the OS says nothing.
int compute_core_count();
#if defined(__linux__)
// compute_core_count on Linux, from the files under `root` ("" for this machine's /sys and
// /proc) for a process allowed to run on the CPUs numbered in `allowed` (empty: any); its own
// function so that tests can describe a machine.
int linux_compute_core_count(const std::string& root, const std::vector<int>& allowed);
#endif

// Tells the OS that this thread computes what the user is waiting for, so that it runs on
// the performance cores at full clock rather than where the OS puts background work:
// - macOS: the user-initiated QoS class. Threads left in the default class that compute for
//   minutes are moved to Apple silicon's efficiency cores (reported of other thread pools),
//   and every parallel region then waits for the slowest thread.
// - Windows: the process opts out of execution-speed power throttling (EcoQoS). Windows gives
//   full speed to windows in the foreground and to processes that say so; an invisible window
//   and background work get the efficient clock and, on hybrid Intel CPUs, the efficiency
//   cores when on battery. The engine has no window of its own.
// - Linux: nothing to ask; its scheduler has no such class.
// Returns what was asked and what the OS answered, for the session's info ("" never); a
// refusal changes nothing else. Cheap enough to call when a thread starts.
std::string ask_for_interactive_scheduling();

// Whether an arm64 CPU has the int8 dot-product instructions (SDOT/UDOT, ARMv8.2's optional
// DotProd, which the Linux kernel reports as asimddp): false elsewhere, and where the OS
// cannot say.
bool cpu_has_arm_dotprod();

// Reads of a mapped file whose pages are gone (the file shrank under its mapping) fault: SIGBUS
// on POSIX, EXCEPTION_IN_PAGE_ERROR on Windows. The handler gets the faulting address; when it
// returns (the address is not one it knows), the fault goes on as before it was installed (by
// default the process dies). It runs in a signal handler or an exception filter: it may only
// call the async-signal-safe functions below and use lock-free atomics. Installed once.
using MappedReadFaultHandler = void (*)(const void* address);
void install_mapped_read_fault_handler(MappedReadFaultHandler handler);
// Async-signal-safe: writes the bytes to standard error as one write, ends the process at once
// with `code`, or blocks this thread for good.
void write_stderr(const char* text, size_t n);
[[noreturn]] void exit_now(int code);
[[noreturn]] void block_forever();

}  // namespace st::platform
