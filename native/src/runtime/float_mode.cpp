#include "float_mode.h"

#include "switches.h"

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#include <immintrin.h>
#define ST_FLOAT_MODE_X86 1
#endif

namespace st {

namespace {

#if defined(ST_FLOAT_MODE_X86)
constexpr uint64_t kFlushBits = 0x8000 | 0x0040;  // MXCSR FTZ | DAZ
uint64_t read_mode() { return _mm_getcsr(); }
void write_mode(uint64_t mode) { _mm_setcsr(static_cast<unsigned>(mode)); }
#elif defined(__aarch64__)
constexpr uint64_t kFlushBits = uint64_t(1) << 24;  // FPCR.FZ
uint64_t read_mode() {
  uint64_t fpcr;
  asm volatile("mrs %0, fpcr" : "=r"(fpcr));
  return fpcr;
}
void write_mode(uint64_t mode) { asm volatile("msr fpcr, %0" : : "r"(mode)); }
#else
constexpr uint64_t kFlushBits = 0;
uint64_t read_mode() { return 0; }
void write_mode(uint64_t) {}
#endif

}  // namespace

// SMALLTHINKER_SUBNORMALS=keep turns the flushing off, so a benchmark can show what it buys.
static uint64_t flush_bits() { return runtime::switches().flush_subnormals ? kFlushBits : 0; }

void flush_denormals_on_this_thread() { write_mode(read_mode() | flush_bits()); }

bool denormals_flushed_on_this_thread() { return kFlushBits != 0 && (read_mode() & kFlushBits) == kFlushBits; }

DenormalsFlushedScope::DenormalsFlushedScope() : saved_(read_mode()) {
  if ((saved_ & flush_bits()) != flush_bits()) write_mode(saved_ | flush_bits());
}

DenormalsFlushedScope::~DenormalsFlushedScope() {
  if (read_mode() != saved_) write_mode(saved_);
}

}  // namespace st
