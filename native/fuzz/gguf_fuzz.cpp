// libFuzzer target: any byte string goes through the GGUF reader, the SmallThinker check and
// the tokenizer (checked as inspect does, then built and run on a short text).
// A GgufError is the expected outcome for bad input; anything else (a crash, a sanitizer
// report, another exception, an out-of-memory) is a finding.
#include <cstddef>
#include <cstdint>

#include "gguf/gguf_reader.h"
#include "model/smallthinker_file.h"
#include "tokenizer/model_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto source = st::gguf::memory_source(data, size);
  try {
    st::SmallThinkerFile m = st::SmallThinkerFile::check(st::gguf::GgufFile::parse(*source, "fuzz-input"));
    (void)m.estimated_bytes(m.hparams.n_ctx_train);
    (void)st::ModelTokenizer::check(m.gguf);
    const st::ModelTokenizer tok = st::ModelTokenizer::from_gguf(m.gguf);
    st::StreamingDecoder decoder(*tok.bpe, true);
    for (int32_t id : tok.bpe->encode("ab c<|im_start|>\u00e9 abab<|im_end|>\n", true)) (void)decoder.push(id);
    (void)decoder.flush();
  } catch (const st::gguf::GgufError&) {
  }
  return 0;
}
