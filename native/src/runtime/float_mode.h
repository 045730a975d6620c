// Subnormal floats flushed to zero on the threads that compute.
//
// Sharp attention (most softmax probabilities tiny) makes the value sums multiply and add
// subnormal numbers. Intel cores take a microcode assist for every such operand, about a
// hundred cycles: on a Xeon a 512-token prefill ran 3x slower for it (46 % of the samples in
// the value sums) while the AMD cores the kernels were tuned on showed nothing. Results below
// FLT_MIN (1.2e-38) change no logit we can measure, so every thread that computes runs with
// flush-to-zero and denormals-are-zero (x86 MXCSR FTZ|DAZ, Arm FPCR.FZ).
#pragma once
#include <cstdint>

namespace st {

// Sets the mode on this thread for good (the pool's own worker threads).
void flush_denormals_on_this_thread();

// True when this thread's float mode flushes subnormal results and operands to zero.
bool denormals_flushed_on_this_thread();

// Sets the mode for a scope and restores the previous one after: the calling thread is
// Node's, and JavaScript numbers must keep their subnormals outside our computation.
class DenormalsFlushedScope {
 public:
  DenormalsFlushedScope();
  ~DenormalsFlushedScope();
  DenormalsFlushedScope(const DenormalsFlushedScope&) = delete;
  DenormalsFlushedScope& operator=(const DenormalsFlushedScope&) = delete;

 private:
  uint64_t saved_;
};

}  // namespace st
