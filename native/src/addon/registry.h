// Each binding_*.cpp adds its functions to the addon's exports through a static Registration,
// so features can be added without touching one central file.
#pragma once
#include <napi.h>

namespace st::addon {

using Registrar = void (*)(Napi::Env env, Napi::Object exports);

struct Registration {
  explicit Registration(Registrar registrar);
};

void register_all(Napi::Env env, Napi::Object exports);

}  // namespace st::addon
