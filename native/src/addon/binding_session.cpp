// createSession(path, options): a loaded model with one inference context, driven
// synchronously from JS (the engine process moves this off its JS thread).
#include <napi.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "kernels/kernels.h"
#include "model/forward.h"
#include "model/model.h"
#include "registry.h"
#include "sampling/sampler.h"
#include "runtime/thread_pool.h"

namespace st::addon {
namespace {

class SamplerWrap : public Napi::ObjectWrap<SamplerWrap> {
 public:
  static Napi::FunctionReference* constructor;

  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeSampler", {
      InstanceMethod("sample", &SamplerWrap::Sample),
      InstanceMethod("accept", &SamplerWrap::Accept),
    });
  }

  explicit SamplerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SamplerWrap>(info) {
    SamplerParams p;
    if (info.Length() > 0 && info[0].IsObject()) {
      Napi::Object o = info[0].As<Napi::Object>();
      auto num = [&](const char* key, double fallback) {
        Napi::Value v = o.Get(key);
        if (v.IsUndefined() || v.IsNull()) return fallback;
        if (!v.IsNumber()) throw Napi::TypeError::New(info.Env(), std::string("sampler option ") + key + " must be a number");
        return v.As<Napi::Number>().DoubleValue();
      };
      p.temperature = static_cast<float>(num("temperature", p.temperature));
      p.top_k = static_cast<int32_t>(num("topK", p.top_k));
      p.top_p = static_cast<float>(num("topP", p.top_p));
      p.min_p = static_cast<float>(num("minP", p.min_p));
      p.repeat_penalty = static_cast<float>(num("repeatPenalty", p.repeat_penalty));
      p.repeat_last_n = static_cast<int32_t>(num("repeatLastN", p.repeat_last_n));
      p.seed = static_cast<uint64_t>(num("seed", 0));
    }
    sampler_ = std::make_unique<Sampler>(p);
  }

 private:
  Napi::Value Sample(const Napi::CallbackInfo& info) {
    if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
      throw Napi::TypeError::New(info.Env(), "sample needs a Float32Array of logits");
    }
    Napi::Float32Array logits = info[0].As<Napi::Float32Array>();
    if (logits.ElementLength() == 0) throw Napi::RangeError::New(info.Env(), "sample needs at least one logit");
    return Napi::Number::New(info.Env(), sampler_->sample(logits.Data(), static_cast<int32_t>(logits.ElementLength())));
  }
  Napi::Value Accept(const Napi::CallbackInfo& info) {
    if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(info.Env(), "accept needs a token id");
    sampler_->accept(info[0].As<Napi::Number>().Int32Value());
    return info.Env().Undefined();
  }

  std::unique_ptr<Sampler> sampler_;
};
Napi::FunctionReference* SamplerWrap::constructor = nullptr;

