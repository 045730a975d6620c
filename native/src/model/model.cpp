#include "model.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "mapped_files.h"
#include "platform/platform.h"
#include "runtime/work_counter.h"

namespace st {

// The model file mapped read-only. Pages are read on first touch and can be dropped by the
// OS under pressure (the memory-budget mode replaces this with explicit reads). The mapping
// is recorded in mapped_files, so a fault from reading it after the file shrank can name the
// file.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path) : mapping_(path) {
    registry_slot_ = mapped_files::add(mapping_.data(), mapping_.size(), path);
  }
  ~MappedFile() { mapped_files::remove(registry_slot_); }
  const uint8_t* data() const { return mapping_.data(); }
  size_t size() const { return mapping_.size(); }
  gguf::FileIdentity identity() const { return mapping_.file().identity(); }
  // Copies the n bytes the mapping shows at p into dst with a read (without faulting them in).
  void read(const uint8_t* p, size_t n, uint8_t* dst) const {
    size_t got = 0;
    try {
      got = mapping_.file().read_at(static_cast<uint64_t>(p - mapping_.data()), dst, n);
    } catch (const platform::ReadError& e) {
      throw std::runtime_error(std::string("cannot read the model file: ") + e.what());
    }
    if (got < n) throw std::runtime_error("cannot read the model file: it is shorter than expected");
  }

 private:
  platform::FileMapping mapping_;
  int registry_slot_ = -1;
};

Model::~Model() = default;

static bool is_expert_tensor(const std::string& name) { return name.find("_exps.") != std::string::npos; }

// Where each tensor's bytes are: in the mapping, or in the budgeted mode's resident buffer.
using TensorData = std::function<const uint8_t*(const gguf::TensorInfo&)>;

static Matrix matrix_view(const TensorData& data, const gguf::TensorInfo& t, MatrixUse use) {
  Matrix m;
  m.type = t.type;
  m.data = data(t);
  m.cols = t.ne[0];
  m.rows = static_cast<int64_t>(t.n_elements / t.ne[0]);
  m.row_bytes = static_cast<size_t>(t.n_bytes / m.rows);
  m.format = &choose_format(m.type, m.rows, use);
  return m;
}

// An expert tensor's format is chosen for one expert's rows, so no block of rows spans two.
static ExpertMatrices experts_view(const TensorData& data, const gguf::TensorInfo& t, MatrixUse use) {
  ExpertMatrices e;
  e.type = t.type;
  e.data = data(t);
  e.cols = t.ne[0];
  e.rows = t.ne[1];
  e.n_expert = t.ne[2];
  e.row_bytes = static_cast<size_t>(t.n_bytes / (t.ne[1] * t.ne[2]));
  e.format = &choose_format(e.type, e.rows, use);
  return e;
}

// The views of every weight; `data` says where a tensor's bytes are (nullptr: not resident).
static void build_views(Model& model, const SmallThinkerFile& file, const TensorData& data, ModelWeights& w) {
  auto tensor = [&](const std::string& name) -> const gguf::TensorInfo& { return *file.gguf.find_tensor(name); };
  auto norm = [&](const std::string& name) { return reinterpret_cast<const float*>(data(tensor(name))); };
  const MatrixUse products = MatrixUse::Products;
  w.token_embd = matrix_view(data, tensor("token_embd.weight"), MatrixUse::RowsByIndex);
  w.output_norm = norm("output_norm.weight");
  w.output = matrix_view(data, tensor(file.tied_embeddings ? "token_embd.weight" : "output.weight"), products);
  for (int l = 0; l < file.hparams.n_layer; l++) {
    const std::string b = "blk." + std::to_string(l) + ".";
    LayerWeights lw;
    lw.attn_norm = norm(b + "attn_norm.weight");
    lw.attn_q = matrix_view(data, tensor(b + "attn_q.weight"), products);
    lw.attn_k = matrix_view(data, tensor(b + "attn_k.weight"), products);
    lw.attn_v = matrix_view(data, tensor(b + "attn_v.weight"), products);
    lw.attn_output = matrix_view(data, tensor(b + "attn_output.weight"), products);
    lw.ffn_norm = norm(b + "ffn_norm.weight");
    lw.router = matrix_view(data, tensor(b + "ffn_gate_inp.weight"), products);
    lw.ffn_gate = experts_view(data, tensor(b + "ffn_gate_exps.weight"), products);
    lw.ffn_up = experts_view(data, tensor(b + "ffn_up_exps.weight"), products);
    // The transposed down projection (powerinfer flavour) is read a neuron's row at a time.
    lw.ffn_down_rows_are_neurons = model.transposed_down();
    lw.ffn_down = experts_view(data, tensor(b + "ffn_down_exps.weight"), lw.ffn_down_rows_are_neurons ? MatrixUse::RowsByIndex : products);
    if (lw.ffn_gate.type != lw.ffn_up.type) {
      throw std::runtime_error(file.gguf.name() + ": " + b + "ffn_gate_exps and ffn_up_exps have different types (not supported)");
    }
    w.layers.push_back(lw);
  }
}

