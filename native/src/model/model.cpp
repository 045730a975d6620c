#include "model.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "kernels/kernels.h"
#include "mapped_files.h"
#include "runtime/work_counter.h"

namespace st {

// The model file mapped read-only. Pages are read on first touch and can be dropped by the
// kernel under pressure (the memory-budget mode replaces this with explicit reads). The
// mapping is recorded in mapped_files, so a SIGBUS from reading it after the file shrank
// can name the file.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw std::runtime_error(path + ": cannot open: " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd_, &st) != 0) fail(path + ": cannot stat: " + std::strerror(errno));
    size_ = static_cast<size_t>(st.st_size);
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd_, 0);
    if (p == MAP_FAILED) fail(path + ": cannot map: " + std::strerror(errno));
    data_ = static_cast<const uint8_t*>(p);
    registry_slot_ = mapped_files::add(data_, size_, path);
  }
  ~MappedFile() {
    mapped_files::remove(registry_slot_);
    if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
    if (fd_ >= 0) ::close(fd_);
  }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  gguf::FileIdentity identity() const { return gguf::FileIdentity::of(fd_); }
  // Copies the n bytes the mapping shows at p into dst with pread (without faulting them in).
  void read(const uint8_t* p, size_t n, uint8_t* dst) const {
    off_t offset = p - data_;
    while (n > 0) {
      const ssize_t got = ::pread(fd_, dst, n, offset);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) throw std::runtime_error(std::string("cannot read the model file: ") + (got < 0 ? std::strerror(errno) : "it is shorter than expected"));
      dst += got;
      offset += got;
      n -= static_cast<size_t>(got);
    }
  }

 private:
  [[noreturn]] void fail(const std::string& message) {
    ::close(fd_);  // the destructor does not run for a constructor that throws
    throw std::runtime_error(message);
  }
  int fd_ = -1;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  int registry_slot_ = -1;
};

Model::~Model() = default;

// Whether the active kernels take Q4_0 packed 16 rows at a time (SMALLTHINKER_PACK=0 keeps
// every row as in the file, for comparisons).
static bool pack_wanted() {
  const char* env = std::getenv("SMALLTHINKER_PACK");
  return kernels::active().gemm_q4_0x16 && !(env && std::strcmp(env, "0") == 0);
}

// Whether a matrix of this type and row count is kept packed (kernels::pack_q4_0x16): Q4_0,
// whole groups of 16 rows, and kernels for packed weights on this CPU.
static bool packable(GgmlType type, int64_t rows) { return type == GgmlType::Q4_0 && rows % kernels::kPackRows == 0 && pack_wanted(); }

// Whether an expert tensor is kept packed: each expert's rows in whole groups (so no group
// spans two experts); the transposed down projection is read row by row (AXPY of the active
// neurons), so it never is.
static bool experts_packable(const ExpertMatrices& m, bool transposed_down) {
  return !transposed_down && packable(m.type, m.rows);
}

// The non-expert matrices kept packed where packable: attention and the output.
static std::vector<WeightMatrix*> dense_matrices(ModelWeights& w) {
  std::vector<WeightMatrix*> out;
  for (LayerWeights& lw : w.layers) {
    for (WeightMatrix* m : {&lw.attn_q, &lw.attn_k, &lw.attn_v, &lw.attn_output}) out.push_back(m);
  }
  out.push_back(&w.output);
  return out;
}

// Packs `rows` rows of `cols` Q4_0 elements (a multiple of 16 rows) where they are: a group
// takes exactly the bytes of the 16 rows it packs.
static void pack_rows_in_place(uint8_t* data, int64_t rows, int64_t cols) {
  const int64_t nb = cols / kQK4_0, R = kernels::kPackRows;
  const size_t group_bytes = static_cast<size_t>(nb) * kernels::kPackedBlockBytes;
  thread_local std::vector<uint8_t> group;
  group.resize(group_bytes);
  for (int64_t g = 0; g < rows / R; g++) {
    kernels::pack_q4_0x16(reinterpret_cast<const BlockQ4_0*>(data + g * group_bytes), nb, nb, group.data());
    std::memcpy(data + g * group_bytes, group.data(), group_bytes);
  }
}

