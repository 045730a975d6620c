// The tokenizer of a GGUF model file: its vocabulary, merges and special ids.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "bpe_tokenizer.h"
#include "gguf/gguf_reader.h"

namespace st {

struct ModelTokenizer {
  std::unique_ptr<BpeTokenizer> bpe;
  int32_t bos_id = -1;
  int32_t eos_id = -1;
  std::vector<int32_t> end_of_generation_ids;  // eos plus the chat-turn terminators in the vocab
  std::string chat_template;                   // tokenizer.chat_template, empty when absent

  // Throws gguf::GgufError with a clear message for a vocabulary this engine cannot use.
  static ModelTokenizer from_gguf(const gguf::GgufFile& file);

  // Everything from_gguf checks, without building the tokenizer (its hash maps take a
  // 152k vocabulary 100-250 ms; inspect runs this before every load). Throws what from_gguf
  // would; returns warnings about what this engine ignores.
  static std::vector<std::string> check(const gguf::GgufFile& file);
};

}  // namespace st
