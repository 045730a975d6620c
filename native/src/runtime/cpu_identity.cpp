#include "cpu_identity.h"

#include <algorithm>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#define ST_HAS_CPUID 1
#elif defined(_M_X64)
#include <intrin.h>
#define ST_HAS_CPUID 1
#endif

namespace st {

#if defined(ST_HAS_CPUID)
namespace {

void cpuid(unsigned leaf, unsigned sub, unsigned& a, unsigned& b, unsigned& c, unsigned& d) {
#if defined(_M_X64) && !defined(__GNUC__)
  int r[4];
  __cpuidex(r, static_cast<int>(leaf), static_cast<int>(sub));
  a = static_cast<unsigned>(r[0]), b = static_cast<unsigned>(r[1]), c = static_cast<unsigned>(r[2]), d = static_cast<unsigned>(r[3]);
#else
  __cpuid_count(leaf, sub, a, b, c, d);
#endif
}

// The deterministic cache parameters: Intel's leaf 4 and AMD's 0x8000001D share one layout.
// Each subleaf is one cache until the type field reads 0.
void read_cache_leaf(unsigned leaf, std::vector<CpuCache>& out) {
  for (unsigned sub = 0; sub < 16; sub++) {
    unsigned a, b, c, d;
    cpuid(leaf, sub, a, b, c, d);
    const unsigned type = a & 0x1f;
    if (type == 0) break;
    CpuCache cache;
    cache.level = static_cast<int>((a >> 5) & 7);
    cache.kind = type == 1 ? 'd' : type == 2 ? 'i' : 'u';
    const uint64_t ways = ((b >> 22) & 0x3ff) + 1, partitions = ((b >> 12) & 0x3ff) + 1, line = (b & 0xfff) + 1, sets = uint64_t(c) + 1;
    cache.bytes = ways * partitions * line * sets;
    out.push_back(cache);
  }
}

}  // namespace
#endif

CpuIdentity identify_cpu() {
  CpuIdentity id;
#if defined(ST_HAS_CPUID)
  unsigned a, b, c, d;
  cpuid(0, 0, a, b, c, d);
  const unsigned max_leaf = a;
  char vendor[13];
  std::memcpy(vendor, &b, 4);
  std::memcpy(vendor + 4, &d, 4);
  std::memcpy(vendor + 8, &c, 4);
  vendor[12] = '\0';
  id.vendor = vendor;
  if (max_leaf >= 1) {
    cpuid(1, 0, a, b, c, d);
    const int base_family = (a >> 8) & 0xf, base_model = (a >> 4) & 0xf;
    id.stepping = a & 0xf;
    id.family = base_family == 0xf ? base_family + static_cast<int>((a >> 20) & 0xff) : base_family;
    id.model = base_family == 0x6 || base_family == 0xf ? static_cast<int>(((a >> 16) & 0xf) << 4) + base_model : base_model;
  }
  if (id.vendor == "GenuineIntel" && max_leaf >= 4) {
    read_cache_leaf(4, id.caches);
  } else {
    // AMD (and Hygon): leaf 0x8000001D, present when the topology extensions are.
    cpuid(0x80000000, 0, a, b, c, d);
    const unsigned max_ext = a;
    if (max_ext >= 0x8000001d) {
      cpuid(0x80000001, 0, a, b, c, d);
      if (c & (1u << 22)) read_cache_leaf(0x8000001d, id.caches);
    }
    // Else the older leaves (some hypervisors hide the extensions): L1 sizes in KiB, L2 in
    // KiB, L3 in 512 KiB units (0: none).
    if (id.caches.empty() && max_ext >= 0x80000006) {
      cpuid(0x80000005, 0, a, b, c, d);
      if (c >> 24) id.caches.push_back({1, 'd', uint64_t(c >> 24) << 10});
      if (d >> 24) id.caches.push_back({1, 'i', uint64_t(d >> 24) << 10});
      cpuid(0x80000006, 0, a, b, c, d);
      if (c >> 16) id.caches.push_back({2, 'u', uint64_t(c >> 16) << 10});
      if (d >> 18) id.caches.push_back({3, 'u', uint64_t(d >> 18) << 19});
    }
  }
  std::stable_sort(id.caches.begin(), id.caches.end(), [](const CpuCache& x, const CpuCache& y) { return x.level < y.level; });
#endif
  return id;
}

}  // namespace st
