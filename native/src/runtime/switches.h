// The environment switches the engine reads, in one place and once per process: they exist
// for tests and comparisons, not for users.
//   SMALLTHINKER_ISA=scalar|avx2|avx512|neon  use this kernel table (kernels/dispatch.cpp)
//   SMALLTHINKER_PACK=0                       keep Q4_0 rows as in the file (formats/choose.cpp)
#pragma once
#include <string>

namespace st::runtime {

struct Switches {
  std::string isa;   // empty: the best table for this CPU
  bool pack = true;
};

const Switches& switches();

}  // namespace st::runtime
