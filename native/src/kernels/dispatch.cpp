// Picks the kernel table once: the best the CPU supports (AVX-512 VNNI, then AVX-VNNI, then
// AVX2, then AVX, then SSE4.2, on x86-64; on arm64 NEON, with the dot-product instruction
// where the CPU has it), unless SMALLTHINKER_ISA says otherwise (runtime/switches.h; tests run
// every ISA this way).
#include <optional>
#include <stdexcept>
#include <string>

#include "kernels.h"
#include "platform/platform.h"
#include "runtime/switches.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#endif

namespace st::kernels {

// The block types an ISA's table has no kernels for compute with the scalar ones.
KernelTable with_scalar_fallbacks(const KernelTable& own) {
  KernelTable t = own;
  const KernelTable& s = scalar_table();
  if (!t.quantize_row_q8_1) t.quantize_row_q8_1 = s.quantize_row_q8_1;
  if (!t.quantize_row_q8_K) t.quantize_row_q8_K = s.quantize_row_q8_K;
  if (!t.exp_shifted) t.exp_shifted = s.exp_shifted;
  if (!t.first_max) t.first_max = s.first_max;
  if (!t.first_above) t.first_above = s.first_above;
  if (!t.to_f16) t.to_f16 = s.to_f16;
  if (!t.pack_q4_0x16) t.pack_q4_0x16 = s.pack_q4_0x16;
  if (!t.pack_q4_Kx16) t.pack_q4_Kx16 = s.pack_q4_Kx16;
  if (!t.pack_q8_0x16) t.pack_q8_0x16 = s.pack_q8_0x16;
  if (!t.pack_q5_Kx16) t.pack_q5_Kx16 = s.pack_q5_Kx16;
  if (!t.pack_q6_Kx16) t.pack_q6_Kx16 = s.pack_q6_Kx16;
  if (!t.pack_iq4_xsx16) t.pack_iq4_xsx16 = s.pack_iq4_xsx16;
  if (!t.pack_q5_0x16) t.pack_q5_0x16 = s.pack_q5_0x16;
  if (!t.pack_q4_1x16) t.pack_q4_1x16 = s.pack_q4_1x16;
  if (!t.pack_q5_1x16) t.pack_q5_1x16 = s.pack_q5_1x16;
  for (BlockTypeKernels KernelTable::*type : {&KernelTable::q4_1, &KernelTable::q5_0, &KernelTable::q5_1, &KernelTable::iq4_nl,
                                               &KernelTable::q2_K, &KernelTable::q3_K, &KernelTable::q4_K, &KernelTable::q5_K,
                                               &KernelTable::q6_K, &KernelTable::iq4_xs}) {
    if (!(t.*type).dot) (t.*type).dot = (s.*type).dot;
    if (!(t.*type).to_float) (t.*type).to_float = (s.*type).to_float;
  }
  return t;
}

#if defined(__x86_64__) || defined(_M_X64)
// Each table below is filled by code compiled for its instructions, and the compiler may use
// them there too (gcc 12 copied avx512_overrides' pointers with ZMM stores, which crashed the
// engine on every CPU without AVX-512 as it picked its table): a table is built only on a CPU
// that has its instructions, and is nullptr elsewhere. Both are decided once (each `build` is a
// lambda of its own type, so each table has its own static); kernels ask for tables as they run.
template <typename Build>
static const KernelTable* built_if(bool (*cpu_has_it)(), Build build) {
  static const std::optional<KernelTable> table = cpu_has_it() ? std::optional<KernelTable>(build()) : std::nullopt;
  return table ? &*table : nullptr;
}

// The scalar table with its busiest kernels in SSE4.2 (or the same built with AVX): the same
// numbers to the bit.
KernelTable scalar_table_with(void (*overrides)(KernelTable&)) {
  KernelTable t = scalar_table();
  overrides(t);
  return t;
}
void sse42_overrides(KernelTable& t);  // kernels_sse42.cpp, built with -mssse3 -msse4.1 -msse4.2 -mpopcnt
const KernelTable* sse42_table() {
  return built_if(cpu_has_sse42, [] { return scalar_table_with(sse42_overrides); });
}
void avx_overrides(KernelTable& t);  // kernels_avx.cpp: kernels_sse42.cpp built with -mavx too
const KernelTable* avx_table() {
  return built_if(cpu_has_avx, [] { return scalar_table_with(avx_overrides); });
}
const KernelTable* avx2_table_impl();            // kernels_avx2.cpp, built with -mavx2 -mfma -mf16c
void add_avx2_kquant_kernels(KernelTable& t);   // kquants_avx2.cpp, the same flags
void add_avx2_block32_kernels(KernelTable& t);  // blocks32_avx2.cpp, the same flags
const KernelTable* avx2_table() {
  return built_if(cpu_has_avx2_fma_f16c, [] {
    KernelTable t = *avx2_table_impl();
    add_avx2_kquant_kernels(t);
    add_avx2_block32_kernels(t);
    return with_scalar_fallbacks(t);
  });
}
void avx512_overrides(KernelTable& t);           // kernels_avx512.cpp, built with AVX-512 F/BW/VL/VNNI
void add_avx512_kquant_kernels(KernelTable& t);  // kquants_avx512.cpp, the same flags
const KernelTable* avx512_table() {
  // AVX2 for everything the AVX-512 files do not replace.
  return built_if(cpu_has_avx512_vnni, [] {
    KernelTable t = *avx2_table();
    avx512_overrides(t);
    add_avx512_kquant_kernels(t);
    return t;
  });
}
void avxvnni_overrides(KernelTable& t);  // kernels_avxvnni.cpp, built with the AVX2 flags and -mavxvnni
const KernelTable* avxvnni_table() {
  // AVX2 for everything the AVX-VNNI file does not replace.
  return built_if(cpu_has_avx_vnni, [] {
    KernelTable t = *avx2_table();
    avxvnni_overrides(t);
    return t;
  });
}
#else
const KernelTable* sse42_table() { return nullptr; }
const KernelTable* avx_table() { return nullptr; }
const KernelTable* avx2_table() { return nullptr; }
const KernelTable* avxvnni_table() { return nullptr; }
const KernelTable* avx512_table() { return nullptr; }
#endif

#if defined(__aarch64__) && !defined(__ARM_FEATURE_DOTPROD)
const KernelTable* neon_table_dotprod();  // kernels_neondot.cpp, built with -march=armv8.2-a+dotprod
const KernelTable* neondot_table() { return platform::cpu_has_arm_dotprod() ? neon_table_dotprod() : nullptr; }
#else
// No second build: the NEON kernels have the instruction already (Apple's), or there is no NEON.
const KernelTable* neondot_table() { return nullptr; }
#endif

bool cpu_has_sse42() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
  const bool ssse3 = c & (1u << 9), sse41 = c & (1u << 19), sse42 = c & (1u << 20), popcnt = c & (1u << 23);
  return ssse3 && sse41 && sse42 && popcnt;
#else
  return false;
#endif
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// The register state the OS saves on a context switch (XCR0's low word; only after CPUID says
// OSXSAVE).
static unsigned os_saved_state() {
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return lo;
}
#endif

bool cpu_has_avx() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  if (!cpu_has_sse42()) return false;
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
  const bool osxsave = c & (1u << 27), avx = c & (1u << 28);
  return osxsave && avx && (os_saved_state() & 6) == 6;  // the YMM state (XCR0 bits 1 and 2)
#else
  return false;
#endif
}

