// A GGUF (v2, v3) reader that validates before it allocates. It reads the header, the
// metadata and the tensor infos through a bounded byte source (no tensor data is read), and
// every failure is a GgufError naming the file, the field and the byte offset.
#pragma once
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "platform/platform.h"

#include "ggml_types.h"

namespace st::gguf {

class GgufError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class ValueType : uint32_t {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};
const char* value_type_name(ValueType t);
bool is_integer_type(ValueType t);

// A string from the file as a message shows it: control characters escaped and cut after
// 64 bytes, so an error stays one readable line whatever the file holds; quote() puts it in
// single quotes.
std::string printable(const std::string& s);
std::string quote(const std::string& s);

// One metadata value. Arrays keep their elements in the vector matching their element type,
// so a 151936-entry token list is one vector of strings, not 151936 Values.
struct Value {
  ValueType type = ValueType::UINT8;
  int64_t i = 0;      // integer and bool scalars (UINT64 above INT64_MAX is stored in u)
  uint64_t u = 0;
  double f = 0;       // float scalars
  std::string str;    // STRING

  ValueType array_type = ValueType::UINT8;  // ARRAY: element type
  std::vector<int64_t> ints;                // integer and bool elements
  std::vector<double> floats;               // float elements
  std::vector<std::string> strings;         // string elements
  std::vector<Value> arrays;                // nested arrays

  bool is_integer() const { return is_integer_type(type); }
  bool is_float() const { return type == ValueType::FLOAT32 || type == ValueType::FLOAT64; }
  size_t array_size() const;
};

struct TensorInfo {
  std::string name;
  uint32_t n_dims = 0;
  int64_t ne[4] = {1, 1, 1, 1};  // ggml order: ne[0] is the innermost (contiguous) dimension
  GgmlType type = GgmlType::F32;
  uint64_t offset = 0;        // relative to the data section
  uint64_t file_offset = 0;   // absolute
  uint64_t n_elements = 0;
  uint64_t n_bytes = 0;
  uint64_t info_offset = 0;   // where its tensor info starts in the file (for messages)
};

// Which file, in which state (platform/platform.h): the model compares the file it maps or
// reads with the one whose header was parsed, and later with itself. All zero for memory.
using FileIdentity = platform::FileIdentity;

// Where the bytes come from: a file read in bounded chunks, or memory (the fuzzer).
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual uint64_t size() const = 0;
  // Copies n bytes at `offset`; the caller has checked the range.
  virtual void read(uint64_t offset, void* dst, size_t n) = 0;
  virtual FileIdentity identity() const { return {}; }
};

std::unique_ptr<ByteSource> open_file_source(const std::string& path);          // throws GgufError
std::unique_ptr<ByteSource> memory_source(const uint8_t* data, size_t size);   // not owning

// Bounds that keep a hostile header from costing more than a real file would.
struct ReaderLimits {
  uint64_t max_tensors = 1 << 16;
  uint64_t max_kv = 1 << 16;
  uint64_t max_array_elements_total = 4u << 20;  // a 152k vocabulary + merges needs ~0.5M
  uint64_t max_string_bytes_total = 256u << 20;
  uint32_t max_array_depth = 4;
  // What the parsed header may take in memory, counted before each allocation: a Value per
  // metadata entry and per nested array element, a std::string object plus its bytes per
  // string, 8 bytes per number in an array, a TensorInfo per tensor, an index entry per key
  // and tensor name. Few bytes in the file can cost many here (an empty nested array is 12
  // bytes on disk and a whole Value parsed). The real Qwen2 vocabulary of the SmallThinker
  // files (151,936 tokens, 151,387 merges, token types) counts 13.2 MiB (and the whole
  // process peaks at 15 MiB parsing it), so 64 MiB leaves a margin of almost 5x.
  uint64_t max_parsed_bytes = 64u << 20;
};

class GgufFile {
 public:
  // Parses and validates; `name` is used in error messages (usually the path).
  static GgufFile parse(ByteSource& source, const std::string& name, const ReaderLimits& limits = {});
  static GgufFile open(const std::string& path, const ReaderLimits& limits = {});

  uint32_t version() const { return version_; }
  uint64_t file_size() const { return file_size_; }
  uint64_t data_offset() const { return data_offset_; }
  uint32_t alignment() const { return alignment_; }
  const std::string& name() const { return name_; }
  // What the parsed header takes in memory, as ReaderLimits::max_parsed_bytes counts it.
  uint64_t parsed_bytes() const { return parsed_bytes_; }
  // The file as it was when parsed (all zero when parsed from memory).
  const FileIdentity& identity() const { return identity_; }

  const std::vector<std::pair<std::string, Value>>& metadata() const { return kv_; }
  const Value* find(const std::string& key) const;
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(const std::string& name) const;

 private:
  std::string name_;
  uint32_t version_ = 0;
  uint64_t file_size_ = 0;
  uint64_t data_offset_ = 0;
  uint32_t alignment_ = 32;
  uint64_t parsed_bytes_ = 0;
  FileIdentity identity_;
  std::vector<std::pair<std::string, Value>> kv_;
  std::unordered_map<std::string, size_t> kv_index_;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, size_t> tensor_index_;
};

}  // namespace st::gguf
