// readBandwidth(mib, threads): bytes per second this machine reads with `threads` threads
// (runtime/bandwidth.h), for the benchmark's fraction of the memory-bandwidth limit.
// freshMemoryRate(mib, threads): bytes per second at which `threads` threads commit `mib` MiB
// never touched (runtime/bandwidth.h), for the benchmark's machine line.
// storageReads(path, chunkBytes, threads, seconds, paceBytesPerS): random reads of a model file
// the way the expert cache makes them (model/storage_rate.h), for the memory benchmark. It
// blocks the calling thread for `seconds`: a benchmark's, never the engine's.
// cpuIdentity(): the CPU's vendor, family, model, stepping and caches as CPUID reports them
// (runtime/cpu_identity.h), or null where the CPU has no such instruction.
#include <napi.h>

#include <stdexcept>
#include <string>

#include "registry.h"
#include "model/storage_rate.h"
#include "runtime/bandwidth.h"
#include "runtime/cpu_identity.h"

namespace st::addon {
namespace {

// The (mib, threads) both memory probes take, checked: 1..16384 MiB, 1..1024 threads.
struct MemoryProbe {
  size_t bytes;
  int threads;
};

MemoryProbe memory_probe_arguments(const Napi::CallbackInfo& info, const char* name) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) throw Napi::TypeError::New(env, std::string(name) + " needs (mib, threads)");
  const double mib = info[0].As<Napi::Number>().DoubleValue();
  const int threads = info[1].As<Napi::Number>().Int32Value();
  if (!(mib >= 1 && mib <= 16384) || threads < 1 || threads > 1024) throw Napi::RangeError::New(env, std::string(name) + ": mib 1..16384, threads 1..1024");
  return {static_cast<size_t>(mib * 1024 * 1024), threads};
}

// Runs one memory probe on checked (mib, threads); its failures (an allocation or a thread
// refused) are JS errors.
Napi::Value memory_probe(const Napi::CallbackInfo& info, const char* name, double (*measure)(size_t, int)) {
  const MemoryProbe p = memory_probe_arguments(info, name);
  try {
    return Napi::Number::New(info.Env(), measure(p.bytes, p.threads));
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
}

Napi::Value ReadBandwidth(const Napi::CallbackInfo& info) { return memory_probe(info, "readBandwidth", measure_read_bandwidth); }

Napi::Value FreshMemoryRate(const Napi::CallbackInfo& info) { return memory_probe(info, "freshMemoryRate", measure_fresh_memory_rate); }

Napi::Value StorageReads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 5 || !info[0].IsString() || !info[1].IsNumber() || !info[2].IsNumber() || !info[3].IsNumber() || !info[4].IsNumber()) {
    throw Napi::TypeError::New(env, "storageReads needs (path, chunkBytes, threads, seconds, paceBytesPerS)");
  }
  StorageReadResult r;
  try {
    r = measure_storage_reads(info[0].As<Napi::String>().Utf8Value(), static_cast<size_t>(info[1].As<Napi::Number>().DoubleValue()),
                              info[2].As<Napi::Number>().Int32Value(), info[3].As<Napi::Number>().DoubleValue(),
                              info[4].As<Napi::Number>().DoubleValue());
  } catch (const std::invalid_argument& e) {
    throw Napi::RangeError::New(env, std::string("storageReads: ") + e.what());
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("bytes", static_cast<double>(r.bytes));
  out.Set("reads", static_cast<double>(r.reads));
  out.Set("seconds", r.seconds);
  out.Set("direct", r.direct);
  return out;
}

Napi::Value CpuIdentityOf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const CpuIdentity id = identify_cpu();
  if (id.vendor.empty()) return env.Null();
  Napi::Object out = Napi::Object::New(env);
  out.Set("vendor", id.vendor);
  out.Set("family", id.family);
  out.Set("model", id.model);
  out.Set("stepping", id.stepping);
  Napi::Array caches = Napi::Array::New(env, id.caches.size());
  for (size_t i = 0; i < id.caches.size(); i++) {
    Napi::Object c = Napi::Object::New(env);
    c.Set("level", id.caches[i].level);
    c.Set("kind", std::string(1, id.caches[i].kind));
    c.Set("bytes", static_cast<double>(id.caches[i].bytes));
    caches.Set(static_cast<uint32_t>(i), c);
  }
  out.Set("caches", caches);
  return out;
}

Registration reg([](Napi::Env env, Napi::Object exports) {
  exports.Set("readBandwidth", Napi::Function::New(env, ReadBandwidth));
  exports.Set("freshMemoryRate", Napi::Function::New(env, FreshMemoryRate));
  exports.Set("storageReads", Napi::Function::New(env, StorageReads));
  exports.Set("cpuIdentity", Napi::Function::New(env, CpuIdentityOf));
});

}  // namespace
}  // namespace st::addon
