// A command-line driver for the sanitizer build: checks each file given as inspect does
// (header, SmallThinker check, tokenizer), builds its tokenizer, and prints one line per file.
// Exit status 0 unless a file could not be judged (a crash ends it anyway).
#include <cstdio>
#include <exception>

#include "model/smallthinker_file.h"
#include "tokenizer/model_tokenizer.h"

int main(int argc, char** argv) {
  int ok = 0, rejected = 0;
  for (int i = 1; i < argc; i++) {
    try {
      st::SmallThinkerFile m = st::SmallThinkerFile::open(argv[i]);
      (void)st::ModelTokenizer::check(m.gguf);
      const st::ModelTokenizer tok = st::ModelTokenizer::from_gguf(m.gguf);
      std::printf("ok       %s (%zu tensors, %d tokens)\n", argv[i], m.gguf.tensors().size(), tok.bpe->size());
      ok++;
    } catch (const st::gguf::GgufError& e) {
      std::printf("rejected %s\n", e.what());
      rejected++;
    }
  }
  std::printf("%d accepted, %d rejected\n", ok, rejected);
  return 0;
}
