#include "file_reader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <string>
#include <utility>

namespace st {

AlignedBuffer::AlignedBuffer(size_t bytes) : size_(bytes) {
  if (bytes == 0) return;
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::runtime_error("cannot allocate " + std::to_string(bytes >> 20) + " MiB: " + std::strerror(errno));
  data_ = static_cast<uint8_t*>(p);
}

AlignedBuffer::~AlignedBuffer() {
  if (data_) ::munmap(data_, size_);
}

AlignedBuffer::AlignedBuffer(AlignedBuffer&& o) noexcept : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}

AlignedBuffer& AlignedBuffer::operator=(AlignedBuffer&& o) noexcept {
  if (this != &o) {
    if (data_) ::munmap(data_, size_);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
  }
  return *this;
}

FileReader::FileReader(const std::string& path) : path_(path) {
  buffered_fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (buffered_fd_ < 0) throw std::runtime_error(path + ": cannot open: " + std::strerror(errno));
#ifdef O_DIRECT
  direct_fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT);  // tmpfs and some others refuse it
  if (direct_fd_ >= 0 && gguf::FileIdentity::of(direct_fd_) != gguf::FileIdentity::of(buffered_fd_)) {
    ::close(direct_fd_);  // the path names another file than a moment ago: read only the first
    direct_fd_ = -1;
  }
  use_direct_.store(direct_fd_ >= 0);
#endif
}

FileReader::~FileReader() {
  if (direct_fd_ >= 0) ::close(direct_fd_);
  if (buffered_fd_ >= 0) ::close(buffered_fd_);
}

size_t FileReader::span_bytes(uint64_t offset, size_t len) {
  const uint64_t begin = offset / kAlign * kAlign;
  const uint64_t end = (offset + len + kAlign - 1) / kAlign * kAlign;
  return static_cast<size_t>(end - begin);
}

// Reads up to len bytes; returns how many there were before the end of the file.
static size_t pread_all(int fd, uint8_t* dst, size_t len, uint64_t offset, const std::string& path) {
  size_t done = 0;
  while (done < len) {
    const ssize_t n = ::pread(fd, dst + done, len - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::system_error(errno, std::generic_category(), path + ": read failed");
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

static void check_complete(size_t got, size_t need, uint64_t offset, const std::string& path) {
  if (got < need) {
    throw std::runtime_error(path + ": unexpected end of file at byte " + std::to_string(offset + got) +
                             " (was the file truncated or replaced?)");
  }
}

const uint8_t* FileReader::read(uint64_t offset, size_t len, uint8_t* dst) {
  const uint64_t begin = offset / kAlign * kAlign;
  const size_t span = span_bytes(offset, len);
  if (use_direct_.load(std::memory_order_relaxed)) {
    try {
      // The aligned span may run past the end of the file; the requested bytes may not.
      const size_t got = pread_all(direct_fd_, dst, span, begin, path_);
      check_complete(got, static_cast<size_t>(offset - begin) + len, begin, path_);
      return dst + (offset - begin);
    } catch (const std::system_error& e) {
      if (e.code().value() != EINVAL) throw;
      use_direct_.store(false);  // this file system takes O_DIRECT opens but not our reads
    }
  }
  read_buffered(offset, len, dst + (offset - begin));
  return dst + (offset - begin);
}

void FileReader::read_buffered(uint64_t offset, size_t len, uint8_t* dst) {
  check_complete(pread_all(buffered_fd_, dst, len, offset, path_), len, offset, path_);
  // We keep our own copy: drop the file's pages so the page cache does not grow behind the
  // memory budget's back.
  ::posix_fadvise(buffered_fd_, static_cast<off_t>(offset), static_cast<off_t>(len), POSIX_FADV_DONTNEED);
}

}  // namespace st