class SessionWrap : public Napi::ObjectWrap<SessionWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeSession", {
      InstanceAccessor("info", &SessionWrap::Info, nullptr),
      InstanceAccessor("nPast", &SessionWrap::NPast, nullptr),
      InstanceMethod("evaluate", &SessionWrap::Evaluate),
      InstanceMethod("evaluateTopN", &SessionWrap::EvaluateTopN),
      InstanceMethod("reset", &SessionWrap::Reset),
      InstanceMethod("createSampler", &SessionWrap::CreateSampler),
    });
  }

  explicit SessionWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SessionWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "createSession needs a model path");
    const std::string path = info[0].As<Napi::String>().Utf8Value();
    int threads = 0;
    int64_t context = 0;
    bool allow_overflow = false;
    KvType kv_type = KvType::F16;
    if (info.Length() > 1 && info[1].IsObject()) {
      Napi::Object o = info[1].As<Napi::Object>();
      if (o.Get("threads").IsNumber()) threads = o.Get("threads").As<Napi::Number>().Int32Value();
      if (o.Get("context").IsNumber()) context = o.Get("context").As<Napi::Number>().Int64Value();
      allow_overflow = o.Get("allowContextOverflow").ToBoolean();
      Napi::Value kv = o.Get("kvType");
      if (kv.IsString()) {
        const std::string k = kv.As<Napi::String>().Utf8Value();
        if (k == "f32") kv_type = KvType::F32;
        else if (k == "q8_0") kv_type = KvType::Q8_0;
        else if (k != "f16") throw Napi::TypeError::New(env, "kvType must be 'f16', 'q8_0' or 'f32'");
      }
    }
    if (threads < 0 || threads > 256) throw Napi::RangeError::New(env, "threads must be between 0 (auto) and 256");
    try {
      model_ = Model::load(path);
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, e.what());
    }
    const int32_t n_ctx_train = model_->hparams().n_ctx_train;
    if (context < 0) throw Napi::RangeError::New(env, "context must be positive");
    if (context == 0) context = n_ctx_train;
    if (context > n_ctx_train && !allow_overflow) {
      throw Napi::RangeError::New(env, "a context of " + std::to_string(context) + " tokens is more than the model's " +
                                           std::to_string(n_ctx_train) + " (pass --allow-context-overflow to insist)");
    }
    if (context > (1 << 24)) throw Napi::RangeError::New(env, "context is too large");
    pool_ = std::make_unique<ThreadPool>(threads > 0 ? threads : default_thread_count());
    try {
      ctx_ = std::make_unique<InferenceContext>(*model_, static_cast<int32_t>(context), kv_type, *pool_);
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, e.what());
    }
  }

 private:
  std::vector<int32_t> tokens_arg(const Napi::CallbackInfo& info) {
    if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
      throw Napi::TypeError::New(info.Env(), "evaluate needs an Int32Array of token ids");
    }
    Napi::Int32Array a = info[0].As<Napi::Int32Array>();
    return std::vector<int32_t>(a.Data(), a.Data() + a.ElementLength());
  }

  template <typename F>
  void guarded(Napi::Env env, F&& f) {
    try {
      f();
    } catch (const Napi::Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, e.what());
    }
  }

  Napi::Value Evaluate(const Napi::CallbackInfo& info) {
    std::vector<int32_t> tokens = tokens_arg(info);
    guarded(info.Env(), [&] { ctx_->evaluate(tokens.data(), static_cast<int32_t>(tokens.size()), false, logits_); });
    Napi::Float32Array out = Napi::Float32Array::New(info.Env(), logits_.size());
    std::copy(logits_.begin(), logits_.end(), out.Data());
    return out;
  }

  Napi::Value EvaluateTopN(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::vector<int32_t> tokens = tokens_arg(info);
    if (info.Length() < 2 || !info[1].IsNumber()) throw Napi::TypeError::New(env, "evaluateTopN needs a count");
    const int64_t top = info[1].As<Napi::Number>().Int64Value();
    const int32_t n_vocab = model_->hparams().n_vocab;
    if (top < 1 || top > n_vocab) throw Napi::RangeError::New(env, "top must be between 1 and the vocabulary size");
    Napi::Array positions = Napi::Array::New(env, tokens.size());
    std::vector<int32_t> order(n_vocab);
    // Batches of the prefill size keep memory at batch × n_vocab logits, whatever the length.
    constexpr size_t kChunk = 128;
    for (size_t c = 0; c < tokens.size(); c += kChunk) {
      const size_t m = std::min(kChunk, tokens.size() - c);
      guarded(env, [&] { ctx_->evaluate(&tokens[c], static_cast<int32_t>(m), true, logits_); });
      for (size_t i = 0; i < m; i++) {
        const float* row = logits_.data() + i * n_vocab;
        for (int32_t v = 0; v < n_vocab; v++) order[v] = v;
        std::partial_sort(order.begin(), order.begin() + top, order.end(), [&](int32_t a, int32_t b) {
          return row[a] > row[b] || (row[a] == row[b] && a < b);
        });
        Napi::Array out = Napi::Array::New(env, top);
        for (int64_t j = 0; j < top; j++) {
          Napi::Array pair = Napi::Array::New(env, 2);
          pair.Set(0u, Napi::Number::New(env, order[j]));
          pair.Set(1u, Napi::Number::New(env, row[order[j]]));
          out.Set(static_cast<uint32_t>(j), pair);
        }
        positions.Set(static_cast<uint32_t>(c + i), out);
      }
    }
    return positions;
  }

  Napi::Value Reset(const Napi::CallbackInfo& info) {
    ctx_ = std::make_unique<InferenceContext>(*model_, ctx_->n_ctx(), ctx_->kv_cache().type(), *pool_);
    return info.Env().Undefined();
  }

  Napi::Value CreateSampler(const Napi::CallbackInfo& info) {
    return SamplerWrap::constructor->New({info.Length() > 0 ? info[0] : info.Env().Undefined()});
  }

  Napi::Value NPast(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), ctx_->n_past()); }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const SmallThinkerHParams& hp = model_->hparams();
    Napi::Object o = Napi::Object::New(env);
    o.Set("n_vocab", hp.n_vocab);
    o.Set("n_ctx", ctx_->n_ctx());
    o.Set("n_ctx_train", hp.n_ctx_train);
    o.Set("threads", pool_->size());
    o.Set("isa", kernels::active_isa_name());
    o.Set("flavour", model_->transposed_down() ? "powerinfer" : "upstream");
    o.Set("kv_cache_bytes", static_cast<double>(ctx_->kv_cache().bytes()));
    o.Set("scratch_bytes", static_cast<double>(ctx_->scratch_bytes()));
    o.Set("weights_bytes", static_cast<double>(model_->weights_bytes()));
    return o;
  }

  std::unique_ptr<Model> model_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<InferenceContext> ctx_;
  std::vector<float> logits_;
};

Napi::Value PeakRssBytes(const Napi::CallbackInfo& info) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return Napi::Number::New(info.Env(), std::stod(line.substr(6)) * 1024.0);
  }
  return Napi::Number::New(info.Env(), 0);
}

Registration reg([](Napi::Env env, Napi::Object exports) {
  SamplerWrap::constructor = new Napi::FunctionReference(Napi::Persistent(SamplerWrap::Define(env)));
  Napi::Function session = SessionWrap::Define(env);
  // Keep the constructor alive for the addon's lifetime; createSession(path, opts) == new NativeSession.
  static Napi::FunctionReference* session_ctor = new Napi::FunctionReference(Napi::Persistent(session));
  exports.Set("createSession", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
    std::vector<napi_value> args(info.Length());
    for (size_t i = 0; i < info.Length(); i++) args[i] = info[i];
    return session_ctor->New(args);
  }));
  exports.Set("peakRssBytes", Napi::Function::New(env, PeakRssBytes));
});

}  // namespace
}  // namespace st::addon
