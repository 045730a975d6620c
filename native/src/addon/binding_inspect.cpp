// inspect(path): validates a SmallThinker GGUF file (header only, no tensor data read) and
// its tokenizer, and describes it in the shape of `smallthinker inspect --json` (docs/cli.md).
#include <napi.h>

#include "model/smallthinker_file.h"
#include "registry.h"
#include "tokenizer/model_tokenizer.h"

namespace st::addon {
namespace {

Napi::Value Inspect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "inspect needs a model path");
  SmallThinkerFile m;
  try {
    m = SmallThinkerFile::open(info[0].As<Napi::String>().Utf8Value());
    // Whatever would stop the engine building the tokenizer stops the file here, before a load.
    for (std::string& w : ModelTokenizer::check(m.gguf)) m.warnings.push_back(std::move(w));
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
  const SmallThinkerHParams& hp = m.hparams;
  Napi::Object hparams = Napi::Object::New(env);
  hparams.Set("n_layer", hp.n_layer);
  hparams.Set("n_embd", hp.n_embd);
  hparams.Set("n_head", hp.n_head);
  hparams.Set("n_head_kv", hp.n_head_kv);
  hparams.Set("head_dim", hp.head_dim);
  hparams.Set("n_expert", hp.n_expert);
  hparams.Set("n_expert_used", hp.n_expert_used);
  hparams.Set("n_ff_exp", hp.n_ff_exp);
  hparams.Set("n_ctx_train", hp.n_ctx_train);
  hparams.Set("n_vocab", hp.n_vocab);
  hparams.Set("rope_freq_base", hp.rope_freq_base);
  hparams.Set("rms_eps", hp.rms_eps);
  hparams.Set("gating", hp.gating == ExpertGating::Softmax ? "softmax" : "sigmoid");
  hparams.Set("sliding_window", hp.has_swa ? hp.sliding_window : 0);
  hparams.Set("tied_embeddings", m.tied_embeddings);

  const auto& infos = m.gguf.tensors();
  Napi::Array tensors = Napi::Array::New(env, infos.size());
  for (size_t i = 0; i < infos.size(); i++) {
    const auto& t = infos[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", t.name);
    o.Set("type", ggml_type_traits(static_cast<uint32_t>(t.type)).name);
    Napi::Array shape = Napi::Array::New(env, t.n_dims);
    for (uint32_t d = 0; d < t.n_dims; d++) shape.Set(d, Napi::Number::New(env, static_cast<double>(t.ne[d])));
    o.Set("shape", shape);
    o.Set("offset", static_cast<double>(t.file_offset));
    o.Set("bytes", static_cast<double>(t.n_bytes));
    tensors.Set(static_cast<uint32_t>(i), o);
  }
  Napi::Array warnings = Napi::Array::New(env, m.warnings.size());
  for (size_t i = 0; i < m.warnings.size(); i++) warnings.Set(static_cast<uint32_t>(i), m.warnings[i]);

  Napi::Object report = Napi::Object::New(env);
  report.Set("arch", "smallthinker");
  report.Set("flavour", flavour_name(m.flavour));
  report.Set("hparams", hparams);
  report.Set("tensors", tensors);
  report.Set("file_bytes", static_cast<double>(m.gguf.file_size()));
  report.Set("estimated_bytes", static_cast<double>(m.estimated_bytes(hp.n_ctx_train)));
  report.Set("gguf_version", m.gguf.version());
  report.Set("warnings", warnings);
  return report;
}

Registration reg([](Napi::Env env, Napi::Object exports) { exports.Set("inspect", Napi::Function::New(env, Inspect)); });

}  // namespace
}  // namespace st::addon
