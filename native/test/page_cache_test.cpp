// What a memory cgroup charges this process for files (sanitize-and-fuzz.sh, Linux): the
// measure the memory plan's baseline takes under such a limit counts the page cache behind a
// mapped file, not only the pages touched, and the plan first drops the part no one maps;
// parsing a GGUF header leaves none of the header's pages in the page cache.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "gguf/gguf_reader.h"
#include "platform/platform.h"
#include "check.h"

constexpr size_t kMiB = 1 << 20;

// Writes `bytes` to a new file in the temp directory, on disk and in the page cache (clean).
static std::string write_cached_file(const std::string& name, const std::vector<uint8_t>& bytes) {
  const char* dir = std::getenv("TMPDIR");
  const std::string path = std::string(dir && *dir ? dir : "/tmp") + "/" + name + "-" + std::to_string(::getpid());
  const int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_RDWR, 0600);
  if (fd < 0 || ::write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size()) || ::fsync(fd) != 0) {
    std::printf("FAIL: cannot write %s\n", path.c_str());
    std::exit(1);
  }
  std::vector<uint8_t> back(bytes.size());  // read back: every page cached and clean
  if (::pread(fd, back.data(), back.size(), 0) != static_cast<ssize_t>(back.size())) std::exit(1);
  ::close(fd);
  return path;
}

// Pages of [0, bytes) of the file at `path` in the page cache.
static size_t cached_pages(const std::string& path, size_t bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  void* p = ::mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd, 0);
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> present((bytes + page - 1) / page);
  ::mincore(p, bytes, present.data());
  ::munmap(p, bytes);
  ::close(fd);
  size_t n = 0;
  for (unsigned char v : present) n += v & 1;
  return n;
}

static void mapped_cache_counts_a_mapped_files_cache() {
  const std::string path = write_cached_file("st-charged", std::vector<uint8_t>(16 * kMiB, 7));
  const uint64_t charged0 = st::platform::resident_and_mapped_cache_bytes(), resident0 = st::platform::resident_bytes();
  const int fd = ::open(path.c_str(), O_RDONLY);
  auto* p = static_cast<volatile const uint8_t*>(::mmap(nullptr, 16 * kMiB, PROT_READ, MAP_SHARED, fd, 0));
  const uint8_t first = p[0];  // one page touched
  const uint64_t charged1 = st::platform::resident_and_mapped_cache_bytes(), resident1 = st::platform::resident_bytes();
  check(first == 7, "the mapping reads the file");
  check(charged1 >= charged0 + 15 * kMiB, "resident + mapped cache counts all 16 MiB of the mapped file's cache (grew by " +
                                              std::to_string((charged1 - charged0) / kMiB) + " MiB)");
  check(resident1 < resident0 + 8 * kMiB, "while the resident set grew by much less (" + std::to_string((resident1 - resident0) / 1024) + " KiB)");
  ::munmap(const_cast<uint8_t*>(p), 16 * kMiB);
  ::close(fd);
  ::unlink(path.c_str());
}

static void put_u32(std::vector<uint8_t>& b, uint32_t v) { b.insert(b.end(), reinterpret_cast<uint8_t*>(&v), reinterpret_cast<uint8_t*>(&v) + 4); }
static void put_u64(std::vector<uint8_t>& b, uint64_t v) { b.insert(b.end(), reinterpret_cast<uint8_t*>(&v), reinterpret_cast<uint8_t*>(&v) + 8); }
static void put_str(std::vector<uint8_t>& b, const std::string& s) {
  put_u64(b, s.size());
  b.insert(b.end(), s.begin(), s.end());
}

static void parsing_a_header_drops_its_pages() {
  // A header of about 6 MiB (a large vocabulary's string array, no tensors), then 8 MiB of
  // other bytes, as tensor data would follow.
  std::vector<uint8_t> file;
  put_u32(file, 0x46554747);  // "GGUF"
  put_u32(file, 3);
  put_u64(file, 0);  // tensors
  put_u64(file, 1);  // metadata entries
  put_str(file, "tokenizer.ggml.tokens");
  put_u32(file, 9);  // array
  put_u32(file, 8);  // of strings
  const uint64_t n = 300000;
  put_u64(file, n);
  for (uint64_t i = 0; i < n; i++) put_str(file, "token-" + std::to_string(i));
  const size_t header = file.size();
  file.resize(header + 8 * kMiB, 1);
  const std::string path = write_cached_file("st-header", file);
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  check(cached_pages(path, file.size()) * page >= file.size() - page, "the file starts in the page cache");

  const st::gguf::GgufFile parsed = st::gguf::GgufFile::open(path);
  const auto* tokens = parsed.find("tokenizer.ggml.tokens");
  check(tokens != nullptr, "the header parses");
  // The page cache drops whole folios only: the one holding the header's end may stay (up to
  // 2 MiB on ext4's large folios), the rest of the header goes.
  const size_t header_pages_left = cached_pages(path, header);
  check(header_pages_left * page <= 2 * kMiB,
        "at most the header's last 2 MiB stay cached after parsing (" + std::to_string(header_pages_left) + " pages did)");
  // Read-ahead was off, and what was not read is not dropped: the data after the header stays.
  const size_t data_pages = cached_pages(path, file.size()) - header_pages_left;
  check(data_pages * page >= 7 * kMiB, "the data after the header keeps its cache (" + std::to_string(data_pages) + " pages)");
  ::unlink(path.c_str());
}

