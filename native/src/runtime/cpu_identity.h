// Which CPU this is and what caches it has, as the processor itself reports them (CPUID on
// x86), for the benchmark's tables: a VM's model name is often just "AMD EPYC", and some VMs
// expose no cache sizes to the OS, yet the family and the caches decide what a speed means.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace st {

struct CpuCache {
  int level = 0;         // 1, 2, 3 …
  char kind = 'u';       // 'd' data, 'i' instruction, 'u' unified
  uint64_t bytes = 0;
};

struct CpuIdentity {
  std::string vendor;    // "AuthenticAMD", "GenuineIntel" …; empty where the CPU cannot say
  int family = 0, model = 0, stepping = 0;  // the displayed values (extended fields folded in)
  std::vector<CpuCache> caches;             // one entry per cache a core sees, level order
};

// Empty on CPUs without CPUID (ARM): there the OS is the only source.
CpuIdentity identify_cpu();

}  // namespace st
