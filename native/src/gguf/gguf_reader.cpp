#include "gguf_reader.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <utility>

namespace st::gguf {

const char* value_type_name(ValueType t) {
  switch (t) {
    case ValueType::UINT8: return "uint8";
    case ValueType::INT8: return "int8";
    case ValueType::UINT16: return "uint16";
    case ValueType::INT16: return "int16";
    case ValueType::UINT32: return "uint32";
    case ValueType::INT32: return "int32";
    case ValueType::FLOAT32: return "float32";
    case ValueType::BOOL: return "bool";
    case ValueType::STRING: return "string";
    case ValueType::ARRAY: return "array";
    case ValueType::UINT64: return "uint64";
    case ValueType::INT64: return "int64";
    case ValueType::FLOAT64: return "float64";
  }
  return "unknown";
}

bool is_integer_type(ValueType t) {
  switch (t) {
    case ValueType::UINT8: case ValueType::INT8: case ValueType::UINT16: case ValueType::INT16:
    case ValueType::UINT32: case ValueType::INT32: case ValueType::UINT64: case ValueType::INT64:
      return true;
    default:
      return false;
  }
}

std::string printable(const std::string& s) {
  static const char kHex[] = "0123456789abcdef";
  // Cut after 64 bytes, at a character boundary (not inside a UTF-8 sequence).
  size_t cut = std::min<size_t>(s.size(), 64);
  while (cut > 0 && cut < s.size() && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) cut--;
  std::string out;
  for (size_t i = 0; i < cut; i++) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c == '\\' || c == '\'') out += {'\\', static_cast<char>(c)};
    else if (c < 0x20 || c == 0x7f) out += {'\\', 'x', kHex[c >> 4], kHex[c & 15]};
    else out += static_cast<char>(c);
  }
  return cut < s.size() ? out + "..." : out;
}

std::string quote(const std::string& s) { return "'" + printable(s) + "'"; }

size_t Value::array_size() const {
  return ints.size() + floats.size() + strings.size() + arrays.size();
}

namespace {

// ---- byte sources -------------------------------------------------------------------------

class FileSource : public ByteSource {
 public:
  // The header is read in 64 KiB windows without the kernel's read-ahead, and once its bytes
  // live in the parsed structures its page cache goes: a memory cgroup charges that cache to
  // this process, outside any memory plan (6 MiB on the 4B with its vocabulary, and 8 MiB
  // more of tensor data where read-ahead is 8 MiB; docs/memory.md). Only the bytes the parser
  // asked for go, so that a warm model file stays warm for the load that follows; the last
  // window's overrun into the first tensor's data (at most 64 KiB) stays cached, where the
  // load reads it next. (The kernel drops whole pages only, so the page the header shares
  // with the data stays too.)
  explicit FileSource(platform::File file) : file_(std::move(file)), size_(file_.size()), identity_(file_.identity()) {
    file_.advise_no_read_ahead();
  }
  ~FileSource() override {
    if (parsed_end_ > 0) file_.drop_cached(0, parsed_end_);
  }
  uint64_t size() const override { return size_; }
  FileIdentity identity() const override { return identity_; }
  void read(uint64_t offset, void* dst, size_t n) override {
    // Small header reads go through a window so parsing a 150k-token vocabulary costs a
    // hundred system calls, not 450k.
    parsed_end_ = std::max(parsed_end_, offset + n);
    if (n <= kWindow / 4) {
      if (offset < win_start_ || offset + n > win_start_ + win_.size()) fill(offset);
      std::memcpy(dst, win_.data() + (offset - win_start_), n);
      return;
    }
    read_all(offset, static_cast<uint8_t*>(dst), n);
  }