// Runs `inside` in a memory cgroup with a 1 GiB limit (cgroup v1, as root: the memory
// benchmark's setting), then moves this process back to the root cgroup. False where no such
// cgroup can be made here.
template <typename Fn>
static bool in_limited_cgroup(Fn inside) {
  const std::string root = "/sys/fs/cgroup/memory";
  const std::string dir = root + "/st-page-cache-test-" + std::to_string(::getpid());
  if (::access((root + "/cgroup.procs").c_str(), W_OK) != 0 || ::mkdir(dir.c_str(), 0755) != 0) return false;
  auto write = [](const std::string& file, const std::string& value) {
    FILE* f = std::fopen(file.c_str(), "w");
    bool ok = f && std::fputs(value.c_str(), f) >= 0;
    if (f) ok &= std::fclose(f) == 0;
    return ok;
  };
  const std::string pid = std::to_string(::getpid());
  check(write(dir + "/memory.limit_in_bytes", std::to_string(1ull << 30)) && write(dir + "/cgroup.procs", pid), "joins a 1 GiB cgroup");
  inside();
  write(root + "/cgroup.procs", pid);
  ::rmdir(dir.c_str());
  return true;
}

// In a memory cgroup with a limit the page cache counts; moved back to the root cgroup,
// whatever held before holds again.
static void a_limited_cgroup_charges_page_cache() {
  const bool outside = st::platform::page_cache_is_charged();
  if (!in_limited_cgroup([] { check(st::platform::page_cache_is_charged(), "a 1 GiB memory cgroup charges page cache"); })) {
    std::printf("(no writable cgroup-v1 memory controller here: the limited-cgroup cases are not checked)\n");
    return;
  }
  check(st::platform::page_cache_is_charged() == outside, "back in the root cgroup, as before");
}

// What the memory plan does before it measures its baseline: of a mapped file's page cache, the
// pages no page table maps go (read-ahead never used), the pages in use stay; and only where
// such a limit charges the page cache to this process.
static void unused_cache_of_mapped_files_is_dropped_under_a_limit() {
  const std::string path = write_cached_file("st-unused", std::vector<uint8_t>(16 * kMiB, 7));
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const int fd = ::open(path.c_str(), O_RDONLY);
  auto* p = static_cast<volatile const uint8_t*>(::mmap(nullptr, 16 * kMiB, PROT_READ, MAP_SHARED, fd, 0));
  const uint8_t first = p[0], last = p[16 * kMiB - 1];  // the first and last pages in use
  check(first == 7 && last == 7, "the mapping reads the file");
  if (!st::platform::page_cache_is_charged()) {
    st::platform::drop_unused_mapped_file_cache();
    check(cached_pages(path, 16 * kMiB) * page >= 16 * kMiB - page, "without a limit nothing is dropped");
  }
  const bool checked = in_limited_cgroup([&] {
    const uint64_t charged0 = st::platform::resident_and_mapped_cache_bytes();
    st::platform::drop_unused_mapped_file_cache();
    const uint64_t charged1 = st::platform::resident_and_mapped_cache_bytes();
    // Whole folios only (as above): up to 2 MiB around each page in use may stay.
    const size_t left = cached_pages(path, 16 * kMiB) * page;
    check(left <= 4 * kMiB, "the pages no one maps are dropped (" + std::to_string(left / 1024) + " KiB stay cached)");
    check(charged1 + 12 * kMiB <= charged0, "and the charged measure falls with them (by " + std::to_string((int64_t(charged0) - int64_t(charged1)) / int64_t(kMiB)) + " MiB)");
    std::vector<unsigned char> present(1);
    ::mincore(const_cast<uint8_t*>(p), page, present.data());
    check(present[0] & 1, "the page in use stays");
  });
  if (!checked) std::printf("(no writable cgroup-v1 memory controller here: dropping under a limit is not checked)\n");
  ::munmap(const_cast<uint8_t*>(p), 16 * kMiB);
  ::close(fd);
  ::unlink(path.c_str());
}

// A KV cache commits the rows it is about to write in one call (kv_cache.h says why): the pages
// of the range become resident without a write, and the pages around it do not.
static void populating_for_writing_commits_just_the_range() {
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE)), pages = 64;
  auto* p = static_cast<uint8_t*>(::mmap(nullptr, pages * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  check(p != MAP_FAILED, "anonymous pages");
  st::platform::advise_small_pages(p, pages * page);
  // From the middle of page 10 to the middle of page 13: pages 10 to 13, partly covered ones included.
  st::platform::populate_for_writing(p + 10 * page + 100, 3 * page);
  std::vector<unsigned char> present(pages);
  ::mincore(p, pages * page, present.data());
  std::string resident;
  for (size_t i = 0; i < pages; i++) if (present[i] & 1) resident += std::to_string(i) + " ";
  check(resident == "10 11 12 13 ", "pages 10-13 resident, no other (resident: " + resident + ")");
  check(p[10 * page + 100] == 0 && p[13 * page] == 0, "and still zero");
  ::munmap(p, pages * page);
}

int main() {
  populating_for_writing_commits_just_the_range();
  a_limited_cgroup_charges_page_cache();
  unused_cache_of_mapped_files_is_dropped_under_a_limit();
  mapped_cache_counts_a_mapped_files_cache();
  parsing_a_header_drops_its_pages();
  std::printf("page cache: %d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
