// createSession(path, options) / createSessionAsync(path, options): a loaded model
// (session/session.h) with one inference context of its own, driven synchronously from JS
// (the CLI, tests); its slots (binding_slot.cpp) are the engine process's sequences.
// release() frees the weights at once, so a reload never holds two models.
#include <napi.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "model_file_guard.h"
#include "options.h"
#include "platform/platform.h"
#include "registry.h"
#include "runtime/work_counter.h"
#include "session_handle.h"
#include "stats.h"

namespace st::addon {
namespace {

class SessionWrap : public Napi::ObjectWrap<SessionWrap> {
 public:
  static Napi::FunctionReference* constructor;

  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeSession", {
      InstanceAccessor("info", &SessionWrap::Info, nullptr),
      InstanceAccessor("nPast", &SessionWrap::NPast, nullptr),
      InstanceMethod("evaluate", &SessionWrap::Evaluate),
      InstanceMethod("evaluateTopN", &SessionWrap::EvaluateTopN),
      InstanceMethod("reset", &SessionWrap::Reset),
      InstanceMethod("createSampler", &SessionWrap::CreateSampler),
      InstanceMethod("createSlot", &SessionWrap::CreateSlot),
      InstanceMethod("slotKvCacheBytes", &SessionWrap::SlotKvCacheBytes),
      InstanceMethod("expertCacheStats", &SessionWrap::ExpertCacheStats),
      InstanceMethod("routingStats", &SessionWrap::RoutingStats),
      InstanceMethod("busyCoreDrops", &SessionWrap::BusyCoreDrops),
      InstanceMethod("embeddingRowRms", &SessionWrap::EmbeddingRowRms),
      InstanceMethod("release", &SessionWrap::Release),
    });
  }

  // new NativeSession(path, options) loads on the JS thread (the CLI, tests);
  // new NativeSession(External<Session>) adopts what LoadSessionWorker loaded on a worker thread.
  explicit SessionWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SessionWrap>(info) {
    Napi::Env env = info.Env();
    handle_ = std::make_shared<SessionHandle>();
    if (info.Length() == 1 && info[0].IsExternal()) {
      handle_->session.reset(info[0].As<Napi::External<Session>>().Data());
    } else {
      SessionSpec spec = session_spec(info);
      handle_->session = guarded(env, [&] { return Session::load(std::move(spec)); });
    }
  }

 private:
  Session& session(Napi::Env env) { return handle_->get(env); }

  // The session's own context, made on first use: a process that only uses slots (the engine
  // process) holds no KV cache for it.
  InferenceContext& own_context(Napi::Env env) {
    Session& s = session(env);
    if (!ctx_) ctx_ = guarded(env, [&] { return s.new_context(s.context()); });
    return *ctx_;
  }

  Napi::Value Evaluate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Session& s = session(env);
    SyncUse use(env, s);
    const std::vector<int32_t> tokens = token_array(env, info.Length() > 0 ? info[0] : env.Undefined(), "evaluate");
    exit_if_model_file_changed(s.model());
    guarded(env, [&] { own_context(env).evaluate(tokens.data(), static_cast<int32_t>(tokens.size()), false, logits_); });
    Napi::Float32Array out = Napi::Float32Array::New(env, logits_.size());
    std::copy(logits_.begin(), logits_.end(), out.Data());
    return out;
  }

  Napi::Value EvaluateTopN(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Session& s = session(env);
    SyncUse use(env, s);
    const std::vector<int32_t> tokens = token_array(env, info.Length() > 0 ? info[0] : env.Undefined(), "evaluateTopN");
    if (info.Length() < 2 || !info[1].IsNumber()) throw Napi::TypeError::New(env, "evaluateTopN needs a count");
    const int64_t top = info[1].As<Napi::Number>().Int64Value();
    const int32_t n_vocab = s.model().hparams().n_vocab;
    if (top < 1 || top > n_vocab) throw Napi::RangeError::New(env, "top must be between 1 and the vocabulary size");
    exit_if_model_file_changed(s.model());
    const auto positions = guarded(env, [&] { return evaluate_top_n(own_context(env), n_vocab, tokens, static_cast<int32_t>(top)); });
    Napi::Array out = Napi::Array::New(env, positions.size());
    for (size_t i = 0; i < positions.size(); i++) {
      Napi::Array best = Napi::Array::New(env, positions[i].size());
      for (size_t j = 0; j < positions[i].size(); j++) {
        Napi::Array pair = Napi::Array::New(env, 2);
        pair.Set(0u, Napi::Number::New(env, positions[i][j].first));
        pair.Set(1u, Napi::Number::New(env, positions[i][j].second));
        best.Set(static_cast<uint32_t>(j), pair);
      }
      out.Set(static_cast<uint32_t>(i), best);
    }
    return out;
  }

  // embeddingRowRms(ids): the root mean square of each token's embedding row, decoded from the
  // file's type (engine/fim-check.ts tells trained rows from never-used ones with it).
  Napi::Value EmbeddingRowRms(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Session& s = session(env);
    SyncUse use(env, s);
    const std::vector<int32_t> ids = token_array(env, info.Length() > 0 ? info[0] : env.Undefined(), "embeddingRowRms");
    const Model& model = s.model();
    const int32_t n_vocab = model.hparams().n_vocab;
    for (int32_t t : ids) {
      if (t < 0 || t >= n_vocab) throw Napi::RangeError::New(env, "token id " + std::to_string(t) + " is outside the vocabulary");
    }
    exit_if_model_file_changed(model);
    Napi::Float64Array out = Napi::Float64Array::New(env, ids.size());
    guarded(env, [&] {
      const int64_t n_embd = model.hparams().n_embd;
      AlignedBuffer scratch(model.embedding_scratch_bytes());
      std::vector<float> row(static_cast<size_t>(n_embd));
      for (size_t i = 0; i < ids.size(); i++) {
        const Matrix r = model.embedding_row(ids[i], scratch.data());
        r.format->row_to_floats(r, 0, row.data());
        double sum = 0;
        for (float v : row) sum += double(v) * v;
        out[i] = std::sqrt(sum / double(n_embd));
      }
      return 0;
    });
    return out;
  }

  Napi::Value Reset(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    SyncUse use(env, session(env));
    ctx_.reset();
    return env.Undefined();
  }

  // release(): frees the weights, threads and scratch now, not when the garbage collector gets
  // to this object; every later call (of the session or its slots) is an error.
  Napi::Value Release(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!handle_->session) return env.Undefined();
    if (handle_->session->busy().load()) throw Napi::Error::New(env, "the session is busy with a generation");
    ctx_.reset();
    handle_->session.reset();
    platform::return_free_memory();
    return env.Undefined();
  }

  Napi::Value CreateSampler(const Napi::CallbackInfo& info) {
    return create_sampler(info.Env(), info.Length() > 0 ? info[0] : info.Env().Undefined());
  }

  Napi::Value NPast(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), ctx_ ? ctx_->n_past() : 0); }

  // The KV cache a slot of this context would take, without allocating it.
  Napi::Value SlotKvCacheBytes(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "slotKvCacheBytes needs a context");
    const int32_t context = info[0].As<Napi::Number>().Int32Value();
    if (context < 1) throw Napi::RangeError::New(env, "context must be positive");
    Session& s = session(env);
    return Napi::Number::New(env, static_cast<double>(KvCache::bytes_for(s.model().hparams(), context, s.kv_type(),
                                                                         InferenceContext::kSlotRewindSlack)));
  }

  // createSlot({context?}): context defaults to the session's.
  Napi::Value CreateSlot(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Session& s = session(env);
    Napi::Value options = info.Length() > 0 ? info[0] : env.Undefined();
    int64_t context = s.context();
    if (options.IsObject() && !options.As<Napi::Object>().Get("context").IsUndefined()) {
      Napi::Value c = options.As<Napi::Object>().Get("context");
      if (!c.IsNumber()) throw Napi::TypeError::New(env, "createSlot: context must be a number");
      context = c.As<Napi::Number>().Int64Value();
    }
    if (context < 1 || context > s.context()) {
      throw Napi::RangeError::New(env, "a slot's context must be between 1 and the session's " + std::to_string(s.context()));
    }
    return create_slot(env, handle_, static_cast<int32_t>(context));
  }

  Napi::Value Info(const Napi::CallbackInfo& info) { return session_info(info.Env(), session(info.Env())); }
  Napi::Value ExpertCacheStats(const Napi::CallbackInfo& info) { return expert_cache_stats(info.Env(), session(info.Env()).model()); }
  Napi::Value RoutingStats(const Napi::CallbackInfo& info) { return routing_stats(info.Env(), session(info.Env()).model(), ctx_.get()); }
  Napi::Value BusyCoreDrops(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(session(info.Env()).pool().busy_core_drops()));
  }

  std::shared_ptr<SessionHandle> handle_;
  std::unique_ptr<InferenceContext> ctx_;  // see own_context()
  std::vector<float> logits_;
};
Napi::FunctionReference* SessionWrap::constructor = nullptr;

