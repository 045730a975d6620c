// Which model files are mapped where, for the addon's fault handler: when a file shrinks
// under its mapping, reading a lost page faults (SIGBUS; an in-page error on Windows), and
// the handler looks the faulting address up here to name the file. Updated on map and unmap; the lookup is
// async-signal-safe (fixed slots of atomics and inline paths: no locks, no allocation).
#pragma once
#include <cstddef>
#include <string>

namespace st::mapped_files {

// More live mappings than slots (sessions not yet garbage-collected count too) are not
// covered: their fault stays a plain crash.
constexpr int kSlots = 64;
constexpr size_t kMaxPathBytes = 1024;  // longer paths are cut

// Records [begin, begin + size) as a mapping of `path`; returns its slot, or -1 when every
// slot is taken.
int add(const void* begin, size_t size, const std::string& path);
// Forgets a slot add() returned (before the range is unmapped); -1 is ignored.
void remove(int slot);

// Async-signal-safe: the path (NUL-terminated, as printable_path() gives it) of the recorded
// mapping that contains `addr`, or nullptr.
const char* find(const void* addr);

// A path as the report prints it on one line: control characters replaced by '?', at most
// kMaxPathBytes - 1 bytes.
std::string printable_path(const std::string& path);

}  // namespace st::mapped_files