// A matrix whose format lays it out differently from the file: where its bytes pointer is,
// and its shape as the format sees it (an expert tensor: every expert's rows back to back).
struct Relaid {
  const uint8_t** data;
  const Format* format;
  int64_t rows, cols;
  size_t bytes;
};

static std::vector<Relaid> relaid_matrices(ModelWeights& w) {
  std::vector<Relaid> out;
  auto add = [&](Matrix& m) {
    if (m.data && m.format->relays()) out.push_back({&m.data, m.format, m.rows, m.cols, m.bytes()});
  };
  for (LayerWeights& lw : w.layers) {
    for (Matrix* m : {&lw.attn_q, &lw.attn_k, &lw.attn_v, &lw.attn_output, &lw.router}) add(*m);
    for (ExpertMatrices* e : {&lw.ffn_gate, &lw.ffn_up, &lw.ffn_down}) {
      if (e->data && e->format->relays()) out.push_back({&e->data, e->format, e->rows * e->n_expert, e->cols, e->expert_bytes() * e->n_expert});
    }
  }
  add(w.output);
  return out;
}

// Bytes of a relaid matrix handled at once: whole blocks of rows, about 1 MiB, so that a piece
// read is laid out while it is still in the cache.
static size_t piece_bytes(const Relaid& j) {
  const size_t block_bytes = j.bytes / j.rows * j.format->row_block();
  return std::max<size_t>(1, (size_t(1) << 20) / block_bytes) * block_bytes;
}

