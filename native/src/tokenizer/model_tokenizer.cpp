#include "model_tokenizer.h"

#include <algorithm>

namespace st {

using gguf::GgufError;
using gguf::ValueType;

namespace {

// The tokenizer's metadata once checked: what from_gguf builds from.
struct CheckedMetadata {
  const gguf::Value* tokens = nullptr;
  const gguf::Value* token_types = nullptr;  // absent: every token is normal
  const gguf::Value* merges = nullptr;       // absent: no merges
  int32_t bos_id = -1;
  int32_t eos_id = -1;
  std::vector<std::string> warnings;
};

bool is_special_id_key(const std::string& key) {
  const std::string prefix = "tokenizer.ggml.", suffix = "_token_id";
  return key.size() > prefix.size() + suffix.size() && key.compare(0, prefix.size(), prefix) == 0 &&
         key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Every condition under which building the tokenizer fails is checked here, so inspect
// refuses a file for the same reasons (and with the same messages) as loading it would.
CheckedMetadata check_metadata(const gguf::GgufFile& file) {
  auto fail = [&](const std::string& what) { throw GgufError(file.name() + ": " + what); };
  CheckedMetadata out;
  const gguf::Value* model = file.find("tokenizer.ggml.model");
  if (!model || model->type != ValueType::STRING) fail("missing 'tokenizer.ggml.model'");
  if (model->str != "gpt2") fail("unsupported tokenizer " + gguf::quote(model->str) + " (expected gpt2 byte-level BPE)");
  // The names llama.cpp splits with the Qwen2 expression, the only one this engine has.
  const gguf::Value* pre = file.find("tokenizer.ggml.pre");
  const bool qwen2_split = pre && pre->type == ValueType::STRING &&
                           (pre->str == "qwen2" || pre->str == "deepseek-r1-qwen" || pre->str == "megrez" || pre->str == "kormo" ||
                            pre->str == "f2llmv2");
  if (!qwen2_split) {
    const std::string what = !pre ? "missing" : pre->type == ValueType::STRING ? gguf::quote(pre->str) : "not a string";
    out.warnings.push_back("tokenizer.ggml.pre is " + what + ": text is split as Qwen2's pre-tokenizer does, which may not match this model");
  }
  out.tokens = file.find("tokenizer.ggml.tokens");
  if (!out.tokens || out.tokens->type != ValueType::ARRAY || out.tokens->array_type != ValueType::STRING || out.tokens->strings.empty()) {
    fail("'tokenizer.ggml.tokens' must be a non-empty array of strings");
  }
  const size_t n = out.tokens->strings.size();
  if (n > static_cast<size_t>(INT32_MAX)) fail("'tokenizer.ggml.tokens' has more tokens than ids can number");
  if ((out.token_types = file.find("tokenizer.ggml.token_type"))) {
    const gguf::Value& t = *out.token_types;
    if (t.type != ValueType::ARRAY || !gguf::is_integer_type(t.array_type)) {
      fail(std::string("'tokenizer.ggml.token_type' must be an integer array, not ") +
           (t.type == ValueType::ARRAY ? "an array of " + std::string(gguf::value_type_name(t.array_type)) : gguf::value_type_name(t.type)));
    }
    if (t.ints.size() != n) fail("'tokenizer.ggml.token_type' has " + std::to_string(t.ints.size()) + " entries for " + std::to_string(n) + " tokens");
  }
  if ((out.merges = file.find("tokenizer.ggml.merges"))) {
    if (out.merges->type != ValueType::ARRAY || out.merges->array_type != ValueType::STRING) fail("'tokenizer.ggml.merges' must be an array of strings");
    const std::vector<std::string>& merges = out.merges->strings;
    for (size_t r = 0; r < merges.size(); r++) {
      if (!BpeTokenizer::is_merge(merges[r])) {
        fail("'tokenizer.ggml.merges' #" + std::to_string(r) + " " + gguf::quote(merges[r]) + " has no space between its two parts");
      }
    }
  }
  // The ids this engine uses must be tokens; others (padding, unknown, fill-in-the-middle...)
  // are ignored here, as llama.cpp ignores a bad one.
  for (const auto& [key, v] : file.metadata()) {
    if (!is_special_id_key(key)) continue;
    const bool used = key == "tokenizer.ggml.bos_token_id" || key == "tokenizer.ggml.eos_token_id";
    std::string problem;
    if (!v.is_integer()) {
      problem = gguf::quote(key) + " must be an integer token id, not " + gguf::value_type_name(v.type);
    } else if (v.i < 0 || static_cast<uint64_t>(v.i) >= n) {
      problem = gguf::quote(key) + " = " + (v.type == ValueType::UINT64 ? std::to_string(v.u) : std::to_string(v.i)) + " is not a token id";
    }
    if (problem.empty()) {
      if (key == "tokenizer.ggml.bos_token_id") out.bos_id = static_cast<int32_t>(v.i);
      if (key == "tokenizer.ggml.eos_token_id") out.eos_id = static_cast<int32_t>(v.i);
    } else if (used) {
      fail(problem + (v.is_integer() ? " (the vocabulary has " + std::to_string(n) + " tokens)" : ""));
    } else {
      out.warnings.push_back(problem + " (ignored)");
    }
  }
  return out;
}

}  // namespace

std::vector<std::string> ModelTokenizer::check(const gguf::GgufFile& file) { return check_metadata(file).warnings; }

ModelTokenizer ModelTokenizer::from_gguf(const gguf::GgufFile& file) {
  const CheckedMetadata meta = check_metadata(file);
  std::vector<int32_t> types;
  if (meta.token_types) types.assign(meta.token_types->ints.begin(), meta.token_types->ints.end());
  const std::vector<std::string> no_merges;
  ModelTokenizer out;
  try {
    out.bpe = std::make_unique<BpeTokenizer>(meta.tokens->strings, types, meta.merges ? meta.merges->strings : no_merges);
  } catch (const std::invalid_argument& e) {
    throw GgufError(file.name() + ": " + e.what());  // not reached: check_metadata refuses what the constructor would
  }
  out.bos_id = meta.bos_id;
  out.eos_id = meta.eos_id;
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
