// The session's facts and counters as the JS objects NativeSession exposes (engine/native-addon.ts).
#pragma once
#include <napi.h>

#include "model/forward.h"
#include "session/session.h"

namespace st::addon {

// session.info: sizes, threads, kernels, the memory plan.
Napi::Object session_info(Napi::Env env, Session& session);
// session.expertCacheStats(): the cache's counters, or null without a budget.
Napi::Value expert_cache_stats(Napi::Env env, const Model& model);
// session.routingStats(): expert uses and neuron sparsity of one context (null: none yet).
Napi::Object routing_stats(Napi::Env env, const Model& model, const InferenceContext* ctx);

}  // namespace st::addon
