#include "smallthinker_file.h"

#include <algorithm>
#include <cmath>

namespace st {

using gguf::GgufError;
using gguf::Value;
using gguf::ValueType;

const char* flavour_name(Flavour f) { return f == Flavour::PowerInfer ? "powerinfer" : "upstream"; }

namespace {

[[noreturn]] void fail(const gguf::GgufFile& f, const std::string& what) { throw GgufError(f.name() + ": " + what); }

int64_t get_int(const gguf::GgufFile& f, const std::string& key, bool required, int64_t fallback, int64_t lo, int64_t hi) {
  const Value* v = f.find(key);
  if (!v) {
    if (required) fail(f, "missing hyper-parameter '" + key + "'");
    return fallback;
  }
  if (!v->is_integer()) fail(f, "hyper-parameter '" + key + "' must be an integer, not " + gguf::value_type_name(v->type));
  if (v->i < lo || v->i > hi) {
    fail(f, "hyper-parameter '" + key + "' = " + std::to_string(v->i) + " is outside " + std::to_string(lo) + ".." + std::to_string(hi));
  }
  return v->i;
}

double get_float(const gguf::GgufFile& f, const std::string& key, bool required, double fallback) {
  const Value* v = f.find(key);
  if (!v) {
    if (required) fail(f, "missing hyper-parameter '" + key + "'");
    return fallback;
  }
  if (v->is_float()) return v->f;
  if (v->is_integer()) return static_cast<double>(v->i);
  fail(f, "hyper-parameter '" + key + "' must be a number, not " + gguf::value_type_name(v->type));
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); i++) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

std::vector<int64_t> shape_of(const gguf::TensorInfo& t) { return std::vector<int64_t>(t.ne, t.ne + t.n_dims); }

enum class Kind { Norm, Router, Matrix };

const gguf::TensorInfo* expect(const SmallThinkerFile& m, const std::string& name, const std::vector<int64_t>& shape,
                               Kind kind, bool required = true) {
  const gguf::TensorInfo* t = m.gguf.find_tensor(name);
  if (!t) {
    if (required) fail(m.gguf, "missing tensor '" + name + "'");
    return nullptr;
  }
  if (shape_of(*t) != shape) {
    fail(m.gguf, "tensor '" + name + "' has shape " + shape_str(shape_of(*t)) + ", expected " + shape_str(shape));
  }
  const char* type = ggml_type_traits(static_cast<uint32_t>(t->type)).name;
  const bool ok = kind == Kind::Norm     ? t->type == GgmlType::F32
                  : kind == Kind::Router ? (t->type == GgmlType::F32 || t->type == GgmlType::F16)
                                         : ggml_type_is_supported_weight(t->type);
  if (!ok) {
    const char* allowed = kind == Kind::Norm ? "F32" : kind == Kind::Router ? "F32 or F16" : kSupportedWeightTypes;
    fail(m.gguf, "tensor '" + name + "' has unsupported tensor type " + type + " (supported here: " + allowed + ")");
  }
  return t;
}

}  // namespace

SmallThinkerFile SmallThinkerFile::open(const std::string& path) { return check(gguf::GgufFile::open(path)); }