// The mapped mode: every matrix in a format of its own is read (with reads, leaving the
// mapping untouched) into one anonymous buffer and laid out there, a piece at a time; huge
// pages where the kernel gives them (fewer TLB misses on the weights read per token). Two
// threads: one can lay out while the other waits for the disk.
//
// A piece the page cache holds is copied from it. A piece it does not hold (a cold start) is
// read past the cache, straight from storage into a small staging buffer: a buffered read
// would first fill fresh page-cache pages with the file, only for us to copy them into our
// own fresh pages, twice the pages for the kernel to find and zero and twice the memory while
// loading (a 2.4 GB file held twice), and one thread's buffered reads run at about half the
// storage's rate where read-ahead stops short (benchmarks.md, "A cold load read past the
// page cache"). A warm file stays the fast copy it was.
void Model::lay_out_mapped() {
  std::vector<Relaid> jobs = relaid_matrices(weights_);
  if (jobs.empty()) return;
  size_t total = 0, largest_piece = 0;
  for (const Relaid& j : jobs) {
    total += j.bytes;
    largest_piece = std::max(largest_piece, piece_bytes(j));
  }
  relaid_ = AlignedBuffer(total);
  relaid_bytes_ = total;
  platform::advise_large_pages(relaid_.data(), relaid_.size());
  std::vector<uint8_t*> dst;
  size_t used = 0;
  for (const Relaid& j : jobs) {
    dst.push_back(relaid_.data() + used);
    used += j.bytes;
  }
  // Reads past the cache where the file system takes them (not tmpfs, whose "cache" is the
  // file), and only of the file mapped: if the path names another file by now (a download
  // renamed over it), or none, every piece comes from the mapping, as it always could.
  std::unique_ptr<FileReader> storage;
  try {
    storage = std::make_unique<FileReader>(path_);
  } catch (const std::exception&) {
  }
  const bool can_bypass = storage && storage->direct() && storage->identity() == mapping_->identity();
  const uint8_t* const file_start = mapping_->data();
  const int n_threads = std::max(1u, std::min(2u, std::thread::hardware_concurrency()));
  std::atomic<size_t> next{0};
  std::atomic<size_t> bypassed{0};
  std::vector<std::thread> threads;
  std::string error;
  std::mutex error_mu;
  for (int t = 0; t < n_threads; t++) {
    threads.emplace_back([&] {
      try {
        AlignedBuffer staging;
        for (size_t i; (i = next.fetch_add(1)) < jobs.size();) {
          const Relaid& j = jobs[i];
          const size_t piece = piece_bytes(j);
          for (size_t off = 0; off < j.bytes; off += piece) {
            const size_t n = std::min(piece, j.bytes - off);
            const uint8_t* src = *j.data + off;
            if (can_bypass && platform::cached_share(src, n) < 0.5) {
              if (staging.size() == 0) staging = AlignedBuffer(largest_piece + 2 * FileReader::kAlign);
              std::memcpy(dst[i] + off, storage->read(static_cast<uint64_t>(src - file_start), n, staging.data()), n);
              // Unless the file system refused the read (the reader then read through the
              // cache and dropped the pages, and reads that way from now on).
              if (storage->direct()) bypassed.fetch_add(n, std::memory_order_relaxed);
            } else {
              mapping_->read(src, n, dst[i] + off);
            }
            j.format->lay_out(dst[i] + off, static_cast<int64_t>(n / (j.bytes / j.rows)), j.cols);
            note_work();
          }
        }
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(error_mu);
        error = e.what();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  if (!error.empty()) throw std::runtime_error(error);
  for (size_t i = 0; i < jobs.size(); i++) *jobs[i].data = dst[i];
  read_past_cache_bytes_ = bypassed.load();
}

std::unique_ptr<Model> Model::load(const std::string& path) {
  SmallThinkerFile file = SmallThinkerFile::open(path);  // validates every tensor first
  std::unique_ptr<Model> model(new Model());
  model->mapping_ = std::make_unique<MappedFile>(path);
  const MappedFile& map = *model->mapping_;
  // The file mapped must be the file validated (not one renamed over it, or rewritten, since).
  if (map.identity() != file.gguf.identity()) throw std::runtime_error(path + ": the file changed while loading");
  model->path_ = path;
  model->loaded_file_ = file.gguf.identity();
  model->hparams_ = file.hparams;
  model->transposed_down_ = file.flavour == Flavour::PowerInfer;
  for (const auto& t : file.gguf.tensors()) model->weights_bytes_ += t.n_bytes;
  build_views(*model, file, [&](const gguf::TensorInfo& t) { return map.data() + t.file_offset; }, model->weights_);
  model->lay_out_mapped();
  return model;
}

// In the budgeted mode these tensors are read at load and stay resident; token_embd too when
// it doubles as the output matrix, else its rows are read per token.
static bool resident_when_budgeted(const SmallThinkerFile& file, const gguf::TensorInfo& t) {
  if (is_expert_tensor(t.name)) return false;
  return t.name != "token_embd.weight" || file.tied_embeddings;
}

size_t Model::resident_bytes_budgeted(const SmallThinkerFile& file) {
  size_t total = 0;
  for (const auto& t : file.gguf.tensors()) {
    if (resident_when_budgeted(file, t)) total += FileReader::span_bytes(t.file_offset, t.n_bytes);
  }
  return total;
}

// Bytes of one expert's gate, up and down matrices, layer by layer (a file may give layers
// different types).
static std::vector<ExpertBytes> expert_matrix_bytes(const SmallThinkerFile& file) {
  std::vector<ExpertBytes> bytes(static_cast<size_t>(file.hparams.n_layer));
  const char* kinds[3] = {"gate", "up", "down"};
  for (int l = 0; l < file.hparams.n_layer; l++) {
    for (int k = 0; k < 3; k++) {
      const std::string name = "blk." + std::to_string(l) + ".ffn_" + kinds[k] + "_exps.weight";
      bytes[l][k] = static_cast<size_t>(file.gguf.find_tensor(name)->n_bytes / file.hparams.n_expert);
    }
  }
  return bytes;
}

size_t Model::expert_slot_bytes(const SmallThinkerFile& file) { return ExpertCache::slot_bytes_for(expert_matrix_bytes(file)); }

std::unique_ptr<Model> Model::load_budgeted(const std::string& path, const ExpertCacheConfig& cache) {
  return load_budgeted(path, SmallThinkerFile::open(path), cache);
}

std::unique_ptr<Model> Model::load_budgeted(const std::string& path, const SmallThinkerFile& file, const ExpertCacheConfig& cache) {
  std::unique_ptr<Model> model(new Model());
  model->reader_ = std::make_shared<FileReader>(path);
  // The file read must be the file validated and planned for.
  if (model->reader_->identity() != file.gguf.identity()) throw std::runtime_error(path + ": the file changed while loading");
  model->path_ = path;
  model->loaded_file_ = file.gguf.identity();
  model->hparams_ = file.hparams;
  model->transposed_down_ = file.flavour == Flavour::PowerInfer;
  for (const auto& t : file.gguf.tensors()) model->weights_bytes_ += t.n_bytes;

  // One buffer for every resident tensor, each read as its own aligned span, in large pages
  // as the mapped mode's packed copy and the expert cache's slots: every token reads all of
  // it (attention, the router, the output head).
  model->resident_ = AlignedBuffer(resident_bytes_budgeted(file));
  platform::advise_large_pages(model->resident_.data(), model->resident_.size());
  std::map<std::string, const uint8_t*> where;
  size_t used = 0;
  for (const auto& t : file.gguf.tensors()) {
    if (!resident_when_budgeted(file, t)) continue;
    where[t.name] = model->reader_->read(t.file_offset, t.n_bytes, model->resident_.data() + used);
    used += FileReader::span_bytes(t.file_offset, t.n_bytes);
    note_work();
  }
  build_views(*model, file, [&](const gguf::TensorInfo& t) -> const uint8_t* {
    auto it = where.find(t.name);
    return it == where.end() ? nullptr : it->second;
  }, model->weights_);
  model->embd_offset_ = file.gguf.find_tensor("token_embd.weight")->file_offset;
  // Resident matrices laid out where they were read (the budgeted mode holds one copy of
  // everything), except a tied output: token_embd's rows stay as in the file for the
  // embedding lookup, so the output gets its own copy.
  for (const Relaid& m : relaid_matrices(model->weights_)) {
    uint8_t* bytes = const_cast<uint8_t*>(*m.data);
    if (*m.data == model->weights_.token_embd.data) {
      model->relaid_ = AlignedBuffer(m.bytes);
      platform::advise_large_pages(model->relaid_.data(), model->relaid_.size());
      bytes = static_cast<uint8_t*>(std::memcpy(model->relaid_.data(), *m.data, m.bytes));
      *m.data = bytes;
    }
    m.format->lay_out(bytes, m.rows, m.cols);
    model->relaid_bytes_ += m.bytes;
  }
  // Experts are laid out by the cache's I/O threads as they arrive.
  ExpertCacheConfig config = cache;
  config.layouts.resize(static_cast<size_t>(file.hparams.n_layer));
  for (int l = 0; l < file.hparams.n_layer; l++) {
    const LayerWeights& lw = model->weights_.layers[l];
    const ExpertMatrices* kinds[3] = {&lw.ffn_gate, &lw.ffn_up, &lw.ffn_down};
    for (int k = 0; k < 3; k++) {
      config.layouts[l][k] = {kinds[k]->format, kinds[k]->rows, kinds[k]->cols};
      if (kinds[k]->format->relays()) model->relaid_bytes_ += kinds[k]->expert_bytes() * kinds[k]->n_expert;
    }
  }

  // Where each expert's matrices are in the file, layer by layer.
  const int32_t N = file.hparams.n_expert;
  std::vector<ExpertLocation> locations(static_cast<size_t>(file.hparams.n_layer) * N);
  for (int l = 0; l < file.hparams.n_layer; l++) {
    const std::string b = "blk." + std::to_string(l) + ".";
    const gguf::TensorInfo* g = file.gguf.find_tensor(b + "ffn_gate_exps.weight");
    const gguf::TensorInfo* u = file.gguf.find_tensor(b + "ffn_up_exps.weight");
    const gguf::TensorInfo* d = file.gguf.find_tensor(b + "ffn_down_exps.weight");
    for (int e = 0; e < N; e++) {
      locations[static_cast<size_t>(l) * N + e] = {g->file_offset + e * (g->n_bytes / N), u->file_offset + e * (u->n_bytes / N),
                                                    d->file_offset + e * (d->n_bytes / N)};
    }
  }
  model->expert_cache_ = std::make_unique<ExpertCache>(model->reader_, std::move(locations), N, expert_matrix_bytes(file), config);
  return model;
}

bool Model::file_changed() const {
  return (mapping_ ? mapping_->identity() : reader_->identity()) != loaded_file_;
}

Matrix Model::embedding_row(int32_t token, uint8_t* scratch) const {
  Matrix row = weights_.token_embd;
  row.rows = 1;
  if (row.data) {
    row.data = weights_.token_embd.data + static_cast<size_t>(token) * row.row_bytes;
  } else {
    row.data = reader_->read(embd_offset_ + static_cast<uint64_t>(token) * row.row_bytes, row.row_bytes, scratch);
  }
  return row;
}

// The widest aligned span of one row, plus room to align the scratch's start.
static size_t embedding_scratch_for_row(size_t row_bytes) {
  const size_t a = FileReader::kAlign;
  return (row_bytes + a - 1) / a * a + a + a;
}

size_t Model::embedding_scratch_bytes() const { return embedding_scratch_for_row(weights_.token_embd.row_bytes); }

size_t Model::embedding_scratch_bytes_for(const SmallThinkerFile& file) {
  const gguf::TensorInfo* t = file.gguf.find_tensor("token_embd.weight");
  return embedding_scratch_for_row(static_cast<size_t>(t->n_bytes / (t->n_elements / t->ne[0])));
}

}  // namespace st
