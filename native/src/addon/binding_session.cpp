// createSession(path, options): a loaded model with one inference context, driven
// synchronously from JS (CLI, tests). session.createSlot(options): another inference context
// (its own KV cache) on the same weights and threads, whose generate() runs prompt evaluation
// and sampling on a native thread, streams tokens back and can be cancelled: the engine
// process keeps one slot per document or chat and stays responsive while a slot works.
#include <napi.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kernels/kernels.h"
#include "model/forward.h"
#include "model/memory_plan.h"
#include "model/model.h"
#include "model_file_guard.h"
#include "registry.h"
#include "sampling/sampler.h"
#include "runtime/thread_pool.h"
#include "runtime/work_counter.h"

namespace st::addon {
namespace {

// Sampler options from a JS object ({temperature, topK, topP, minP, repeatPenalty, repeatLastN, seed}).
SamplerParams sampler_params(Napi::Env env, Napi::Value v) {
  SamplerParams p;
  if (!v.IsObject()) return p;
  Napi::Object o = v.As<Napi::Object>();
  auto num = [&](const char* key, double fallback) {
    Napi::Value x = o.Get(key);
    if (x.IsUndefined() || x.IsNull()) return fallback;
    if (!x.IsNumber()) throw Napi::TypeError::New(env, std::string("sampler option ") + key + " must be a number");
    return x.As<Napi::Number>().DoubleValue();
  };
  p.temperature = static_cast<float>(num("temperature", p.temperature));
  p.top_k = static_cast<int32_t>(num("topK", p.top_k));
  p.top_p = static_cast<float>(num("topP", p.top_p));
  p.min_p = static_cast<float>(num("minP", p.min_p));
  p.repeat_penalty = static_cast<float>(num("repeatPenalty", p.repeat_penalty));
  p.repeat_last_n = static_cast<int32_t>(num("repeatLastN", p.repeat_last_n));
  p.seed = static_cast<uint64_t>(num("seed", 0));
  return p;
}

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
    sampler_ = std::make_unique<Sampler>(sampler_params(info.Env(), info.Length() > 0 ? info[0] : info.Env().Undefined()));
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

// What a session and its slots share: the weights, the threads, and the rule that only one
// of them computes at a time (they share the thread pool).
struct SessionCore {
  std::unique_ptr<Model> model;
  std::unique_ptr<ThreadPool> pool;
  std::atomic<bool> busy{false};
};

// Marks the core busy for a synchronous call on the JS thread.
class SyncUse {
 public:
  SyncUse(Napi::Env env, SessionCore& core) : core_(core) {
    if (core_.busy.exchange(true)) throw Napi::Error::New(env, "the session is busy with a generation");
  }
  ~SyncUse() { core_.busy.store(false); }

