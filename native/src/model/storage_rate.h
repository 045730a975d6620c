// How fast this machine's storage serves the reads a memory budget makes: random, aligned
// reads of one expert's size from the model file, bypassing the page cache the way the expert
// cache's I/O threads read. The memory benchmark prints it beside its tables (an expert miss
// costs what this storage makes it cost), and paces a second process with it to measure what
// reads cost a computation that reads nothing (docs/benchmarks.md).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace st {

struct StorageReadResult {
  uint64_t bytes = 0;      // read in all
  uint64_t reads = 0;
  double seconds = 0;      // wall time from the first read to the last one's end
  bool direct = false;     // whether the reads bypassed the page cache
};

// `threads` threads read `chunk_bytes` (rounded up to 4096) at random 4096-aligned offsets of
// `path` for `seconds`; with `pace_bytes_per_s` > 0 they together read no faster than that,
// sleeping between reads. Throws std::runtime_error naming the path when it cannot be read or
// is smaller than one chunk, std::invalid_argument for arguments out of range.
StorageReadResult measure_storage_reads(const std::string& path, size_t chunk_bytes, int threads, double seconds,
                                        double pace_bytes_per_s);

}  // namespace st
