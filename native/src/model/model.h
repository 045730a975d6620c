// A SmallThinker model ready for inference: the validated file and views of every weight
// (weights.h). Two ways to hold the weights:
// - mapped (the default): the file is memory-mapped read-only; loading reads no tensor data,
//   pages come in on use and the kernel may drop them — except the matrices whose format
//   (formats/format.h) lays them out differently from the file: those are read once at load
//   into an anonymous buffer and laid out there (lay_out_mapped), which then stays resident;
// - budgeted (an expert cache is configured): the non-expert weights are read into memory
//   with explicit reads, embedding rows are read on demand and experts live in the
//   ExpertCache. Nothing is mapped, so resident memory is what the budget planned.
#pragma once
#include <cstddef>
#include <memory>
#include <string>

#include "expert_cache.h"
#include "file_reader.h"
#include "smallthinker_file.h"
#include "weights.h"

namespace st {

class MappedFile;

class Model {
 public:
  static std::unique_ptr<Model> load(const std::string& path);
  // The budgeted mode, with an expert cache of `cache.slots` slots.
  static std::unique_ptr<Model> load_budgeted(const std::string& path, const ExpertCacheConfig& cache);
  // The same with the file already opened and validated (the memory plan needed it first).
  static std::unique_ptr<Model> load_budgeted(const std::string& path, const SmallThinkerFile& file, const ExpertCacheConfig& cache);
  ~Model();

  // Bytes the budgeted mode keeps resident besides the expert cache (non-expert weights as
  // read, aligned), and the size of one expert-cache slot, for the memory plan.
  static size_t resident_bytes_budgeted(const SmallThinkerFile& file);
  static size_t expert_slot_bytes(const SmallThinkerFile& file);

  // The embedding row of `token` as a 1-row matrix: in the mapping, or read into `scratch`
  // (embedding_scratch_bytes() long, 4096-aligned) in the budgeted mode.
  Matrix embedding_row(int32_t token, uint8_t* scratch) const;
  size_t embedding_scratch_bytes() const;
  static size_t embedding_scratch_bytes_for(const SmallThinkerFile& file);
  // nullptr in the mapped mode.
  ExpertCache* expert_cache() const { return expert_cache_.get(); }
  // Budgeted mode: whether reads bypass the page cache (O_DIRECT).
  bool reads_direct() const { return reader_ && reader_->direct(); }

  const std::string& path() const { return path_; }
  // Whether the file on disk differs from the one loaded (size or modification time): a
  // file rewritten in place would feed the model other weights (mapped mode) or a mix of
  // old and new experts (budgeted mode) without any error.
  bool file_changed() const;

  const SmallThinkerHParams& hparams() const { return hparams_; }
  const ModelWeights& weights() const { return weights_; }
  bool transposed_down() const { return transposed_down_; }
  size_t weights_bytes() const { return weights_bytes_; }
  // Bytes of the file's weights held in a format's own layout rather than as in the file.
  size_t relaid_weights_bytes() const { return relaid_bytes_; }
  // Mapped mode: bytes of those read at load straight from storage, past the page cache (the
  // pieces the cache did not hold); the rest were copied from the cache.
  size_t read_past_cache_bytes() const { return read_past_cache_bytes_; }

 private:
  Model() = default;
  std::string path_;
  gguf::FileIdentity loaded_file_;
  SmallThinkerHParams hparams_;
  ModelWeights weights_;
  bool transposed_down_ = false;
  size_t weights_bytes_ = 0;
  size_t relaid_bytes_ = 0;
  size_t read_past_cache_bytes_ = 0;
  std::unique_ptr<MappedFile> mapping_;
  // Budgeted mode.
  std::shared_ptr<FileReader> reader_;
  AlignedBuffer resident_;
  uint64_t embd_offset_ = 0;  // token_embd's file offset when its rows are read on demand
  std::unique_ptr<ExpertCache> expert_cache_;
  // The laid-out copies of the mapped mode's matrices; budgeted mode: of a tied output.
  AlignedBuffer relaid_;

  void lay_out_mapped();
};

}  // namespace st