 private:
  static constexpr size_t kWindow = 64 << 10;
  void fill(uint64_t offset) {
    const uint64_t n = std::min<uint64_t>(kWindow, size_ - offset);
    win_.resize(n);
    read_all(offset, win_.data(), n);
    win_start_ = offset;
  }
  void read_all(uint64_t offset, uint8_t* dst, size_t n) {
    size_t got = 0;
    try {
      got = file_.read_at(offset, dst, n);
    } catch (const platform::ReadError& e) {
      throw GgufError(e.what());
    }
    if (got < n) throw GgufError("read failed: unexpected end of file");
  }
  platform::File file_;
  uint64_t size_;
  FileIdentity identity_;
  std::vector<uint8_t> win_;
  uint64_t win_start_ = 0;
  uint64_t parsed_end_ = 0;  // the end of the furthest byte the parser asked for
};

class MemorySource : public ByteSource {
 public:
  MemorySource(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint64_t size() const override { return size_; }
  void read(uint64_t offset, void* dst, size_t n) override { std::memcpy(dst, data_ + offset, n); }

 private:
  const uint8_t* data_;
  size_t size_;
};

// ---- the parser ---------------------------------------------------------------------------

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" little-endian

class Parser {
 public:
  Parser(ByteSource& src, const std::string& name, const ReaderLimits& limits)
      : src_(src), name_(name), limits_(limits), size_(src.size()) {}

  [[noreturn]] void fail(const std::string& field, uint64_t at, const std::string& problem) const {
    throw GgufError(name_ + ": " + field + " at offset " + std::to_string(at) + ": " + problem);
  }

  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }
  uint64_t parsed_bytes() const { return parsed_bytes_; }

  // Counts `n_items` allocations of `item_bytes` each against the memory budget, before
  // they are made (the product cannot overflow: it is compared by division).
  void charge(uint64_t n_items, uint64_t item_bytes, const std::string& field, uint64_t at) {
    const uint64_t left = limits_.max_parsed_bytes - parsed_bytes_;
    if (item_bytes != 0 && n_items > left / item_bytes) {
      const uint64_t limit = limits_.max_parsed_bytes;
      const std::string amount = limit % (1 << 20) == 0 ? std::to_string(limit >> 20) + " MiB" : std::to_string(limit) + " bytes";
      fail(field, at, "the parsed header would take more than " + amount + " in memory (the reader's limit)");
    }
    parsed_bytes_ += n_items * item_bytes;
  }

  void need(uint64_t n, const std::string& field) const {
    if (n > remaining()) {
      fail(field, pos_, "file truncated (needs " + std::to_string(n) + " bytes, " + std::to_string(remaining()) + " left)");
    }
  }

