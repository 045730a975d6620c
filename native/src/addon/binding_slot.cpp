// session.createSlot({context}): one sequence's KV cache on the session's weights and threads,
// whose generate() runs the generation loop (session/session.h) on a libuv worker thread,
// streams each token back and can be cancelled: the engine process keeps one slot per
// document or chat and stays responsive while a slot works.
#include <napi.h>

#include <atomic>
#include <memory>

#include "model_file_guard.h"
#include "options.h"
#include "registry.h"
#include "session_handle.h"
#include "stats.h"

namespace st::addon {
namespace {

// The generation on a worker thread; every sampled token is queued to JS (onToken) at once.
class GenerateWorker : public Napi::AsyncProgressQueueWorker<int32_t> {
 public:
  GenerateWorker(Napi::Env env, std::shared_ptr<SessionHandle> handle, InferenceContext& ctx, std::atomic<bool>& cancel,
                 GenerateRequest request, Napi::Function on_token)
      : Napi::AsyncProgressQueueWorker<int32_t>(env, "smallthinker.generate"), deferred_(Napi::Promise::Deferred::New(env)),
        handle_(std::move(handle)), ctx_(ctx), cancel_(cancel), request_(std::move(request)) {
    if (!on_token.IsEmpty()) on_token_ = Napi::Persistent(on_token);
  }
  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  void Execute(const ExecutionProgress& progress) override {
    Session& session = *handle_->session;
    exit_if_model_file_changed(session.model());
    try {
      out_ = generate(ctx_, session.model().hparams().n_vocab, request_, cancel_, [&](int32_t token) { progress.Send(&token, 1); });
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }

  void OnProgress(const int32_t* tokens, size_t count) override {
    if (on_token_.IsEmpty()) return;
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    for (size_t i = 0; i < count; i++) on_token_.Call({Napi::Number::New(env, tokens[i])});
  }

  void OnOK() override {
    handle_->session->busy().store(false);
    Napi::Env env = Env();
    Napi::Object r = Napi::Object::New(env);
    Napi::Array tokens = Napi::Array::New(env, out_.tokens.size());
    for (size_t i = 0; i < out_.tokens.size(); i++) tokens.Set(static_cast<uint32_t>(i), Napi::Number::New(env, out_.tokens[i]));
    r.Set("tokens", tokens);
    r.Set("stopReason", out_.stop_reason);
    r.Set("promptTokens", static_cast<double>(request_.prompt.size()));
    r.Set("promptMs", out_.prompt_ms);
    r.Set("generateMs", out_.generate_ms);
    r.Set("nPast", ctx_.n_past());
    deferred_.Resolve(r);
  }

  void OnError(const Napi::Error& e) override {
    handle_->session->busy().store(false);
    deferred_.Reject(e.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<SessionHandle> handle_;  // a session is not released while it is busy
  InferenceContext& ctx_;                  // the slot keeps itself alive while this runs (see SlotWrap::Generate)
  std::atomic<bool>& cancel_;
  GenerateRequest request_;
  Napi::FunctionReference on_token_;
  GenerateResult out_;
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
      InstanceMethod("routingStats", &SlotWrap::RoutingStats),
    });
  }

  explicit SlotWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SlotWrap>(info) {}

  void init(Napi::Env env, std::shared_ptr<SessionHandle> handle, int32_t context) {
    handle_ = std::move(handle);
    ctx_ = guarded(env, [&] { return handle_->get(env).new_context(context, InferenceContext::kSlotRewindSlack); });
  }

