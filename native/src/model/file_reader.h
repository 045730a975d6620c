// Explicit reads of a model file for the memory-budget mode: reads that bypass the page cache
// where the file system allows it (O_DIRECT, F_NOCACHE, unbuffered on Windows), so what we
// read never lands in the page cache (which a memory cgroup charges to us), and buffered reads
// followed by "drop these pages" where it does not.
#pragma once
#include <cstddef>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gguf/gguf_reader.h"
#include "platform/platform.h"

namespace st {

// Memory aligned for reads that bypass the cache (4096 bytes), straight from the OS
// (platform::allocate_pages), so it is returned on release and its resident size is exactly
// what was touched.
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
  static constexpr size_t kAlign = platform::File::kDirectAlign;

  explicit FileReader(const std::string& path);
  virtual ~FileReader() = default;

  // Bytes a read of [offset, offset + len) occupies in a buffer: the aligned span around it.
  static size_t span_bytes(uint64_t offset, size_t len);
  // Reads [offset, offset + len) into `dst` (kAlign-aligned, at least span_bytes() long) and
  // returns where the first requested byte landed inside it. Throws with the path on error.
  // Virtual so that a test can hold the expert cache's reads (expert_cache_test.cpp).
  virtual const uint8_t* read(uint64_t offset, size_t len, uint8_t* dst);

  bool direct() const { return use_direct_.load(std::memory_order_relaxed); }
  const std::string& path() const { return path_; }
  gguf::FileIdentity identity() const { return buffered_.identity(); }

 private:
  void read_buffered(uint64_t offset, size_t len, uint8_t* dst);

  std::string path_;
  platform::File direct_;  // bypassing the cache, when the file system accepts it
  platform::File buffered_;
  std::atomic<bool> use_direct_{false};  // cleared for good after the first refused read
};

}  // namespace st
