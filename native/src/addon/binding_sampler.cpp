// session.createSampler(params): the sampler on its own, for the CLI's and tests' loops over
// evaluate() (generation proper samples inside slot.generate).
#include <napi.h>

#include <memory>

#include "options.h"
#include "registry.h"
#include "sampling/sampler.h"
#include "session_handle.h"

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
    sampler_ = std::make_unique<Sampler>(sampler_params(info.Env(), info.Length() > 0 ? info[0] : info.Env().Undefined(), "createSampler"));
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

Registration reg([](Napi::Env env, Napi::Object) {
  SamplerWrap::constructor = new Napi::FunctionReference(Napi::Persistent(SamplerWrap::Define(env)));
});

}  // namespace

Napi::Value create_sampler(Napi::Env, Napi::Value params) { return SamplerWrap::constructor->New({params}); }

}  // namespace st::addon
