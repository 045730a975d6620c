// What a session's JS object and its slots' objects share: the native session, until
// release() frees it (the slots then refuse to work, and free their own KV caches when they
// are released or collected).
#pragma once
#include <napi.h>

#include <memory>

#include "session/session.h"

namespace st::addon {

struct SessionHandle {
  std::unique_ptr<Session> session;

  // The session, or a JS error saying it has been released.
  Session& get(Napi::Env env) const {
    if (!session) throw Napi::Error::New(env, "the session has been released");
    return *session;
  }
};

// Marks the session busy for a synchronous call on the JS thread.
class SyncUse {
 public:
  SyncUse(Napi::Env env, Session& session) : session_(session) {
    if (session_.busy().exchange(true)) throw Napi::Error::New(env, "the session is busy with a generation");
  }
  ~SyncUse() { session_.busy().store(false); }

 private:
  Session& session_;
};

// new NativeSlot(handle, context) (binding_slot.cpp).
Napi::Value create_slot(Napi::Env env, std::shared_ptr<SessionHandle> handle, int32_t context);
// new NativeSampler(params) (binding_sampler.cpp).
Napi::Value create_sampler(Napi::Env env, Napi::Value params);

}  // namespace st::addon
