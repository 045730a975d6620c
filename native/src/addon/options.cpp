#include "options.h"

#include <cmath>
#include <limits>
#include <string>

namespace st::addon {
namespace {

// Reads the fields of one options object; `what` prefixes every message.
class Options {
 public:
  Options(Napi::Env env, Napi::Value value, std::string what) : env_(env), what_(std::move(what)) {
    if (value.IsUndefined() || value.IsNull()) return;
    if (!value.IsObject() || value.IsArray()) throw Napi::TypeError::New(env_, what_ + " must be an object");
    object_ = value.As<Napi::Object>();
  }

  // A number in [min, max]; absent: fallback.
  double number(const char* key, double fallback, double min, double max) {
    Napi::Value v = get(key);
    if (v.IsUndefined() || v.IsNull()) return fallback;
    if (!v.IsNumber()) throw Napi::TypeError::New(env_, name(key) + " must be a number");
    const double x = v.As<Napi::Number>().DoubleValue();
    if (!(x >= min && x <= max)) {
      throw Napi::RangeError::New(env_, name(key) + " must be between " + format(min) + " and " + format(max));
    }
    return x;
  }
  int64_t integer(const char* key, int64_t fallback, int64_t min, int64_t max) {
    const double x = number(key, static_cast<double>(fallback), static_cast<double>(min), static_cast<double>(max));
    if (x != std::floor(x)) throw Napi::TypeError::New(env_, name(key) + " must be a whole number");
    return static_cast<int64_t>(x);
  }
  bool boolean(const char* key, bool fallback) {
    Napi::Value v = get(key);
    if (v.IsUndefined() || v.IsNull()) return fallback;
    if (!v.IsBoolean()) throw Napi::TypeError::New(env_, name(key) + " must be true or false");
    return v.As<Napi::Boolean>().Value();
  }
  // One of `choices`; absent: fallback.
  std::string choice(const char* key, const std::string& fallback, std::initializer_list<const char*> choices) {
    Napi::Value v = get(key);
    if (v.IsUndefined() || v.IsNull()) return fallback;
    std::string list;  // 'a', 'b' or 'c'
    size_t i = 0;
    for (const char* c : choices) list += (i++ == 0 ? "'" : i == choices.size() ? " or '" : ", '") + std::string(c) + "'";
    if (v.IsString()) {
      const std::string s = v.As<Napi::String>().Utf8Value();
      for (const char* c : choices) if (s == c) return s;
    }
    throw Napi::TypeError::New(env_, name(key) + " must be " + list);
  }
  // An array of whole numbers in [min, max]; absent: empty.
  std::vector<int32_t> integers(const char* key, int64_t min, int64_t max) {
    std::vector<int32_t> out;
    Napi::Value v = get(key);
    if (v.IsUndefined() || v.IsNull()) return out;
    if (!v.IsArray()) throw Napi::TypeError::New(env_, name(key) + " must be an array of whole numbers");
    Napi::Array a = v.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Value x = a.Get(i);
      const double d = x.IsNumber() ? x.As<Napi::Number>().DoubleValue() : std::nan("");
      if (!(d == std::floor(d))) throw Napi::TypeError::New(env_, name(key) + " must be an array of whole numbers");
      if (d < static_cast<double>(min) || d > static_cast<double>(max)) {
        throw Napi::RangeError::New(env_, name(key) + " must hold numbers between " + format(static_cast<double>(min)) + " and " +
                                              format(static_cast<double>(max)));
      }
      out.push_back(static_cast<int32_t>(d));
    }
    return out;
  }
  Napi::Value get(const char* key) const { return object_.IsEmpty() ? env_.Undefined() : object_.Get(key); }

 private:
  std::string name(const char* key) const { return what_ + ": " + key; }
  static std::string format(double x) {
    if (x == std::floor(x) && std::fabs(x) < 1e15) return std::to_string(static_cast<int64_t>(x));
    return std::to_string(x);
  }
  Napi::Env env_;
  std::string what_;
  Napi::Object object_;
};

}  // namespace