 private:
  SessionCore& core_;
};

// What createSession's arguments ask for, checked on the JS thread.
struct SessionSpec {
  std::string path;
  int threads = 0;
  int64_t context = 0;
  bool allow_overflow = false;
  KvType kv_type = KvType::F16;
  double budget_mib = 0;
  double planned_kv_bytes = -1;
  std::vector<int32_t> planned_slots;
  ExpertCacheConfig cache;
  int32_t max_slots = 0;
};

// A loaded model with its threads, ready to be wrapped on the JS thread.
struct LoadedSession {
  std::shared_ptr<SessionCore> core;
  std::optional<MemoryPlan> plan;
  KvType kv_type = KvType::F16;
  int32_t context = 0;
  bool eager_context = false;  // allocate the session's own context now (no planned slots)
};

SessionSpec parse_session_spec(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "createSession needs a model path");
  SessionSpec s;
  s.path = info[0].As<Napi::String>().Utf8Value();
  if (info.Length() > 1 && info[1].IsObject()) {
    Napi::Object o = info[1].As<Napi::Object>();
    if (o.Get("threads").IsNumber()) s.threads = o.Get("threads").As<Napi::Number>().Int32Value();
    if (o.Get("context").IsNumber()) s.context = o.Get("context").As<Napi::Number>().Int64Value();
    s.allow_overflow = o.Get("allowContextOverflow").ToBoolean();
    Napi::Value kv = o.Get("kvType");
    if (kv.IsString()) {
      const std::string k = kv.As<Napi::String>().Utf8Value();
      if (k == "f32") s.kv_type = KvType::F32;
      else if (k == "q8_0") s.kv_type = KvType::Q8_0;
      else if (k != "f16") throw Napi::TypeError::New(env, "kvType must be 'f16', 'q8_0' or 'f32'");
    }
    Napi::Value budget = o.Get("memoryBudgetMiB");
    if (!budget.IsUndefined() && !budget.IsNull()) {
      if (!budget.IsNumber() || !(budget.As<Napi::Number>().DoubleValue() >= 0)) {
        throw Napi::TypeError::New(env, "memoryBudgetMiB must be a number of MiB (0: no bound)");
      }
      s.budget_mib = budget.As<Napi::Number>().DoubleValue();
    }
    if (o.Get("plannedKvBytes").IsNumber()) s.planned_kv_bytes = o.Get("plannedKvBytes").As<Napi::Number>().DoubleValue();
    if (o.Get("plannedSlots").IsArray()) {
      Napi::Array a = o.Get("plannedSlots").As<Napi::Array>();
      for (uint32_t i = 0; i < a.Length(); i++) s.planned_slots.push_back(a.Get(i).ToNumber().Int32Value());
    }
    Napi::Value policy = o.Get("cachePolicy");
    if (policy.IsString()) {
      const std::string p = policy.As<Napi::String>().Utf8Value();
      if (p == "lru") s.cache.policy = CachePolicy::Lru;
      else if (p != "frequency") throw Napi::TypeError::New(env, "cachePolicy must be 'frequency' or 'lru'");
    }
    if (o.Get("prefetch").IsBoolean()) s.cache.prefetch = o.Get("prefetch").ToBoolean();
    if (o.Get("predictNextLayer").IsBoolean()) s.cache.predict_next_layer = o.Get("predictNextLayer").ToBoolean();
    if (!s.cache.prefetch) s.cache.predict_next_layer = false;  // no early reads of any kind
    if (o.Get("pinHotSet").IsBoolean()) s.cache.pin_hot_set = o.Get("pinHotSet").ToBoolean();
    if (o.Get("maxExpertSlots").IsNumber()) s.max_slots = o.Get("maxExpertSlots").As<Napi::Number>().Int32Value();
  }
  if (s.threads < 0 || s.threads > 256) throw Napi::RangeError::New(env, "threads must be between 0 (auto) and 256");
  if (s.budget_mib > (1 << 24)) throw Napi::RangeError::New(env, "memoryBudgetMiB is too large");
  if (s.context < 0) throw Napi::RangeError::New(env, "context must be positive");
  if (s.context > (1 << 24)) throw Napi::RangeError::New(env, "context is too large");
  return s;
}

// Under a budget the default context is modest: its KV cache comes out of the budget.
constexpr int64_t kBudgetedDefaultContext = 4096;

void check_context(int64_t context, int32_t n_ctx_train, bool allow_overflow) {
  if (context > n_ctx_train && !allow_overflow) {
    throw std::range_error("a context of " + std::to_string(context) + " tokens is more than the model's " +
                           std::to_string(n_ctx_train) + " (pass --allow-context-overflow to insist)");
  }
}

// Plans memory, loads the model and starts the threads. Touches no JS value, so it can run on
// a worker thread (createSessionAsync); throws std::exception with a message for the user.
LoadedSession load_session(SessionSpec spec) {
  const int n_threads = spec.threads > 0 ? spec.threads : default_thread_count();
  LoadedSession out;
  out.core = std::make_shared<SessionCore>();
  int64_t context = spec.context;
  if (spec.budget_mib > 0) {
    // Plan first (reading only the header), then load what the plan says fits.
    SmallThinkerFile file = SmallThinkerFile::open(spec.path);
    const int32_t n_ctx_train = file.hparams.n_ctx_train;
    if (context == 0) context = std::min<int64_t>(n_ctx_train, kBudgetedDefaultContext);
    check_context(context, n_ctx_train, spec.allow_overflow);
    uint64_t kv_bytes = 0;
    if (spec.planned_kv_bytes >= 0) {
      kv_bytes = static_cast<uint64_t>(spec.planned_kv_bytes);
    } else if (!spec.planned_slots.empty()) {
      for (int32_t c : spec.planned_slots) kv_bytes += KvCache::bytes_for(file.hparams, c, spec.kv_type, InferenceContext::kSlotRewindSlack);
    } else {
      kv_bytes = KvCache::bytes_for(file.hparams, static_cast<int32_t>(context), spec.kv_type);
    }
    out.plan = plan_memory(file, static_cast<uint64_t>(spec.budget_mib * (1 << 20)), kv_bytes, static_cast<int32_t>(context),
                           n_threads, spec.max_slots);
    spec.cache.slots = out.plan->slots;
    spec.cache.bypass_experts = file.hparams.n_expert_used;
    out.core->model = Model::load_budgeted(spec.path, file, spec.cache);
  } else {
    out.core->model = Model::load(spec.path);
  }
  const int32_t n_ctx_train = out.core->model->hparams().n_ctx_train;
  if (context == 0) context = n_ctx_train;
  check_context(context, n_ctx_train, spec.allow_overflow);
  out.core->pool = std::make_unique<ThreadPool>(n_threads);
  out.kv_type = spec.kv_type;
  out.context = static_cast<int32_t>(context);
  out.eager_context = spec.planned_slots.empty() && spec.planned_kv_bytes < 0;
  return out;
}

Napi::Value CreateSlot(Napi::Env env, std::shared_ptr<SessionCore> core, int32_t context, KvType kv_type);

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
      InstanceMethod("createSlot", &SessionWrap::CreateSlotMethod),
      InstanceMethod("slotKvCacheBytes", &SessionWrap::SlotKvCacheBytes),
      InstanceMethod("expertCacheStats", &SessionWrap::ExpertCacheStatsMethod),
      InstanceMethod("routingStats", &SessionWrap::RoutingStatsMethod),
    });
  }

  // new NativeSession(path, options) loads synchronously (the CLI, tests);
  // new NativeSession(External<LoadedSession>) adopts what LoadSessionWorker loaded off the JS thread.
  explicit SessionWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SessionWrap>(info) {
    Napi::Env env = info.Env();
    LoadedSession loaded;
    if (info.Length() == 1 && info[0].IsExternal()) {
      loaded = std::move(*info[0].As<Napi::External<LoadedSession>>().Data());
    } else {
      SessionSpec spec = parse_session_spec(info);
      try {
        loaded = load_session(std::move(spec));
      } catch (const std::exception& e) {
        throw Napi::Error::New(env, e.what());
      }
    }
    core_ = std::move(loaded.core);
    plan_ = std::move(loaded.plan);
    model_ = core_->model.get();
    pool_ = core_->pool.get();
    kv_type_ = loaded.kv_type;
    context_ = loaded.context;
    // The session's own context (used by evaluate; the engine process uses slots only) is
    // allocated on first use, so a process that never evaluates here holds no KV cache for it.
    if (loaded.eager_context) {
      try {
        ctx();
      } catch (const std::exception& e) {
        throw Napi::Error::New(env, e.what());
      }
    }
  }

  InferenceContext& ctx() {
    if (!ctx_) ctx_ = std::make_unique<InferenceContext>(*model_, context_, kv_type_, *pool_);
    return *ctx_;
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
    SyncUse use(info.Env(), *core_);
    std::vector<int32_t> tokens = tokens_arg(info);
    exit_if_model_file_changed(*model_);
    guarded(info.Env(), [&] { ctx().evaluate(tokens.data(), static_cast<int32_t>(tokens.size()), false, logits_); });
    Napi::Float32Array out = Napi::Float32Array::New(info.Env(), logits_.size());
    std::copy(logits_.begin(), logits_.end(), out.Data());
    return out;
  }

  Napi::Value EvaluateTopN(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    SyncUse use(env, *core_);
    std::vector<int32_t> tokens = tokens_arg(info);
    if (info.Length() < 2 || !info[1].IsNumber()) throw Napi::TypeError::New(env, "evaluateTopN needs a count");
    const int64_t top = info[1].As<Napi::Number>().Int64Value();
    const int32_t n_vocab = model_->hparams().n_vocab;
    if (top < 1 || top > n_vocab) throw Napi::RangeError::New(env, "top must be between 1 and the vocabulary size");
    exit_if_model_file_changed(*model_);
    Napi::Array positions = Napi::Array::New(env, tokens.size());
    std::vector<int32_t> order(n_vocab);
    // Batches of the prefill size keep memory at batch × n_vocab logits, whatever the length.
    constexpr size_t kChunk = 128;
    for (size_t c = 0; c < tokens.size(); c += kChunk) {
      const size_t m = std::min(kChunk, tokens.size() - c);
      guarded(env, [&] { ctx().evaluate(&tokens[c], static_cast<int32_t>(m), true, logits_); });
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
    SyncUse use(info.Env(), *core_);
    ctx_ = std::make_unique<InferenceContext>(*model_, context_, kv_type_, *pool_);
    return info.Env().Undefined();
  }

  Napi::Value CreateSampler(const Napi::CallbackInfo& info) {
    return SamplerWrap::constructor->New({info.Length() > 0 ? info[0] : info.Env().Undefined()});
  }

  Napi::Value NPast(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), ctx_ ? ctx_->n_past() : 0); }

  // The KV cache a slot of this context would take, without allocating it.
  Napi::Value SlotKvCacheBytes(const Napi::CallbackInfo& info) {
    if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(info.Env(), "slotKvCacheBytes needs a context");
    const int32_t context = info[0].As<Napi::Number>().Int32Value();
    if (context < 1) throw Napi::RangeError::New(info.Env(), "context must be positive");
    return Napi::Number::New(info.Env(), static_cast<double>(KvCache::bytes_for(model_->hparams(), context, kv_type_,
                                                                                 InferenceContext::kSlotRewindSlack)));
  }

  // createSlot({context?}): context defaults to the session's.
  Napi::Value CreateSlotMethod(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int64_t context = context_;
    KvType kv_type = kv_type_;
    if (info.Length() > 0 && info[0].IsObject()) {
      Napi::Object o = info[0].As<Napi::Object>();
      Napi::Value c = o.Get("context");
      if (!c.IsUndefined()) {
        if (!c.IsNumber()) throw Napi::TypeError::New(env, "slot context must be a number");
        context = c.As<Napi::Number>().Int64Value();
      }
    }
    if (context < 1 || context > context_) {
      throw Napi::RangeError::New(env, "a slot's context must be between 1 and the session's " + std::to_string(context_));
    }
    return CreateSlot(env, core_, static_cast<int32_t>(context), kv_type);
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const SmallThinkerHParams& hp = model_->hparams();
    Napi::Object o = Napi::Object::New(env);
    o.Set("n_vocab", hp.n_vocab);
    o.Set("n_ctx", context_);
    o.Set("n_ctx_train", hp.n_ctx_train);
    o.Set("threads", pool_->size());
    o.Set("isa", kernels::active_isa_name());
    o.Set("flavour", model_->transposed_down() ? "powerinfer" : "upstream");
    // Before the session's own context exists (the engine process only uses slots), what one
    // context of this size would take.
    o.Set("kv_cache_bytes", static_cast<double>(ctx_ ? ctx_->kv_cache().bytes() : KvCache::bytes_for(hp, context_, kv_type_)));
    o.Set("scratch_bytes", static_cast<double>(ctx_ ? ctx_->scratch_bytes()
                                                    : InferenceContext::scratch_bytes_for(hp, context_, pool_->size())));
    o.Set("weights_bytes", static_cast<double>(model_->weights_bytes()));
    o.Set("packed_weights_bytes", static_cast<double>(model_->packed_weights_bytes()));
    if (plan_) {
      Napi::Object p = Napi::Object::New(env);
      p.Set("budget_bytes", static_cast<double>(plan_->budget));
      p.Set("baseline_bytes", static_cast<double>(plan_->baseline));
      p.Set("resident_weights_bytes", static_cast<double>(plan_->resident_weights));
      p.Set("kv_cache_bytes", static_cast<double>(plan_->kv_cache));
      p.Set("scratch_bytes", static_cast<double>(plan_->scratch));
      p.Set("expert_cache_bytes", static_cast<double>(plan_->expert_cache));
      p.Set("expert_slots", plan_->slots);
      p.Set("expert_slot_bytes", static_cast<double>(plan_->slot_bytes));
      p.Set("experts_total", static_cast<double>(plan_->experts_total));
      p.Set("minimum_bytes", static_cast<double>(plan_->minimum));
      p.Set("direct_io", model_->expert_cache() && model_->reads_direct());
      p.Set("summary", plan_->describe());
      o.Set("memory_plan", p);
    } else {
      o.Set("memory_plan", env.Null());
    }
    return o;
  }

  // {hits, misses, bytesRead, stallMs, prefetches, slots, pinned}, or null without a budget.
  Napi::Value ExpertCacheStatsMethod(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const ExpertCache* cache = model_->expert_cache();
    if (!cache) return env.Null();
    const ExpertCacheStats s = cache->stats();
    Napi::Object o = Napi::Object::New(env);
    o.Set("hits", static_cast<double>(s.hits));
    o.Set("misses", static_cast<double>(s.misses));
    o.Set("bytesRead", static_cast<double>(s.bytes_read));
    o.Set("stallMs", s.stall_ms);
    o.Set("prefetches", static_cast<double>(s.prefetches));
    o.Set("predicted", static_cast<double>(s.predicted));
    o.Set("tokens", static_cast<double>(s.tokens));
    o.Set("slots", cache->slots());
    o.Set("pinned", cache->pinned());
    return o;
  }

  // What the router and the experts of this session's own context did so far.
  Napi::Value RoutingStatsMethod(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const SmallThinkerHParams& hp = model_->hparams();
    Napi::Object o = Napi::Object::New(env);
    Napi::Array uses = Napi::Array::New(env);
    if (ctx_) {
      const RoutingStats& r = ctx_->routing_stats();
      for (size_t i = 0; i < r.expert_uses.size(); i++) uses.Set(static_cast<uint32_t>(i), static_cast<double>(r.expert_uses[i]));
      o.Set("neuronsActive", static_cast<double>(r.neurons_active));
      o.Set("neuronsTotal", static_cast<double>(r.neurons_total));
      o.Set("tokens", static_cast<double>(r.tokens));
    } else {
      o.Set("neuronsActive", 0);
      o.Set("neuronsTotal", 0);
      o.Set("tokens", 0);
    }
    o.Set("expertUses", uses);
    o.Set("nLayer", hp.n_layer);
    o.Set("nExpert", hp.n_expert);
    o.Set("nExpertUsed", hp.n_expert_used);
    return o;
  }

  std::shared_ptr<SessionCore> core_;
  Model* model_ = nullptr;      // owned by core_
  ThreadPool* pool_ = nullptr;  // owned by core_
  KvType kv_type_ = KvType::F16;
  int32_t context_ = 0;
  std::unique_ptr<InferenceContext> ctx_;  // see ctx()
  std::optional<MemoryPlan> plan_;
  std::vector<float> logits_;
};

