#include "switches.h"

#include <cstdlib>
#include <cstring>

namespace st::runtime {

const Switches& switches() {
  static const Switches s = [] {
    Switches out;
    if (const char* isa = std::getenv("SMALLTHINKER_ISA")) out.isa = isa;
    const char* pack = std::getenv("SMALLTHINKER_PACK");
    out.pack = !(pack && std::strcmp(pack, "0") == 0);
    const char* subnormals = std::getenv("SMALLTHINKER_SUBNORMALS");
    out.flush_subnormals = !(subnormals && std::strcmp(subnormals, "keep") == 0);
    const char* busy_core = std::getenv("SMALLTHINKER_BUSY_CORE");
    out.busy_core_policy = !(busy_core && std::strcmp(busy_core, "ignore") == 0);
    return out;
  }();
  return s;
}

}  // namespace st::runtime