SessionSpec session_spec(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "createSession needs a model path");
  SessionSpec s;
  s.path = info[0].As<Napi::String>().Utf8Value();
  Options o(env, info.Length() > 1 ? info[1] : env.Undefined(), "createSession");
  s.threads = static_cast<int>(o.integer("threads", 0, 0, 256));
  s.context = o.integer("context", 0, 0, 1 << 24);
  s.allow_overflow = o.boolean("allowContextOverflow", false);
  const std::string kv = o.choice("kvType", "f16", {"f16", "q8_0", "f32"});
  s.kv_type = kv == "f32" ? KvType::F32 : kv == "q8_0" ? KvType::Q8_0 : KvType::F16;
  s.budget_mib = o.number("memoryBudgetMiB", 0, 0, 1 << 24);
  s.planned_slots = o.integers("plannedSlots", 1, 1 << 24);
  s.planned_kv_bytes = o.number("plannedKvBytes", -1, 0, std::numeric_limits<double>::max());
  s.cache.policy = o.choice("cachePolicy", "frequency", {"frequency", "lru"}) == "lru" ? CachePolicy::Lru : CachePolicy::Frequency;
  s.cache.prefetch = o.boolean("prefetch", true);
  // No early reads of any kind without prefetching.
  s.cache.predict_next_layer = s.cache.prefetch && o.boolean("predictNextLayer", true);
  s.max_slots = static_cast<int32_t>(o.integer("maxExpertSlots", 0, 0, 1 << 24));
  return s;
}

SamplerParams sampler_params(Napi::Env env, Napi::Value value, const char* what) {
  SamplerParams p;
  Options o(env, value, what);
  p.temperature = static_cast<float>(o.number("temperature", p.temperature, 0, 100));
  p.top_k = static_cast<int32_t>(o.integer("topK", p.top_k, 0, 1 << 24));
  p.top_p = static_cast<float>(o.number("topP", p.top_p, 0, 1));
  p.min_p = static_cast<float>(o.number("minP", p.min_p, 0, 1));
  p.repeat_penalty = static_cast<float>(o.number("repeatPenalty", p.repeat_penalty, 0, 100));
  p.repeat_last_n = static_cast<int32_t>(o.integer("repeatLastN", p.repeat_last_n, 0, 1 << 20));
  p.seed = static_cast<uint64_t>(o.integer("seed", 0, 0, (int64_t(1) << 53) - 1));
  return p;
}

std::vector<int32_t> token_array(Napi::Env env, Napi::Value value, const char* what) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    throw Napi::TypeError::New(env, std::string(what) + " needs an Int32Array of token ids");
  }
  Napi::Int32Array a = value.As<Napi::Int32Array>();
  return std::vector<int32_t>(a.Data(), a.Data() + a.ElementLength());
}

GenerateRequest generate_request(Napi::Env env, Napi::Value value, int32_t n_vocab) {
  if (!value.IsObject()) throw Napi::TypeError::New(env, "generate needs an options object");
  Options o(env, value, "generate");
  GenerateRequest r;
  Napi::Value prompt = o.get("prompt");
  if (!prompt.IsTypedArray() || prompt.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    throw Napi::TypeError::New(env, "generate needs prompt: Int32Array of token ids");
  }
  r.prompt = token_array(env, prompt, "generate");
  for (int32_t t : r.prompt) {
    if (t < 0 || t >= n_vocab) throw Napi::RangeError::New(env, "token id " + std::to_string(t) + " is outside the vocabulary");
  }
  r.history = o.integers("history", 0, n_vocab - 1);
  r.stop_ids = o.integers("stopIds", 0, n_vocab - 1);
  if (o.get("maxTokens").IsUndefined()) throw Napi::TypeError::New(env, "generate: maxTokens is required");
  r.max_tokens = static_cast<int32_t>(o.integer("maxTokens", 0, 0, 1 << 24));
  r.sampling = sampler_params(env, o.get("sampling"), "generate: sampling");
  return r;
}

}  // namespace st::addon