 private:
  // The context, while both it and its session are alive.
  InferenceContext& ctx(Napi::Env env) {
    if (!ctx_) throw Napi::Error::New(env, "the slot has been released");
    handle_->get(env);
    return *ctx_;
  }
  void not_running(Napi::Env env) const {
    if (running_) throw Napi::Error::New(env, "the slot is generating");
  }
  Napi::Value NPast(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), ctx_ ? ctx_->n_past() : 0); }
  Napi::Value NCtx(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), ctx_ ? ctx_->n_ctx() : 0); }
  Napi::Value KvBytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), ctx_ ? static_cast<double>(ctx_->kv_cache().bytes()) : 0.0);
  }
  Napi::Value Busy(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), running_); }
  // The routing this slot's evaluations saw (session.routingStats() is the session's own context's).
  Napi::Value RoutingStats(const Napi::CallbackInfo& info) {
    not_running(info.Env());
    return routing_stats(info.Env(), handle_->get(info.Env()).model(), &ctx(info.Env()));
  }

  // release(): frees the KV cache now instead of when the garbage collector gets to the slot.
  Napi::Value Release(const Napi::CallbackInfo& info) {
    not_running(info.Env());
    ctx_.reset();
    return info.Env().Undefined();
  }

  // rewind(n): keep the first n positions. false when the sliding-window rings no longer hold
  // what position n needs (then reset and evaluate from the start).
  Napi::Value Rewind(const Napi::CallbackInfo& info) {
    if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(info.Env(), "rewind needs a position");
    not_running(info.Env());
    return Napi::Boolean::New(info.Env(), ctx(info.Env()).rewind(info[0].As<Napi::Number>().Int32Value()));
  }

  Napi::Value Reset(const Napi::CallbackInfo& info) {
    not_running(info.Env());
    ctx(info.Env()).rewind(0);  // back to position 0 always succeeds, whatever the rings overwrote
    return info.Env().Undefined();
  }

  Napi::Value Cancel(const Napi::CallbackInfo& info) {
    cancel_.store(true);
    return info.Env().Undefined();
  }

  // generate({prompt: Int32Array, history?, sampling?, maxTokens, stopIds?}, onToken?)
  //   → Promise<{tokens, stopReason, promptTokens, promptMs, generateMs, nPast}>
  Napi::Value Generate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    InferenceContext& c = ctx(env);
    Session& session = handle_->get(env);
    GenerateRequest request = generate_request(env, info.Length() > 0 ? info[0] : env.Undefined(), session.model().hparams().n_vocab);
    if (request.prompt.empty() && request.max_tokens > 0) {
      throw Napi::RangeError::New(env, c.n_past() == 0 ? "generate needs a prompt on an empty slot"
                                                       : "generate needs at least one prompt token (rewind one position to resample)");
    }
    if (c.n_past() + static_cast<int64_t>(request.prompt.size()) > c.n_ctx()) {
      throw Napi::RangeError::New(env, "the prompt needs " + std::to_string(c.n_past() + request.prompt.size()) +
                                           " positions but the slot holds " + std::to_string(c.n_ctx()));
    }
    if (session.busy().exchange(true)) throw Napi::Error::New(env, "the session is busy with a generation");
    Napi::Function on_token = info.Length() > 1 && info[1].IsFunction() ? info[1].As<Napi::Function>() : Napi::Function();
    cancel_.store(false);
    running_ = true;
    self_ = Napi::Persistent(Value());  // keep this slot (and its context) alive until the worker is done
    auto* worker = new GenerateWorker(env, handle_, c, cancel_, std::move(request), on_token);
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

  std::shared_ptr<SessionHandle> handle_;
  std::unique_ptr<InferenceContext> ctx_;
  std::atomic<bool> cancel_{false};
  bool running_ = false;
  Napi::ObjectReference self_;
};
Napi::FunctionReference* SlotWrap::constructor = nullptr;

Registration reg([](Napi::Env env, Napi::Object) {
  SlotWrap::constructor = new Napi::FunctionReference(Napi::Persistent(SlotWrap::Define(env)));
});

}  // namespace

Napi::Value create_slot(Napi::Env env, std::shared_ptr<SessionHandle> handle, int32_t context) {
  Napi::Object slot = SlotWrap::constructor->New({});
  SlotWrap::Unwrap(slot)->init(env, std::move(handle), context);
  return slot;
}

}  // namespace st::addon