// createSessionAsync: the same load on a libuv worker thread, so the engine process keeps
// answering (heartbeats, stats, cancellations) while a multi-gigabyte model is read and laid out.
class LoadSessionWorker : public Napi::AsyncWorker {
 public:
  LoadSessionWorker(Napi::Env env, SessionSpec spec)
      : Napi::AsyncWorker(env, "smallthinker.loadSession"), deferred_(Napi::Promise::Deferred::New(env)), spec_(std::move(spec)) {}
  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      loaded_ = Session::load(std::move(spec_));
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    try {
      // The wrapper owns the session from here on.
      deferred_.Resolve(SessionWrap::constructor->New({Napi::External<Session>::New(env, loaded_.release())}));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  SessionSpec spec_;
  std::unique_ptr<Session> loaded_;
};

Napi::Value PeakRssBytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(platform::peak_resident_bytes()));
}

Registration reg([](Napi::Env env, Napi::Object exports) {
  // Kept for the addon's lifetime; createSession(path, opts) == new NativeSession(path, opts).
  SessionWrap::constructor = new Napi::FunctionReference(Napi::Persistent(SessionWrap::Define(env)));
  exports.Set("createSession", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
    std::vector<napi_value> args(info.Length());
    for (size_t i = 0; i < info.Length(); i++) args[i] = info[i];
    return SessionWrap::constructor->New(args);
  }));
  exports.Set("createSessionAsync", Napi::Function::New(env, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto* worker = new LoadSessionWorker(info.Env(), session_spec(info));
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
