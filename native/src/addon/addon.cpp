// The Node-API entry point: collects every Registration into the module's exports.
#include <vector>
#include "registry.h"

namespace st::addon {

static std::vector<Registrar>& registrars() {
  static std::vector<Registrar> list;  // function-local: safe against static-init order
  return list;
}

Registration::Registration(Registrar registrar) { registrars().push_back(registrar); }

void register_all(Napi::Env env, Napi::Object exports) {
  for (Registrar r : registrars()) r(env, exports);
}

}  // namespace st::addon

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  st::addon::register_all(env, exports);
  return exports;
}

NODE_API_MODULE(smallthinker, Init)