// The packed copies of every packable matrix (the mapped mode): one anonymous buffer (huge
// pages where the kernel gives them: fewer TLB misses on the weights read per token).
void Model::pack_mapped() {
  struct Job { const uint8_t* src; int64_t rows, cols; size_t bytes; const uint8_t** packed; const uint8_t** data; };
  std::vector<Job> jobs;
  auto add = [&](const uint8_t*& data, const uint8_t*& packed, GgmlType type, int64_t rows, int64_t cols, size_t bytes) {
    if (packable(type, rows)) jobs.push_back({data, rows, cols, bytes, &packed, &data});
  };
  for (WeightMatrix* m : dense_matrices(weights_)) add(m->data, m->packed, m->type, m->rows, m->cols, m->bytes());
  for (LayerWeights& lw : weights_.layers) {
    for (ExpertMatrices* m : {&lw.ffn_gate, &lw.ffn_up, &lw.ffn_down}) {
      if (!experts_packable(*m, m == &lw.ffn_down && lw.ffn_down_rows_are_neurons)) continue;
      add(m->data, m->packed, m->type, m->rows * m->n_expert, m->cols, m->expert_bytes() * m->n_expert);
    }
  }
  if (jobs.empty()) return;
  size_t total = 0;
  for (const Job& j : jobs) total += j.bytes;
  packed_ = AlignedBuffer(total);
  packed_bytes_ = total;
  ::madvise(packed_.data(), packed_.size(), MADV_HUGEPAGE);
  std::vector<uint8_t*> dst;
  size_t used = 0;
  for (const Job& j : jobs) {
    dst.push_back(packed_.data() + used);
    used += j.bytes;
  }
  // Each matrix is read with pread straight into its place (no page faults on the mapping,
  // which stays untouched) and packed there, a cache-sized piece at a time. Two threads: one
  // can pack while the other waits for the disk.
  const int n_threads = std::max(1u, std::min(2u, std::thread::hardware_concurrency()));
  std::atomic<size_t> next{0};
  std::vector<std::thread> threads;
  std::string error;
  std::mutex error_mu;
  for (int t = 0; t < n_threads; t++) {
    threads.emplace_back([&] {
      try {
        for (size_t i; (i = next.fetch_add(1)) < jobs.size();) {
          const Job& j = jobs[i];
          const size_t group_bytes = j.bytes / (j.rows / kernels::kPackRows);
          const size_t piece = std::max<size_t>(1, (size_t(1) << 20) / group_bytes) * group_bytes;
          for (size_t off = 0; off < j.bytes; off += piece) {
            const size_t n = std::min(piece, j.bytes - off);
            mapping_->read(j.src + off, n, dst[i] + off);
            pack_rows_in_place(dst[i] + off, static_cast<int64_t>(n / group_bytes) * kernels::kPackRows, j.cols);
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
  for (size_t i = 0; i < jobs.size(); i++) {
    *jobs[i].packed = dst[i];
    // Tied embeddings: the embedding lookup keeps reading token_embd's rows (its own view).
    *jobs[i].data = nullptr;
  }
}

static bool is_expert_tensor(const std::string& name) { return name.find("_exps.") != std::string::npos; }

// Where each tensor's bytes are: in the mapping, or in the budgeted mode's resident buffer.
using TensorData = std::function<const uint8_t*(const gguf::TensorInfo&)>;

static WeightMatrix matrix_view(const TensorData& data, const gguf::TensorInfo& t) {
  WeightMatrix m;
  m.type = t.type;
  m.data = data(t);
  m.cols = t.ne[0];
  m.rows = static_cast<int64_t>(t.n_elements / t.ne[0]);
  m.row_bytes = static_cast<size_t>(t.n_bytes / m.rows);
  return m;
}

static ExpertMatrices experts_view(const TensorData& data, const gguf::TensorInfo& t) {
  ExpertMatrices e;
  e.type = t.type;
  e.data = data(t);
  e.cols = t.ne[0];
  e.rows = t.ne[1];
  e.n_expert = t.ne[2];
  e.row_bytes = static_cast<size_t>(t.n_bytes / (t.ne[1] * t.ne[2]));
  return e;
}

// The views of every weight; `data` says where a tensor's bytes are (nullptr: not resident).
static void build_views(Model& model, const SmallThinkerFile& file, const TensorData& data, ModelWeights& w) {
  auto tensor = [&](const std::string& name) -> const gguf::TensorInfo& { return *file.gguf.find_tensor(name); };
  auto norm = [&](const std::string& name) { return reinterpret_cast<const float*>(data(tensor(name))); };
  w.token_embd = matrix_view(data, tensor("token_embd.weight"));
  w.output_norm = norm("output_norm.weight");
  w.output = file.tied_embeddings ? w.token_embd : matrix_view(data, tensor("output.weight"));
  for (int l = 0; l < file.hparams.n_layer; l++) {
    const std::string b = "blk." + std::to_string(l) + ".";
    LayerWeights lw;
    lw.attn_norm = norm(b + "attn_norm.weight");
    lw.attn_q = matrix_view(data, tensor(b + "attn_q.weight"));
    lw.attn_k = matrix_view(data, tensor(b + "attn_k.weight"));
    lw.attn_v = matrix_view(data, tensor(b + "attn_v.weight"));
    lw.attn_output = matrix_view(data, tensor(b + "attn_output.weight"));
    lw.ffn_norm = norm(b + "ffn_norm.weight");
    lw.router = matrix_view(data, tensor(b + "ffn_gate_inp.weight"));
    lw.ffn_gate = experts_view(data, tensor(b + "ffn_gate_exps.weight"));
    lw.ffn_up = experts_view(data, tensor(b + "ffn_up_exps.weight"));
    lw.ffn_down = experts_view(data, tensor(b + "ffn_down_exps.weight"));
    lw.ffn_down_rows_are_neurons = model.transposed_down();
    if (lw.ffn_gate.type != lw.ffn_up.type) {
      throw std::runtime_error(file.gguf.name() + ": " + b + "ffn_gate_exps and ffn_up_exps have different types (not supported)");
    }
    w.layers.push_back(lw);
  }
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
  model->pack_mapped();
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

// Bytes of one expert's matrix of `kind` (gate, up or down): every layer has the same.
static size_t expert_matrix_bytes(const SmallThinkerFile& file, const char* kind) {
  return static_cast<size_t>(file.gguf.find_tensor(std::string("blk.0.ffn_") + kind + "_exps.weight")->n_bytes / file.hparams.n_expert);
}

size_t Model::expert_slot_bytes(const SmallThinkerFile& file) {
  return ExpertCache::slot_bytes_for(expert_matrix_bytes(file, "gate"), expert_matrix_bytes(file, "up"), expert_matrix_bytes(file, "down"));
}

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

  // One buffer for every resident tensor, each read as its own aligned span.
  model->resident_ = AlignedBuffer(resident_bytes_budgeted(file));
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
  const gguf::TensorInfo* embd = file.gguf.find_tensor("token_embd.weight");
  model->embd_offset_ = embd->file_offset;
  // Resident matrices packed where they are (the budgeted mode holds one copy of everything).
  WeightMatrix& output = model->weights_.output;
  for (WeightMatrix* m : dense_matrices(model->weights_)) {
    if (!m->data || !packable(m->type, m->rows)) continue;
    uint8_t* where = const_cast<uint8_t*>(m->data);
    if (m == &output && file.tied_embeddings) {
      // token_embd doubles as the output: its rows stay as they are for the embedding
      // lookup, so the output gets its own packed copy.
      model->packed_ = AlignedBuffer(m->bytes());
      where = static_cast<uint8_t*>(std::memcpy(model->packed_.data(), m->data, m->bytes()));
    }
    pack_rows_in_place(where, m->rows, m->cols);
    model->packed_bytes_ += m->bytes();
    m->packed = where;
    m->data = nullptr;
  }
  // Experts are packed by the cache's I/O threads as they arrive.
  const LayerWeights& l0 = model->weights_.layers[0];
  const bool pack[3] = {experts_packable(l0.ffn_gate, false), experts_packable(l0.ffn_up, false),
                        experts_packable(l0.ffn_down, model->transposed_down_)};
  const int64_t cols[3] = {l0.ffn_gate.cols, l0.ffn_up.cols, l0.ffn_down.cols};
  ExpertCacheConfig config = cache;
  if (pack[0] || pack[1] || pack[2]) {
    config.after_read = [cols, pack](ExpertMatrixKind kind, uint8_t* data, size_t bytes) {
      const int k = static_cast<int>(kind);
      if (!pack[k]) return;
      const int64_t row_bytes = cols[k] / kQK4_0 * static_cast<int64_t>(sizeof(BlockQ4_0));
      pack_rows_in_place(data, static_cast<int64_t>(bytes) / row_bytes, cols[k]);
    };
  }
  for (LayerWeights& lw : model->weights_.layers) {
    ExpertMatrices* kinds[3] = {&lw.ffn_gate, &lw.ffn_up, &lw.ffn_down};
    for (int k = 0; k < 3; k++) {
      kinds[k]->base_is_packed = pack[k];
      if (pack[k]) model->packed_bytes_ += kinds[k]->expert_bytes() * kinds[k]->n_expert;
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
  model->expert_cache_ = std::make_unique<ExpertCache>(model->reader_, std::move(locations), N, expert_matrix_bytes(file, "gate"),
                                                       expert_matrix_bytes(file, "up"), expert_matrix_bytes(file, "down"), config);
  return model;
}

bool Model::file_changed() const {
  return (mapping_ ? mapping_->identity() : reader_->identity()) != loaded_file_;
}

WeightMatrix Model::embedding_row(int32_t token, uint8_t* scratch) const {
  WeightMatrix row = weights_.token_embd;
  row.rows = 1;
  if (row.data) {
    row.data = weights_.token_embd.row(token);
  } else {
    row.data = reader_->read(embd_offset_ + static_cast<uint64_t>(token) * row.row_bytes, row.row_bytes, scratch);
  }
  return row;
}

size_t Model::embedding_scratch_bytes() const {
  // The widest aligned span of one row, plus room to align the scratch's start.
  const size_t a = FileReader::kAlign;
  return (weights_.token_embd.row_bytes + a - 1) / a * a + a + a;
}

}  // namespace st
