// The JS options of the addon's calls, checked in one place: an absent option takes its
// default, and any present option of the wrong type or out of range is a TypeError or
// RangeError that names it.
#pragma once
#include <napi.h>

#include "sampling/sampler.h"
#include "session/session.h"

namespace st::addon {

// createSession(path, {threads, context, allowContextOverflow, kvType, memoryBudgetMiB,
// plannedSlots, plannedKvBytes, cachePolicy, prefetch, predictNextLayer, maxExpertSlots}).
SessionSpec session_spec(const Napi::CallbackInfo& info);

// {temperature, topK, topP, minP, repeatPenalty, repeatLastN, seed}; undefined: the defaults.
SamplerParams sampler_params(Napi::Env env, Napi::Value value, const char* what);

// slot.generate({prompt: Int32Array, history?, sampling?, maxTokens, stopIds?}).
GenerateRequest generate_request(Napi::Env env, Napi::Value value, int32_t n_vocab);

// An Int32Array of token ids (evaluate, evaluateTopN); `what` names the call.
std::vector<int32_t> token_array(Napi::Env env, Napi::Value value, const char* what);

// Runs f, turning a C++ exception into a JS Error with its message (a JS error passes through).
template <typename F>
auto guarded(Napi::Env env, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

}  // namespace st::addon