  template <typename T>
  T scalar(const std::string& field) {
    need(sizeof(T), field);
    T v;
    src_.read(pos_, &v, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::string string(const std::string& field) {
    const uint64_t at = pos_;
    const uint64_t len = scalar<uint64_t>(field + " length");
    if (len > remaining()) {
      fail(field, at, "string length " + std::to_string(len) + " exceeds the " + std::to_string(remaining()) + " bytes left");
    }
    string_bytes_ += len;
    if (string_bytes_ > limits_.max_string_bytes_total) fail(field, at, "metadata strings exceed the reader's limit");
    charge(1, len, field, at);  // its object is counted where it is kept
    std::string s(static_cast<size_t>(len), '\0');
    if (len) src_.read(pos_, s.data(), static_cast<size_t>(len));
    pos_ += len;
    return s;
  }

  static uint64_t min_bytes(ValueType t) {
    switch (t) {
      case ValueType::UINT8: case ValueType::INT8: case ValueType::BOOL: return 1;
      case ValueType::UINT16: case ValueType::INT16: return 2;
      case ValueType::UINT32: case ValueType::INT32: case ValueType::FLOAT32: return 4;
      case ValueType::UINT64: case ValueType::INT64: case ValueType::FLOAT64: case ValueType::STRING: return 8;
      case ValueType::ARRAY: return 12;
    }
    return 1;
  }

  ValueType value_type(const std::string& field) {
    const uint64_t at = pos_;
    const uint32_t t = scalar<uint32_t>(field);
    if (t > static_cast<uint32_t>(ValueType::FLOAT64)) fail(field, at, "unknown value type " + std::to_string(t));
    return static_cast<ValueType>(t);
  }

  // Reads one value of type t (the type tag has been read already).
  void value(ValueType t, Value& v, const std::string& field, uint32_t depth) {
    v.type = t;
    switch (t) {
      case ValueType::UINT8: v.i = scalar<uint8_t>(field); v.u = v.i; return;
      case ValueType::INT8: v.i = scalar<int8_t>(field); return;
      case ValueType::UINT16: v.i = scalar<uint16_t>(field); v.u = v.i; return;
      case ValueType::INT16: v.i = scalar<int16_t>(field); return;
      case ValueType::UINT32: v.i = scalar<uint32_t>(field); v.u = v.i; return;
      case ValueType::INT32: v.i = scalar<int32_t>(field); return;
      case ValueType::UINT64: v.u = scalar<uint64_t>(field); v.i = static_cast<int64_t>(std::min<uint64_t>(v.u, INT64_MAX)); return;
      case ValueType::INT64: v.i = scalar<int64_t>(field); return;
      case ValueType::FLOAT32: v.f = scalar<float>(field); return;
      case ValueType::FLOAT64: v.f = scalar<double>(field); return;
      case ValueType::BOOL: {
        const uint64_t at = pos_;
        const uint8_t b = scalar<uint8_t>(field);
        if (b > 1) fail(field, at, "bool value " + std::to_string(b) + " is neither 0 nor 1");
        v.i = b;
        return;
      }
      case ValueType::STRING: v.str = string(field); return;
      case ValueType::ARRAY: array(v, field, depth); return;
    }
  }

  void array(Value& v, const std::string& field, uint32_t depth) {
    const uint64_t at = pos_;
    if (depth >= limits_.max_array_depth) fail(field, at, "arrays nested deeper than " + std::to_string(limits_.max_array_depth));
    v.array_type = value_type(field + " element type");
    const uint64_t count_at = pos_;
    const uint64_t count = scalar<uint64_t>(field + " element count");
    const uint64_t min = min_bytes(v.array_type);
    if (count > remaining() / min) {
      fail(field, count_at, "array of " + std::to_string(count) + " " + value_type_name(v.array_type) +
                                " elements cannot fit in the " + std::to_string(remaining()) + " bytes left");
    }
    array_elements_ += count;
    if (array_elements_ > limits_.max_array_elements_total) {
      fail(field, count_at, "metadata arrays hold more than " + std::to_string(limits_.max_array_elements_total) + " elements in total");
    }
    const size_t n = static_cast<size_t>(count);
    Value elem;
    switch (v.array_type) {
      case ValueType::STRING: charge(count, sizeof(std::string), field, count_at); break;
      case ValueType::ARRAY: charge(count, sizeof(Value), field, count_at); break;
      case ValueType::FLOAT32: case ValueType::FLOAT64: charge(count, sizeof(double), field, count_at); break;
      default: charge(count, sizeof(int64_t), field, count_at); break;
    }
    switch (v.array_type) {
      case ValueType::STRING:
        v.strings.reserve(n);
        for (size_t k = 0; k < n; k++) v.strings.push_back(string(field + "[" + std::to_string(k) + "]"));
        return;
      case ValueType::ARRAY:
        v.arrays.reserve(n);
        for (size_t k = 0; k < n; k++) {
          v.arrays.emplace_back();
          array(v.arrays.back(), field + "[" + std::to_string(k) + "]", depth + 1);
          v.arrays.back().type = ValueType::ARRAY;
        }
        return;
      case ValueType::FLOAT32: case ValueType::FLOAT64:
        v.floats.reserve(n);
        for (size_t k = 0; k < n; k++) { value(v.array_type, elem, field, depth); v.floats.push_back(elem.f); }
        return;
      default:
        v.ints.reserve(n);
        for (size_t k = 0; k < n; k++) { value(v.array_type, elem, field, depth); v.ints.push_back(elem.i); }
        return;
    }
  }

 private:
  ByteSource& src_;
  const std::string& name_;
  const ReaderLimits& limits_;
  uint64_t size_;
  uint64_t pos_ = 0;
  uint64_t array_elements_ = 0;
  uint64_t string_bytes_ = 0;
  uint64_t parsed_bytes_ = 0;
};

// What one entry of a name -> index map costs besides the name's bytes: the node (next
// pointer, key object, index, cached hash) and its bucket.
constexpr uint64_t kIndexEntryBytes = sizeof(void*) + sizeof(std::string) + sizeof(size_t) + sizeof(size_t) + sizeof(void*);

bool mul_overflows(uint64_t a, uint64_t b, uint64_t& out) {
  if (a != 0 && b > std::numeric_limits<uint64_t>::max() / a) return true;
  out = a * b;
  return false;
}

}  // namespace

std::unique_ptr<ByteSource> open_file_source(const std::string& path) {
  try {
    return std::make_unique<FileSource>(platform::File(path, platform::File::Caching::normal));
  } catch (const GgufError&) {
    throw;
  } catch (const std::runtime_error& e) {
    throw GgufError(e.what());  // "<path>: cannot open: ..." or "<path>: not a regular file"
  }
}

std::unique_ptr<ByteSource> memory_source(const uint8_t* data, size_t size) {
  return std::make_unique<MemorySource>(data, size);
}

GgufFile GgufFile::open(const std::string& path, const ReaderLimits& limits) {
  auto src = open_file_source(path);
  return parse(*src, path, limits);
}

GgufFile GgufFile::parse(ByteSource& src, const std::string& name, const ReaderLimits& limits) {
  GgufFile f;
  f.name_ = name;
  f.file_size_ = src.size();
  f.identity_ = src.identity();
  Parser p(src, name, limits);

  if (f.file_size_ == 0) p.fail("header", 0, "the file is empty");
  if (f.file_size_ < 4) p.fail("magic", 0, "file truncated (" + std::to_string(f.file_size_) + " bytes)");
  const uint32_t magic = p.scalar<uint32_t>("magic");
  if (magic != kMagic) p.fail("magic", 0, "not a GGUF file (bad magic)");
  f.version_ = p.scalar<uint32_t>("version");
  if (f.version_ != 2 && f.version_ != 3) {
    p.fail("version", 4, "unsupported GGUF version " + std::to_string(f.version_) + " (supported: 2, 3)");
  }
  const uint64_t n_tensors = p.scalar<uint64_t>("tensor count");
  const uint64_t n_kv = p.scalar<uint64_t>("metadata count");
  // Every tensor info takes at least 33 bytes and every metadata entry at least 13.
  const auto check_count = [&](uint64_t n, uint64_t limit, uint64_t min_bytes, const char* field, uint64_t at) {
    if (n > limit) p.fail(field, at, "absurd " + std::string(field) + " " + std::to_string(n));
    if (n > p.remaining() / min_bytes) {
      p.fail(field, at, std::to_string(n) + " entries cannot fit in the " + std::to_string(p.remaining()) + " bytes left (file truncated?)");
    }
  };
  check_count(n_tensors, limits.max_tensors, 33, "tensor count", 8);
  check_count(n_kv, limits.max_kv, 13, "metadata count", 16);

  p.charge(n_kv, sizeof(f.kv_[0]) + kIndexEntryBytes, "metadata count", 16);
  f.kv_.reserve(static_cast<size_t>(n_kv));
  for (uint64_t k = 0; k < n_kv; k++) {
    const std::string entry = "metadata entry #" + std::to_string(k);
    const uint64_t at = p.pos();
    std::string key = p.string(entry + " key");
    if (key.empty()) p.fail(entry + " key", at, "empty key");
    p.charge(1, key.size(), entry + " key", at);  // the index's copy
    const std::string field = "metadata " + quote(key);
    if (f.kv_index_.count(key)) p.fail(field, at, "duplicate key");
    Value v;
    const ValueType t = p.value_type(field + " type");
    p.value(t, v, field, 0);
    f.kv_index_.emplace(key, f.kv_.size());
    f.kv_.emplace_back(std::move(key), std::move(v));
  }

  if (const Value* a = f.find("general.alignment")) {
    if (a->type != ValueType::UINT32) p.fail("metadata 'general.alignment'", 0, std::string("must be uint32, not ") + value_type_name(a->type));
    if (a->i == 0 || (a->i & (a->i - 1)) != 0 || a->i > (1 << 20)) {
      p.fail("metadata 'general.alignment'", 0, "alignment " + std::to_string(a->i) + " is not a power of two up to 1 MiB");
    }
    f.alignment_ = static_cast<uint32_t>(a->i);
  }

  p.charge(n_tensors, sizeof(TensorInfo) + kIndexEntryBytes, "tensor count", 8);
  f.tensors_.reserve(static_cast<size_t>(n_tensors));
  for (uint64_t k = 0; k < n_tensors; k++) {
    TensorInfo t;
    t.info_offset = p.pos();
    std::string entry = "tensor info #" + std::to_string(k);
    t.name = p.string(entry + " name");
    if (t.name.empty()) p.fail(entry + " name", t.info_offset, "empty tensor name");
    p.charge(1, t.name.size(), entry + " name", t.info_offset);  // the index's copy
    entry += " (" + printable(t.name) + ")";
    if (f.tensor_index_.count(t.name)) p.fail(entry, t.info_offset, "duplicate tensor name");
    const uint64_t dims_at = p.pos();
    t.n_dims = p.scalar<uint32_t>(entry + " n_dims");
    if (t.n_dims < 1 || t.n_dims > 4) p.fail(entry + " n_dims", dims_at, "n_dims " + std::to_string(t.n_dims) + " is not 1..4");
    uint64_t n_elements = 1;
    for (uint32_t d = 0; d < t.n_dims; d++) {
      const uint64_t at = p.pos();
      const uint64_t ne = p.scalar<uint64_t>(entry + " dims");
      if (ne == 0) p.fail(entry + " dims", at, "dimension " + std::to_string(d) + " is zero");
      if (ne > static_cast<uint64_t>(INT64_MAX) || mul_overflows(n_elements, ne, n_elements) || n_elements > static_cast<uint64_t>(INT64_MAX)) {
        p.fail(entry + " dims", at, "element count overflows");
      }
      t.ne[d] = static_cast<int64_t>(ne);
    }
    const uint64_t type_at = p.pos();
    const uint32_t type_id = p.scalar<uint32_t>(entry + " type");
    const GgmlTypeTraits traits = ggml_type_traits(type_id);
    if (!traits.name) p.fail(entry + " type", type_at, "unknown ggml type " + std::to_string(type_id));
    t.type = static_cast<GgmlType>(type_id);
    if (t.ne[0] % traits.block_elems != 0) {
      p.fail(entry + " dims", dims_at, "row of " + std::to_string(t.ne[0]) + " elements is not a whole number of " +
                                           traits.name + " blocks (" + std::to_string(traits.block_elems) + ")");
    }
    t.n_elements = n_elements;
    if (mul_overflows(n_elements / traits.block_elems, traits.block_bytes, t.n_bytes)) {
      p.fail(entry + " dims", dims_at, "byte size overflows");
    }
    const uint64_t offset_at = p.pos();
    t.offset = p.scalar<uint64_t>(entry + " offset");
    if (t.offset % f.alignment_ != 0) {
      p.fail(entry + " offset", offset_at, "data offset " + std::to_string(t.offset) + " is not aligned to " + std::to_string(f.alignment_));
    }
    f.tensor_index_.emplace(t.name, f.tensors_.size());
    f.tensors_.push_back(std::move(t));
  }

  // The data section starts at the next multiple of the alignment.
  const uint64_t a = f.alignment_;
  f.data_offset_ = (p.pos() + a - 1) / a * a;
  if (n_tensors > 0 && f.data_offset_ > f.file_size_) {
    p.fail("data section", p.pos(), "file truncated before the tensor data (needs " + std::to_string(f.data_offset_) + " bytes)");
  }
  for (TensorInfo& t : f.tensors_) {
    const uint64_t avail = f.file_size_ - std::min(f.file_size_, f.data_offset_);
    if (t.offset > avail || t.n_bytes > avail - t.offset) {
      p.fail("tensor " + quote(t.name) + " data", f.data_offset_ + t.offset,
             std::to_string(t.n_bytes) + " bytes extend past the end of the file (" + std::to_string(f.file_size_) + " bytes)");
    }
    t.file_offset = f.data_offset_ + t.offset;
  }
  f.parsed_bytes_ = p.parsed_bytes();
  return f;
}

const Value* GgufFile::find(const std::string& key) const {
  auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kv_[it->second].second;
}

const TensorInfo* GgufFile::find_tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace st::gguf
