// readBandwidth(mib, threads): bytes per second this machine reads with `threads` threads
// (runtime/bandwidth.h), for the benchmark's fraction of the memory-bandwidth limit.
#include <napi.h>

#include "registry.h"
#include "runtime/bandwidth.h"

namespace st::addon {
namespace {

Napi::Value ReadBandwidth(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) throw Napi::TypeError::New(env, "readBandwidth needs (mib, threads)");
  const double mib = info[0].As<Napi::Number>().DoubleValue();
  const int threads = info[1].As<Napi::Number>().Int32Value();
  if (!(mib >= 1 && mib <= 16384) || threads < 1 || threads > 1024) throw Napi::RangeError::New(env, "readBandwidth: mib 1..16384, threads 1..1024");
  return Napi::Number::New(env, measure_read_bandwidth(static_cast<size_t>(mib * 1024 * 1024), threads));
}

Registration reg([](Napi::Env env, Napi::Object exports) { exports.Set("readBandwidth", Napi::Function::New(env, ReadBandwidth)); });

}  // namespace
}  // namespace st::addon