struct GenerateJob {
  std::vector<int32_t> prompt;       // evaluated first, at positions nPast..
  std::vector<int32_t> history;      // tokens the repetition penalty should already know
  SamplerParams sampling;
  int32_t max_tokens = 0;
  std::vector<int32_t> stop_ids;
};

struct GenerateOutcome {
  std::vector<int32_t> tokens;
  const char* stop_reason = "length";  // eog | length | context | cancelled
  double prompt_ms = 0, generate_ms = 0;
};

// Prompt evaluation and the sampling loop on a libuv worker thread; every generated token is
// queued to JS (onToken) as soon as it is sampled. Cancellation is a flag checked between
// tokens and between the blocks of a prefill batch.
class GenerateWorker : public Napi::AsyncProgressQueueWorker<int32_t> {
 public:
  GenerateWorker(Napi::Env env, std::shared_ptr<SessionCore> core, InferenceContext& ctx, std::atomic<bool>& cancel,
                 GenerateJob job, Napi::Function on_token)
      : Napi::AsyncProgressQueueWorker<int32_t>(env, "smallthinker.generate"),
        deferred_(Napi::Promise::Deferred::New(env)), core_(std::move(core)), ctx_(ctx), cancel_(cancel),
        job_(std::move(job)) {
    if (!on_token.IsEmpty()) on_token_ = Napi::Persistent(on_token);
  }
  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  void Execute(const ExecutionProgress& progress) override {
    using clock = std::chrono::steady_clock;
    const int32_t n_vocab = core_->model->hparams().n_vocab;
    ctx_.set_cancel_flag(&cancel_);
    exit_if_model_file_changed(*core_->model);
    try {
      const auto t0 = clock::now();
      if (!job_.prompt.empty()) ctx_.evaluate(job_.prompt.data(), static_cast<int32_t>(job_.prompt.size()), false, logits_);
      const auto t1 = clock::now();
      out_.prompt_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
      Sampler sampler(job_.sampling);
      for (int32_t t : job_.history) sampler.accept(t);
      for (int32_t t : job_.prompt) sampler.accept(t);
      while (static_cast<int32_t>(out_.tokens.size()) < job_.max_tokens) {
        if (cancel_.load()) throw EvaluationCancelled();
        const int32_t token = sampler.sample(logits_.data(), n_vocab);
        if (std::find(job_.stop_ids.begin(), job_.stop_ids.end(), token) != job_.stop_ids.end()) {
          out_.stop_reason = "eog";
          break;
        }
        sampler.accept(token);
        out_.tokens.push_back(token);
        progress.Send(&token, 1);
        if (static_cast<int32_t>(out_.tokens.size()) == job_.max_tokens) break;  // its logits are not needed
        if (ctx_.n_past() >= ctx_.n_ctx()) {
          out_.stop_reason = "context";
          break;
        }
        ctx_.evaluate(&token, 1, false, logits_);
      }
      out_.generate_ms = std::chrono::duration<double, std::milli>(clock::now() - t1).count();
    } catch (const EvaluationCancelled&) {
      out_.stop_reason = "cancelled";
    } catch (const std::exception& e) {
      SetError(e.what());
    }
    ctx_.set_cancel_flag(nullptr);
  }

