#include "model.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <stdexcept>

namespace st {

// The model file mapped read-only. Pages are read on first touch and can be dropped by the
// kernel under pressure (the memory-budget mode replaces this with explicit reads).
class MappedFile {
 public:
  explicit MappedFile(const std::string& path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw std::runtime_error(path + ": cannot open: " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd_, &st) != 0) throw std::runtime_error(path + ": cannot stat: " + std::strerror(errno));
    size_ = static_cast<size_t>(st.st_size);
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd_, 0);
    if (p == MAP_FAILED) throw std::runtime_error(path + ": cannot map: " + std::strerror(errno));
    data_ = static_cast<const uint8_t*>(p);
  }
  ~MappedFile() {
    if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
    if (fd_ >= 0) ::close(fd_);
  }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  int fd_ = -1;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

Model::~Model() = default;

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
  if (map.size() != file.gguf.file_size()) throw std::runtime_error(path + ": the file changed while loading");
  model->hparams_ = file.hparams;
  model->transposed_down_ = file.flavour == Flavour::PowerInfer;
  for (const auto& t : file.gguf.tensors()) model->weights_bytes_ += t.n_bytes;
  build_views(*model, file, [&](const gguf::TensorInfo& t) { return map.data() + t.file_offset; }, model->weights_);
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
  }
  build_views(*model, file, [&](const gguf::TensorInfo& t) -> const uint8_t* {
    auto it = where.find(t.name);
    return it == where.end() ? nullptr : it->second;
  }, model->weights_);
  const gguf::TensorInfo* embd = file.gguf.find_tensor("token_embd.weight");
  model->embd_offset_ = embd->file_offset;

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
                                                       expert_matrix_bytes(file, "up"), expert_matrix_bytes(file, "down"), cache);
  return model;
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
