// Explicit reads of a model file for the memory-budget mode: O_DIRECT where the file system
// allows it, so what we read never lands in the page cache (which a memory cgroup charges to
// us), and buffered reads followed by "drop these pages" where it does not.
#pragma once
#include <cstddef>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gguf/gguf_reader.h"

namespace st {

// Memory aligned for O_DIRECT (4096 bytes), obtained with mmap so it is returned to the
// system on release and its resident size is exactly what was touched.
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t bytes);
  ~AlignedBuffer();
  AlignedBuffer(AlignedBuffer&& o) noexcept;
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

class FileReader {
 public:
  static constexpr size_t kAlign = 4096;

  explicit FileReader(const std::string& path);
  ~FileReader();

  // Bytes a read of [offset, offset + len) occupies in a buffer: the aligned span around it.
  static size_t span_bytes(uint64_t offset, size_t len);
  // Reads [offset, offset + len) into `dst` (kAlign-aligned, at least span_bytes() long) and
  // returns where the first requested byte landed inside it. Throws with the path on error.
  const uint8_t* read(uint64_t offset, size_t len, uint8_t* dst);

  bool direct() const { return use_direct_.load(std::memory_order_relaxed); }
  const std::string& path() const { return path_; }
  gguf::FileIdentity identity() const { return gguf::FileIdentity::of(buffered_fd_); }

 private:
  void read_buffered(uint64_t offset, size_t len, uint8_t* dst);

  std::string path_;
  int direct_fd_ = -1;  // O_DIRECT, when the file system accepts it
  int buffered_fd_ = -1;
  std::atomic<bool> use_direct_{false};  // cleared for good after the first EINVAL
};

}  // namespace st