  void OnProgress(const int32_t* tokens, size_t count) override {
    if (on_token_.IsEmpty()) return;
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    for (size_t i = 0; i < count; i++) on_token_.Call({Napi::Number::New(env, tokens[i])});
  }

  void OnOK() override {
    core_->busy.store(false);
    Napi::Env env = Env();
    Napi::Object r = Napi::Object::New(env);
    Napi::Array tokens = Napi::Array::New(env, out_.tokens.size());
    for (size_t i = 0; i < out_.tokens.size(); i++) tokens.Set(static_cast<uint32_t>(i), Napi::Number::New(env, out_.tokens[i]));
    r.Set("tokens", tokens);
    r.Set("stopReason", out_.stop_reason);
    r.Set("promptTokens", static_cast<double>(job_.prompt.size()));
    r.Set("promptMs", out_.prompt_ms);
    r.Set("generateMs", out_.generate_ms);
    r.Set("nPast", ctx_.n_past());
    deferred_.Resolve(r);
  }

  void OnError(const Napi::Error& e) override {
    core_->busy.store(false);
    deferred_.Reject(e.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<SessionCore> core_;
  InferenceContext& ctx_;  // the slot keeps itself alive while this runs (see SlotWrap::Generate)
  std::atomic<bool>& cancel_;
  GenerateJob job_;
  Napi::FunctionReference on_token_;
  std::vector<float> logits_;
  GenerateOutcome out_;
};

class SlotWrap : public Napi::ObjectWrap<SlotWrap> {
 public:
  static Napi::FunctionReference* constructor;

  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeSlot", {
      InstanceAccessor("nPast", &SlotWrap::NPast, nullptr),
      InstanceAccessor("nCtx", &SlotWrap::NCtx, nullptr),
      InstanceAccessor("kvCacheBytes", &SlotWrap::KvBytes, nullptr),
      InstanceAccessor("busy", &SlotWrap::Busy, nullptr),
      InstanceMethod("rewind", &SlotWrap::Rewind),
      InstanceMethod("reset", &SlotWrap::Reset),
      InstanceMethod("generate", &SlotWrap::Generate),
      InstanceMethod("cancel", &SlotWrap::Cancel),
      InstanceMethod("release", &SlotWrap::Release),
    });
  }

  explicit SlotWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SlotWrap>(info) {}

  void init(std::shared_ptr<SessionCore> core, int32_t context, KvType kv_type) {
    core_ = std::move(core);
    ctx_ = std::make_unique<InferenceContext>(*core_->model, context, kv_type, *core_->pool, InferenceContext::kSlotRewindSlack);
  }

 private:
  InferenceContext& ctx(Napi::Env env) {
    if (!ctx_) throw Napi::Error::New(env, "the slot has been released");
    return *ctx_;
  }
  Napi::Value NPast(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), ctx_ ? ctx_->n_past() : 0); }
  Napi::Value NCtx(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), ctx_ ? ctx_->n_ctx() : 0); }
  Napi::Value KvBytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), ctx_ ? static_cast<double>(ctx_->kv_cache().bytes()) : 0.0);
  }

  // release(): frees the KV cache now instead of when the garbage collector gets to the slot.
  Napi::Value Release(const Napi::CallbackInfo& info) {
    if (running_) throw Napi::Error::New(info.Env(), "the slot is generating");
    ctx_.reset();
    return info.Env().Undefined();
  }
  Napi::Value Busy(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), running_); }

  // rewind(n): keep the first n positions. false when the sliding-window rings no longer hold
  // what position n needs (then reset and evaluate from the start).
  Napi::Value Rewind(const Napi::CallbackInfo& info) {
    if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(info.Env(), "rewind needs a position");
    if (running_) throw Napi::Error::New(info.Env(), "the slot is generating");
    return Napi::Boolean::New(info.Env(), ctx(info.Env()).rewind(info[0].As<Napi::Number>().Int32Value()));
  }

  Napi::Value Reset(const Napi::CallbackInfo& info) {
    if (running_) throw Napi::Error::New(info.Env(), "the slot is generating");
    ctx(info.Env()).rewind(0);  // position 0 needs nothing from the cache, so this always succeeds
    return info.Env().Undefined();
  }

  Napi::Value Cancel(const Napi::CallbackInfo& info) {
    cancel_.store(true);
    return info.Env().Undefined();
  }

  // generate({prompt: Int32Array, history?: number[], sampling?, maxTokens, stopIds?}, onToken?)
  //   → Promise<{tokens, stopReason, promptTokens, promptMs, generateMs, nPast}>
  Napi::Value Generate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "generate needs an options object");
    Napi::Object o = info[0].As<Napi::Object>();
    ctx(env);
    GenerateJob job;
    Napi::Value prompt = o.Get("prompt");
    if (!prompt.IsTypedArray() || prompt.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
      throw Napi::TypeError::New(env, "generate needs prompt: Int32Array");
    }
    Napi::Int32Array p = prompt.As<Napi::Int32Array>();
    job.prompt.assign(p.Data(), p.Data() + p.ElementLength());
    auto int_list = [&](const char* key, std::vector<int32_t>& out) {
      Napi::Value v = o.Get(key);
      if (v.IsUndefined()) return;
      if (!v.IsArray()) throw Napi::TypeError::New(env, std::string(key) + " must be an array of token ids");
      Napi::Array a = v.As<Napi::Array>();
      for (uint32_t i = 0; i < a.Length(); i++) {
        Napi::Value x = a.Get(i);
        if (!x.IsNumber()) throw Napi::TypeError::New(env, std::string(key) + " must be an array of token ids");
        out.push_back(x.As<Napi::Number>().Int32Value());
      }
    };
    int_list("history", job.history);
    int_list("stopIds", job.stop_ids);
    Napi::Value max_tokens = o.Get("maxTokens");
    if (!max_tokens.IsNumber() || max_tokens.As<Napi::Number>().Int32Value() < 0) {
      throw Napi::TypeError::New(env, "generate needs maxTokens >= 0");
    }
    job.max_tokens = max_tokens.As<Napi::Number>().Int32Value();
    job.sampling = sampler_params(env, o.Get("sampling"));
    if (job.prompt.empty() && job.max_tokens > 0 && ctx_->n_past() == 0) {
      throw Napi::RangeError::New(env, "generate needs a prompt on an empty slot");
    }
    if (job.prompt.empty() && job.max_tokens > 0) {
      throw Napi::RangeError::New(env, "generate needs at least one prompt token (rewind one position to resample)");
    }
    const int32_t n_vocab = core_->model->hparams().n_vocab;
    for (int32_t t : job.prompt) {
      if (t < 0 || t >= n_vocab) throw Napi::RangeError::New(env, "token id " + std::to_string(t) + " is outside the vocabulary");
    }
    if (ctx_->n_past() + static_cast<int64_t>(job.prompt.size()) > ctx_->n_ctx()) {
      throw Napi::RangeError::New(env, "the prompt needs " + std::to_string(ctx_->n_past() + job.prompt.size()) +
                                           " positions but the slot holds " + std::to_string(ctx_->n_ctx()));
    }
    if (core_->busy.exchange(true)) throw Napi::Error::New(env, "the session is busy with a generation");
    Napi::Function on_token = info.Length() > 1 && info[1].IsFunction() ? info[1].As<Napi::Function>() : Napi::Function();
    cancel_.store(false);
    running_ = true;
    self_ = Napi::Persistent(Value());  // keep this slot (and its context) alive until the worker is done
    auto* worker = new GenerateWorker(env, core_, *ctx_, cancel_, std::move(job), on_token);
    Napi::Promise promise = worker->promise();
    worker->Queue();
    // Clear the running state once the promise settles, whatever the outcome.
    Napi::Function done = Napi::Function::New(env, [this](const Napi::CallbackInfo& i) {
      running_ = false;
      self_.Reset();
      return i.Env().Undefined();
    });
    promise.Get("then").As<Napi::Function>().Call(promise, {done, done});
    return promise;
  }

  std::shared_ptr<SessionCore> core_;
  std::unique_ptr<InferenceContext> ctx_;
  std::atomic<bool> cancel_{false};
  bool running_ = false;
  Napi::ObjectReference self_;
};
Napi::FunctionReference* SlotWrap::constructor = nullptr;

