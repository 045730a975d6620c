#include "file_reader.h"

#include <stdexcept>
#include <string>
#include <utility>

namespace st {

AlignedBuffer::AlignedBuffer(size_t bytes) : size_(bytes) {
  if (bytes > 0) data_ = static_cast<uint8_t*>(platform::allocate_pages(bytes));
}

AlignedBuffer::~AlignedBuffer() { platform::free_pages(data_, size_); }

AlignedBuffer::AlignedBuffer(AlignedBuffer&& o) noexcept : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}

AlignedBuffer& AlignedBuffer::operator=(AlignedBuffer&& o) noexcept {
  if (this != &o) {
    platform::free_pages(data_, size_);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
  }
  return *this;
}

FileReader::FileReader(const std::string& path)
    : path_(path), direct_(path, platform::File::Caching::bypass), buffered_(path, platform::File::Caching::normal) {
  // tmpfs and some others refuse the bypassing open; and the path may name another file than
  // a moment ago: then read only through the first.
  if (direct_.is_open() && direct_.identity() != buffered_.identity()) direct_ = platform::File();
  use_direct_.store(direct_.is_open());
}

size_t FileReader::span_bytes(uint64_t offset, size_t len) {
  const uint64_t begin = offset / kAlign * kAlign;
  const uint64_t end = (offset + len + kAlign - 1) / kAlign * kAlign;
  return static_cast<size_t>(end - begin);
}

// Reads up to len bytes; returns how many there were before the end of the file.
static size_t read_all(const platform::File& file, uint8_t* dst, size_t len, uint64_t offset, const std::string& path) {
  try {
    return file.read_at(offset, dst, len);
  } catch (const platform::ReadError& e) {
    if (e.refused_alignment) throw;
    throw std::runtime_error(path + ": " + e.what());
  }
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
      const size_t got = read_all(direct_, dst, span, begin, path_);
      check_complete(got, static_cast<size_t>(offset - begin) + len, begin, path_);
      return dst + (offset - begin);
    } catch (const platform::ReadError&) {
      use_direct_.store(false);  // this file system takes bypassing opens but not our reads
    }
  }
  read_buffered(offset, len, dst + (offset - begin));
  return dst + (offset - begin);
}

void FileReader::read_buffered(uint64_t offset, size_t len, uint8_t* dst) {
  check_complete(read_all(buffered_, dst, len, offset, path_), len, offset, path_);
  // We keep our own copy: drop the file's pages so the page cache does not grow behind the
  // memory budget's back.
  buffered_.drop_cached(offset, len);
}

}  // namespace st
