#include "free_memory.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace st::runtime {

void return_free_memory() {
#if defined(__GLIBC__)
  malloc_trim(0);  // every arena, not only the main heap's top
#endif
}

}  // namespace st::runtime
