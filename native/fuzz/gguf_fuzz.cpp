// libFuzzer target: any byte string goes through the GGUF reader and the SmallThinker check.
// A GgufError is the expected outcome for bad input; anything else (a crash, a sanitizer
// report, another exception, an out-of-memory) is a finding.
#include <cstddef>
#include <cstdint>

#include "gguf/gguf_reader.h"
#include "model/smallthinker_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto source = st::gguf::memory_source(data, size);
  try {
    st::SmallThinkerFile m = st::SmallThinkerFile::check(st::gguf::GgufFile::parse(*source, "fuzz-input"));
    (void)m.estimated_bytes(m.hparams.n_ctx_train);
  } catch (const st::gguf::GgufError&) {
  }
  return 0;
}
