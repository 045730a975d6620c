#include "stats.h"

#include "kernels/kernels.h"

namespace st::addon {

Napi::Object session_info(Napi::Env env, Session& session) {
  const Model& model = session.model();
  const SmallThinkerHParams& hp = model.hparams();
  Napi::Object o = Napi::Object::New(env);
  o.Set("n_vocab", hp.n_vocab);
  o.Set("n_ctx", session.context());
  o.Set("n_ctx_train", hp.n_ctx_train);
  o.Set("threads", session.pool().size());
  o.Set("isa", kernels::active_isa_name());
  o.Set("scheduling", session.pool().scheduling());
  o.Set("flavour", model.transposed_down() ? "powerinfer" : "upstream");
  o.Set("kv_cache_bytes", static_cast<double>(KvCache::bytes_for(hp, session.context(), session.kv_type())));
  o.Set("scratch_bytes", static_cast<double>(session.workspace().bytes()));
  o.Set("weights_bytes", static_cast<double>(model.weights_bytes()));
  o.Set("packed_weights_bytes", static_cast<double>(model.relaid_weights_bytes()));
  o.Set("packed_read_past_cache_bytes", static_cast<double>(model.read_past_cache_bytes()));
  const std::optional<MemoryPlan>& plan = session.plan();
  if (!plan) {
    o.Set("memory_plan", env.Null());
    return o;
  }
  Napi::Object p = Napi::Object::New(env);
  p.Set("budget_bytes", static_cast<double>(plan->budget));
  p.Set("baseline_bytes", static_cast<double>(plan->baseline));
  p.Set("resident_weights_bytes", static_cast<double>(plan->resident_weights));
  p.Set("kv_cache_bytes", static_cast<double>(plan->kv_cache));
  p.Set("scratch_bytes", static_cast<double>(plan->scratch));
  p.Set("headroom_bytes", static_cast<double>(plan->headroom));
  p.Set("expert_cache_bytes", static_cast<double>(plan->expert_cache));
  p.Set("expert_slots", plan->slots);
  p.Set("expert_slot_bytes", static_cast<double>(plan->slot_bytes));
  p.Set("experts_total", static_cast<double>(plan->experts_total));
  p.Set("minimum_bytes", static_cast<double>(plan->minimum));
  p.Set("direct_io", model.expert_cache() && model.reads_direct());
  p.Set("summary", plan->describe());
  o.Set("memory_plan", p);
  return o;
}

Napi::Value expert_cache_stats(Napi::Env env, const Model& model) {
  const ExpertCache* cache = model.expert_cache();
  if (!cache) return env.Null();
  const ExpertCacheStats s = cache->stats();
  Napi::Object o = Napi::Object::New(env);
  o.Set("hits", static_cast<double>(s.hits));
  o.Set("misses", static_cast<double>(s.misses));
  o.Set("bytesRead", static_cast<double>(s.bytes_read));
  o.Set("stallMs", s.stall_ms);
  o.Set("prefetches", static_cast<double>(s.prefetches));
  o.Set("predicted", static_cast<double>(s.predicted));
  o.Set("cancelled", static_cast<double>(s.cancelled));
  o.Set("tokens", static_cast<double>(s.tokens));
  o.Set("ioBusyMs", s.io_busy_ms);
  o.Set("missOutstandingMs", s.miss_outstanding_ms);
  o.Set("ioIdleWithMissMs", s.io_idle_with_miss_ms);
  o.Set("slots", cache->slots());
  return o;
}

Napi::Object routing_stats(Napi::Env env, const Model& model, const InferenceContext* ctx) {
  const SmallThinkerHParams& hp = model.hparams();
  Napi::Object o = Napi::Object::New(env);
  Napi::Array uses = Napi::Array::New(env);
  const RoutingStats empty;
  const RoutingStats& r = ctx ? ctx->routing_stats() : empty;
  for (size_t i = 0; i < r.expert_uses.size(); i++) uses.Set(static_cast<uint32_t>(i), static_cast<double>(r.expert_uses[i]));
  o.Set("expertUses", uses);
  o.Set("neuronsActive", static_cast<double>(r.neurons_active));
  o.Set("neuronsTotal", static_cast<double>(r.neurons_total));
  o.Set("tokens", static_cast<double>(r.tokens));
  o.Set("nLayer", hp.n_layer);
  o.Set("nExpert", hp.n_expert);
  o.Set("nExpertUsed", hp.n_expert_used);
  return o;
}

}  // namespace st::addon
