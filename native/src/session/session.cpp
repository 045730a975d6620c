#include "session.h"

#include <algorithm>
#include <chrono>
#include <stdexcept>

namespace st {

namespace {

// Under a budget the default context is modest: its KV cache comes out of the budget.
constexpr int64_t kBudgetedDefaultContext = 4096;

void check_context(int64_t context, int32_t n_ctx_train, bool allow_overflow) {
  if (context > n_ctx_train && !allow_overflow) {
    throw std::range_error("a context of " + std::to_string(context) + " tokens is more than the model's " +
                           std::to_string(n_ctx_train) + " (pass --allow-context-overflow to insist)");
  }
}

}  // namespace

std::unique_ptr<Session> Session::load(SessionSpec spec) {
  const int n_threads = spec.threads > 0 ? spec.threads : default_thread_count();
  std::unique_ptr<Session> s(new Session());
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
    s->plan_ = plan_memory(file, static_cast<uint64_t>(spec.budget_mib * (1 << 20)), kv_bytes, static_cast<int32_t>(context), n_threads,
                           spec.max_slots);
    spec.cache.slots = s->plan_->slots;
    spec.cache.bypass_experts = file.hparams.n_expert_used;
    s->model_ = Model::load_budgeted(spec.path, file, spec.cache);
  } else {
    s->model_ = Model::load(spec.path);
  }
  const int32_t n_ctx_train = s->model_->hparams().n_ctx_train;
  if (context == 0) context = n_ctx_train;
  check_context(context, n_ctx_train, spec.allow_overflow);
  s->context_ = static_cast<int32_t>(context);
  s->kv_type_ = spec.kv_type;
  s->pool_ = std::make_unique<ThreadPool>(n_threads);
  s->workspace_ = std::make_unique<Workspace>(*s->model_, s->context_, n_threads);
  return s;
}

std::unique_ptr<InferenceContext> Session::new_context(int32_t n_ctx, int32_t rewind_slack) {
  return std::make_unique<InferenceContext>(*model_, *workspace_, *pool_, n_ctx, kv_type_, rewind_slack);
}

GenerateResult generate(InferenceContext& ctx, int32_t n_vocab, const GenerateRequest& request, const std::atomic<bool>& cancel,
                        const std::function<void(int32_t)>& on_token) {
  using clock = std::chrono::steady_clock;
  GenerateResult out;
  std::vector<float> logits;
  ctx.set_cancel_flag(&cancel);
  try {
    const auto t0 = clock::now();
    if (!request.prompt.empty()) ctx.evaluate(request.prompt.data(), static_cast<int32_t>(request.prompt.size()), false, logits);
    const auto t1 = clock::now();
    out.prompt_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
    Sampler sampler(request.sampling);
    for (int32_t t : request.history) sampler.accept(t);
    for (int32_t t : request.prompt) sampler.accept(t);
    while (static_cast<int32_t>(out.tokens.size()) < request.max_tokens) {
      if (cancel.load()) throw EvaluationCancelled();
      const int32_t token = sampler.sample(logits.data(), n_vocab);
      if (std::find(request.stop_ids.begin(), request.stop_ids.end(), token) != request.stop_ids.end()) {
        out.stop_reason = "eog";
        break;
      }
      sampler.accept(token);
      out.tokens.push_back(token);
      if (on_token) on_token(token);
      if (static_cast<int32_t>(out.tokens.size()) == request.max_tokens) break;  // its logits are not needed
      if (ctx.n_past() >= ctx.n_ctx()) {
        out.stop_reason = "context";
        break;
      }
      ctx.evaluate(&token, 1, false, logits);
    }
    out.generate_ms = std::chrono::duration<double, std::milli>(clock::now() - t1).count();
  } catch (const EvaluationCancelled&) {
    out.stop_reason = "cancelled";
  } catch (...) {
    ctx.set_cancel_flag(nullptr);
    throw;
  }
  ctx.set_cancel_flag(nullptr);
  return out;
}

std::vector<std::vector<std::pair<int32_t, float>>> evaluate_top_n(InferenceContext& ctx, int32_t n_vocab, const std::vector<int32_t>& tokens,
                                                                   int32_t top) {
  std::vector<std::vector<std::pair<int32_t, float>>> positions;
  positions.reserve(tokens.size());
  std::vector<int32_t> order(n_vocab);
  if (tokens.empty()) return positions;
  // Each position's row as the pass hands it over (kLogitRows at a time), never all of them.
  ctx.evaluate_each(tokens.data(), static_cast<int32_t>(tokens.size()), [&](int32_t, const float* row) {
    for (int32_t v = 0; v < n_vocab; v++) order[v] = v;
    std::partial_sort(order.begin(), order.begin() + top, order.end(), [&](int32_t a, int32_t b) {
      return row[a] > row[b] || (row[a] == row[b] && a < b);
    });
    std::vector<std::pair<int32_t, float>> best(top);
    for (int32_t j = 0; j < top; j++) best[j] = {order[j], row[order[j]]};
    positions.push_back(std::move(best));
  });
  return positions;
}

}  // namespace st
