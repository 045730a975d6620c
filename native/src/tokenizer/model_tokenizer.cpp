#include "model_tokenizer.h"

#include <algorithm>

namespace st {

using gguf::GgufError;
using gguf::ValueType;

ModelTokenizer ModelTokenizer::from_gguf(const gguf::GgufFile& file) {
  auto fail = [&](const std::string& what) -> void { throw GgufError(file.name() + ": " + what); };
  const gguf::Value* model = file.find("tokenizer.ggml.model");
  if (!model || model->type != ValueType::STRING) fail("missing 'tokenizer.ggml.model'");
  if (model->str != "gpt2") fail("unsupported tokenizer '" + model->str + "' (expected gpt2 byte-level BPE)");
  const gguf::Value* tokens = file.find("tokenizer.ggml.tokens");
  if (!tokens || tokens->type != ValueType::ARRAY || tokens->array_type != ValueType::STRING || tokens->strings.empty()) {
    fail("missing or empty 'tokenizer.ggml.tokens'");
  }
  std::vector<int32_t> types;
  if (const gguf::Value* t = file.find("tokenizer.ggml.token_type")) {
    if (t->type != ValueType::ARRAY || t->ints.size() != tokens->strings.size()) fail("'tokenizer.ggml.token_type' does not match the token list");
    types.assign(t->ints.begin(), t->ints.end());
  }
  std::vector<std::string> merges;
  if (const gguf::Value* m = file.find("tokenizer.ggml.merges")) {
    if (m->type != ValueType::ARRAY || m->array_type != ValueType::STRING) fail("'tokenizer.ggml.merges' must be a string array");
    merges = m->strings;
  }
  ModelTokenizer out;
  try {
    out.bpe = std::make_unique<BpeTokenizer>(tokens->strings, types, merges);
  } catch (const std::invalid_argument& e) {
    fail(e.what());
  }
  const int32_t n = out.bpe->size();
  auto id_key = [&](const char* key) -> int32_t {
    const gguf::Value* v = file.find(key);
    if (!v) return -1;
    if (!v->is_integer() || v->i < 0 || v->i >= n) fail(std::string("'") + key + "' is not a token id");
    return static_cast<int32_t>(v->i);
  };
  out.bos_id = id_key("tokenizer.ggml.bos_token_id");
  out.eos_id = id_key("tokenizer.ggml.eos_token_id");
  if (out.eos_id >= 0) out.end_of_generation_ids.push_back(out.eos_id);
  for (const char* text : {"<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end|>"}) {
    const int32_t id = out.bpe->find(text);
    if (id >= 0 && std::find(out.end_of_generation_ids.begin(), out.end_of_generation_ids.end(), id) == out.end_of_generation_ids.end()) {
      out.end_of_generation_ids.push_back(id);
    }
  }
  if (const gguf::Value* tpl = file.find("tokenizer.chat_template")) {
    if (tpl->type == ValueType::STRING) out.chat_template = tpl->str;
  }
  return out;
}

}  // namespace st
