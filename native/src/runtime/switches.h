// The environment switches the engine reads, in one place and once per process: they exist
// for tests and comparisons, not for users.
//   SMALLTHINKER_ISA=scalar|sse42|avx|avx2|avxvnni|avx512|neon|neondot  use this kernel table (kernels/dispatch.cpp)
//   SMALLTHINKER_PACK=0                       keep Q4_0, Q8_0 and Q4_K rows as in the file (formats/choose.cpp)
//   SMALLTHINKER_SUBNORMALS=keep              compute with subnormal floats (runtime/float_mode.h)
//   SMALLTHINKER_BUSY_CORE=ignore             every region on every thread (runtime/busy_core_policy.h)
#pragma once
#include <string>

namespace st::runtime {

struct Switches {
  std::string isa;   // empty: the best table for this CPU
  bool pack = true;
  bool flush_subnormals = true;
  bool busy_core_policy = true;
};

const Switches& switches();

}  // namespace st::runtime
