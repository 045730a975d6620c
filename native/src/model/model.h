// A SmallThinker model ready for inference: the validated file, memory-mapped read-only,
// with views of every weight (weights.h). Loading reads no tensor data: pages come in on use.
#pragma once
#include <cstddef>
#include <memory>
#include <string>

#include "smallthinker_file.h"
#include "weights.h"

namespace st {

class MappedFile;

class Model {
 public:
  static std::unique_ptr<Model> load(const std::string& path);
  ~Model();

  const SmallThinkerHParams& hparams() const { return hparams_; }
  const ModelWeights& weights() const { return weights_; }
  bool transposed_down() const { return transposed_down_; }
  size_t weights_bytes() const { return weights_bytes_; }

 private:
  Model() = default;
  SmallThinkerHParams hparams_;
  ModelWeights weights_;
  bool transposed_down_ = false;
  size_t weights_bytes_ = 0;
  std::unique_ptr<MappedFile> mapping_;
};

}  // namespace st