Napi::Value CreateSlot(Napi::Env env, std::shared_ptr<SessionCore> core, int32_t context, KvType kv_type) {
  Napi::Object slot = SlotWrap::constructor->New({});
  try {
    SlotWrap::Unwrap(slot)->init(std::move(core), context, kv_type);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
  return slot;
}

Napi::Value PeakRssBytes(const Napi::CallbackInfo& info) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return Napi::Number::New(info.Env(), std::stod(line.substr(6)) * 1024.0);
  }
  return Napi::Number::New(info.Env(), 0);
}

Napi::FunctionReference* session_constructor = nullptr;

// createSessionAsync: the same load as new NativeSession(path, options), on a libuv worker
// thread, so the engine process keeps answering (heartbeats, stats, cancellations) while a
// multi-gigabyte model is read and packed.
class LoadSessionWorker : public Napi::AsyncWorker {
 public:
  LoadSessionWorker(Napi::Env env, SessionSpec spec)
      : Napi::AsyncWorker(env, "smallthinker.loadSession"), deferred_(Napi::Promise::Deferred::New(env)), spec_(std::move(spec)) {}
  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      loaded_ = load_session(std::move(spec_));
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    try {
      deferred_.Resolve(session_constructor->New({Napi::External<LoadedSession>::New(env, &loaded_)}));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  SessionSpec spec_;
  LoadedSession loaded_;
};

Registration reg([](Napi::Env env, Napi::Object exports) {
  SamplerWrap::constructor = new Napi::FunctionReference(Napi::Persistent(SamplerWrap::Define(env)));
  SlotWrap::constructor = new Napi::FunctionReference(Napi::Persistent(SlotWrap::Define(env)));
  // Kept for the addon's lifetime; createSession(path, opts) == new NativeSession(path, opts).
  session_constructor = new Napi::FunctionReference(Napi::Persistent(SessionWrap::Define(env)));
  exports.Set("createSession", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
    std::vector<napi_value> args(info.Length());
    for (size_t i = 0; i < info.Length(); i++) args[i] = info[i];
    return session_constructor->New(args);
  }));
  exports.Set("createSessionAsync", Napi::Function::New(env, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto* worker = new LoadSessionWorker(info.Env(), parse_session_spec(info));
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
  }));
  exports.Set("peakRssBytes", Napi::Function::New(env, PeakRssBytes));
  exports.Set("workCounter", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(work_counter().load(std::memory_order_relaxed)));
  }));
});

}  // namespace
}  // namespace st::addon