bool cpu_has_avx2_fma_f16c() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  if (!cpu_has_avx()) return false;
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
  const bool fma = c & (1u << 12), f16c = c & (1u << 29);
  if (!(fma && f16c)) return false;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  return b & (1u << 5);  // AVX2
#else
  return false;
#endif
}

bool cpu_has_avx_vnni() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  if (!cpu_has_avx2_fma_f16c()) return false;
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || a < 1) return false;  // a: the highest subleaf of leaf 7
  if (!__get_cpuid_count(7, 1, &a, &b, &c, &d)) return false;
  return a & (1u << 4);  // AVX-VNNI (the VEX-encoded 256-bit VPDPBUSD)
#else
  return false;
#endif
}

bool cpu_has_avx512_vnni() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  if (!cpu_has_avx2_fma_f16c()) return false;
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  const bool f = b & (1u << 16), bw = b & (1u << 30), vl = b & (1u << 31), vnni = c & (1u << 11);
  if (!(f && bw && vl && vnni)) return false;
  return (os_saved_state() & 0xe0) == 0xe0;  // the opmask and all ZMM state (XCR0 bits 5, 6 and 7)
#else
  return false;
#endif
}

static const KernelTable& choose() {
  const std::string& want = runtime::switches().isa;
  if (!want.empty()) {
    if (want == "scalar") return scalar_table();
    if (want == "sse42" && sse42_table()) return *sse42_table();
    if (want == "avx" && avx_table()) return *avx_table();
    if (want == "avx2" && avx2_table()) return *avx2_table();
    if (want == "avxvnni" && avxvnni_table()) return *avxvnni_table();
    if (want == "avx512" && avx512_table()) return *avx512_table();
    if (want == "neon" && neon_table()) return *neon_table();
    if (want == "neondot" && neondot_table()) return *neondot_table();
    throw std::runtime_error("SMALLTHINKER_ISA=" + want + " is not available on this CPU or build");
  }
  if (neondot_table()) return *neondot_table();
  if (neon_table()) return *neon_table();
  if (avx512_table()) return *avx512_table();
  if (avxvnni_table()) return *avxvnni_table();
  if (avx2_table()) return *avx2_table();
  if (avx_table()) return *avx_table();
  if (sse42_table()) return *sse42_table();
  return scalar_table();
}

const KernelTable& active() {
  static const KernelTable& table = choose();
  return table;
}

const char* active_isa_name() { return active().isa; }

}  // namespace st::kernels
