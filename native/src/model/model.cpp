#include "model.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
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

static WeightMatrix matrix_view(const MappedFile& map, const gguf::TensorInfo& t) {
  WeightMatrix m;
  m.type = t.type;
  m.data = map.data() + t.file_offset;
  m.cols = t.ne[0];
  m.rows = static_cast<int64_t>(t.n_elements / t.ne[0]);
  m.row_bytes = static_cast<size_t>(t.n_bytes / m.rows);
  return m;
}

static ExpertMatrices experts_view(const MappedFile& map, const gguf::TensorInfo& t) {
  ExpertMatrices e;
  e.type = t.type;
  e.data = map.data() + t.file_offset;
  e.cols = t.ne[0];
  e.rows = t.ne[1];
  e.n_expert = t.ne[2];
  e.row_bytes = static_cast<size_t>(t.n_bytes / (t.ne[1] * t.ne[2]));
  return e;
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

  auto tensor = [&](const std::string& name) -> const gguf::TensorInfo& { return *file.gguf.find_tensor(name); };
  auto norm = [&](const std::string& name) { return reinterpret_cast<const float*>(map.data() + tensor(name).file_offset); };

  ModelWeights& w = model->weights_;
  w.token_embd = matrix_view(map, tensor("token_embd.weight"));
  w.output_norm = norm("output_norm.weight");
  w.output = file.tied_embeddings ? w.token_embd : matrix_view(map, tensor("output.weight"));
  for (int l = 0; l < file.hparams.n_layer; l++) {
    const std::string b = "blk." + std::to_string(l) + ".";
    LayerWeights lw;
    lw.attn_norm = norm(b + "attn_norm.weight");
    lw.attn_q = matrix_view(map, tensor(b + "attn_q.weight"));
    lw.attn_k = matrix_view(map, tensor(b + "attn_k.weight"));
    lw.attn_v = matrix_view(map, tensor(b + "attn_v.weight"));
    lw.attn_output = matrix_view(map, tensor(b + "attn_output.weight"));
    lw.ffn_norm = norm(b + "ffn_norm.weight");
    lw.router = matrix_view(map, tensor(b + "ffn_gate_inp.weight"));
    lw.ffn_gate = experts_view(map, tensor(b + "ffn_gate_exps.weight"));
    lw.ffn_up = experts_view(map, tensor(b + "ffn_up_exps.weight"));
    lw.ffn_down = experts_view(map, tensor(b + "ffn_down_exps.weight"));
    lw.ffn_down_rows_are_neurons = model->transposed_down_;
    if (lw.ffn_gate.type != lw.ffn_up.type) {
      throw std::runtime_error(path + ": " + b + "ffn_gate_exps and ffn_up_exps have different types (not supported)");
    }
    w.layers.push_back(lw);
  }
  return model;
}

}  // namespace st
