// Hands memory the allocator keeps after large frees back to the operating system, so that
// releasing a model (tens of MB of tokenizer tables and scratch in the allocator's arenas, on
// top of the weights' own mappings) shows in the process's resident set at once.
#pragma once

namespace st::runtime {

void return_free_memory();

}  // namespace st::runtime