SmallThinkerFile SmallThinkerFile::check(gguf::GgufFile file) {
  SmallThinkerFile m;
  m.gguf = std::move(file);
  const gguf::GgufFile& f = m.gguf;
  const Value* arch = f.find("general.architecture");
  if (!arch) fail(f, "missing 'general.architecture' (not a model file?)");
  if (arch->type != ValueType::STRING) fail(f, "'general.architecture' must be a string");
  if (arch->str != "smallthinker") fail(f, "wrong architecture " + gguf::quote(arch->str) + " (expected smallthinker)");

  const std::string p = "smallthinker.";
  SmallThinkerHParams& hp = m.hparams;
  hp.n_layer = static_cast<int32_t>(get_int(f, p + "block_count", true, 0, 1, 1024));
  hp.n_embd = static_cast<int32_t>(get_int(f, p + "embedding_length", true, 0, 32, 1 << 16));
  hp.n_head = static_cast<int32_t>(get_int(f, p + "attention.head_count", true, 0, 1, 1024));
  hp.n_head_kv = static_cast<int32_t>(get_int(f, p + "attention.head_count_kv", false, hp.n_head, 1, 1024));
  const int64_t key_len = get_int(f, p + "attention.key_length", false, hp.n_embd / hp.n_head, 2, 1024);
  const int64_t value_len = get_int(f, p + "attention.value_length", false, key_len, 2, 1024);
  if (key_len != value_len) fail(f, "attention.key_length and value_length differ (" + std::to_string(key_len) + " vs " + std::to_string(value_len) + ")");
  if (key_len % 2 != 0) fail(f, "attention.key_length " + std::to_string(key_len) + " is odd (RoPE needs pairs)");
  hp.head_dim = static_cast<int32_t>(key_len);
  if (hp.n_head % hp.n_head_kv != 0) fail(f, "attention.head_count " + std::to_string(hp.n_head) + " is not a multiple of head_count_kv " + std::to_string(hp.n_head_kv));
  hp.n_expert = static_cast<int32_t>(get_int(f, p + "expert_count", true, 0, 1, 256));
  hp.n_expert_used = static_cast<int32_t>(get_int(f, p + "expert_used_count", true, 0, 1, 256));
  if (hp.n_expert_used > hp.n_expert) fail(f, "expert_used_count " + std::to_string(hp.n_expert_used) + " exceeds expert_count " + std::to_string(hp.n_expert));
  const int64_t ff = get_int(f, p + "feed_forward_length", false, 0, 1, 1 << 20);
  hp.n_ff_exp = static_cast<int32_t>(get_int(f, p + "expert_feed_forward_length", ff == 0, ff, 1, 1 << 20));
  hp.n_ctx_train = static_cast<int32_t>(get_int(f, p + "context_length", true, 0, 1, 1 << 24));
  hp.rope_freq_base = static_cast<float>(get_float(f, p + "rope.freq_base", false, 10000.0));
  hp.rms_eps = static_cast<float>(get_float(f, p + "attention.layer_norm_rms_epsilon", true, 0));
  if (!(hp.rope_freq_base > 0) || !std::isfinite(hp.rope_freq_base)) fail(f, "rope.freq_base must be positive");
  if (!(hp.rms_eps > 0) || hp.rms_eps > 1) fail(f, "attention.layer_norm_rms_epsilon must be in (0, 1]");
  const int64_t gating = get_int(f, p + "expert_gating_func", false, 0, 0, 2);
  if (gating == 1) {
    hp.gating = ExpertGating::Softmax;
  } else {
    hp.gating = ExpertGating::Sigmoid;
    if (gating == 0) m.warnings.push_back("expert_gating_func is absent: using sigmoid gating");
  }
  if (f.find(p + "attention.sliding_window")) {
    get_int(f, p + "attention.sliding_window", true, 0, 0, 1 << 24);  // type check only
    hp.has_swa = true;
    hp.sliding_window = 4096;  // docs/model.md: exactly 4096, whatever the key stores
  }

  const int64_t E = hp.n_embd, QW = int64_t(hp.n_head) * hp.head_dim, KVW = int64_t(hp.n_head_kv) * hp.head_dim,
                N = hp.n_expert, F = hp.n_ff_exp;
  const gguf::TensorInfo* embd = f.find_tensor("token_embd.weight");
  if (!embd) fail(f, "missing tensor 'token_embd.weight'");
  if (embd->n_dims != 2) fail(f, "tensor 'token_embd.weight' has shape " + shape_str(shape_of(*embd)) + ", expected [" + std::to_string(E) + ", n_vocab]");
  hp.n_vocab = static_cast<int32_t>(std::min<int64_t>(embd->ne[1], INT32_MAX));
  if (const Value* tokens = f.find("tokenizer.ggml.tokens")) {
    if (tokens->type == ValueType::ARRAY && tokens->array_type == ValueType::STRING && static_cast<int64_t>(tokens->strings.size()) != embd->ne[1]) {
      fail(f, "the vocabulary has " + std::to_string(tokens->strings.size()) + " tokens but token_embd.weight has " + std::to_string(embd->ne[1]) + " rows");
    }
  }
  const int64_t V = hp.n_vocab;
  expect(m, "token_embd.weight", {E, V}, Kind::Matrix);
  expect(m, "output_norm.weight", {E}, Kind::Norm);
  m.tied_embeddings = expect(m, "output.weight", {E, V}, Kind::Matrix, false) == nullptr;

  for (int l = 0; l < hp.n_layer; l++) {
    const std::string b = "blk." + std::to_string(l) + ".";
    expect(m, b + "attn_norm.weight", {E}, Kind::Norm);
    expect(m, b + "attn_q.weight", {E, QW}, Kind::Matrix);
    expect(m, b + "attn_k.weight", {E, KVW}, Kind::Matrix);
    expect(m, b + "attn_v.weight", {E, KVW}, Kind::Matrix);
    expect(m, b + "attn_output.weight", {QW, E}, Kind::Matrix);
    expect(m, b + "ffn_norm.weight", {E}, Kind::Norm);
    expect(m, b + "ffn_gate_inp.weight", {E, N}, Kind::Router);
    expect(m, b + "ffn_gate_exps.weight", {E, F, N}, Kind::Matrix);
    expect(m, b + "ffn_up_exps.weight", {E, F, N}, Kind::Matrix);
    // The flavour is told by the shape of ffn_down_exps: [F, E, N] upstream, [E, F, N] transposed.
    const gguf::TensorInfo* down = f.find_tensor(b + "ffn_down_exps.weight");
    if (!down) fail(f, "missing tensor '" + b + "ffn_down_exps.weight'");
    const bool transposed = shape_of(*down) == std::vector<int64_t>{E, F, N} && E != F;
    if (l == 0) {
      m.flavour = transposed ? Flavour::PowerInfer : Flavour::Upstream;
    } else if (transposed != (m.flavour == Flavour::PowerInfer)) {
      fail(f, "tensor '" + b + "ffn_down_exps.weight' mixes the upstream and transposed layouts");
    }
    expect(m, b + "ffn_down_exps.weight", transposed ? std::vector<int64_t>{E, F, N} : std::vector<int64_t>{F, E, N}, Kind::Matrix);
  }
  return m;
}

// Resident memory for inference: every tensor's bytes (memory-mapped, all touched over time)
// + the F16 KV cache (global layers: n_ctx positions; SWA layers: at most the 4096 window)
// + scratch (activations, one logits row, attention scores: a few MiB).
uint64_t SmallThinkerFile::estimated_bytes(int32_t n_ctx) const {
  uint64_t weights = 0;
  for (const auto& t : gguf.tensors()) weights += t.n_bytes;
  const SmallThinkerHParams& hp = hparams;
  uint64_t kv = 0;
  const uint64_t row = 2ull * hp.n_head_kv * hp.head_dim * sizeof(uint16_t);
  for (int l = 0; l < hp.n_layer; l++) kv += row * static_cast<uint64_t>(hp.layer_is_swa(l) ? std::min(n_ctx, hp.sliding_window) : n_ctx);
  const uint64_t scratch = sizeof(float) * (uint64_t(hp.n_vocab) + uint64_t(hp.n_head) * n_ctx +
                                            8ull * std::max<int64_t>(hp.n_embd, int64_t(hp.n_head) * hp.head_dim) +
                                            4ull * hp.n_expert_used * hp.n_ff_exp);
  return weights + kv + scratch;
}

}  // namespace st
