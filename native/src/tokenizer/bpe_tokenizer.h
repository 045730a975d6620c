// Byte-level BPE as llama.cpp runs it for `tokenizer.ggml.model = gpt2` with the Qwen2
// pre-tokenizer: special tokens split out first, then the Qwen2 split, then merges by rank.
#pragma once
#include <cstdint>
#include <list>
#include <string>
#include <unordered_map>
#include <vector>

namespace st {

// llama.cpp's token types (tokenizer.ggml.token_type).
enum class TokenType : int32_t { Undefined = 0, Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };

class BpeTokenizer {
 public:
  BpeTokenizer(std::vector<std::string> tokens, std::vector<int32_t> token_types, const std::vector<std::string>& merges);

  // parse_special: control tokens written in the text become their ids (user-defined tokens
  // always do, as in llama.cpp).
  std::vector<int32_t> encode(const std::string& text, bool parse_special) const;

  // A byte range [begin, end) of a text.
  struct Span { size_t begin, end; };
  // The same, with control tokens recognised only where they lie wholly inside one of
  // `special_spans` (sorted, disjoint): a chat template's markup. Text elsewhere (message
  // contents) never becomes a control token, and plain fragments run across span boundaries
  // exactly as in encode(), so benign text tokenises as if it were one string.
  std::vector<int32_t> encode(const std::string& text, const std::vector<Span>& special_spans) const;

  // The bytes of one token; control tokens render their text only when `render_special`.
  std::string token_bytes(int32_t id, bool render_special) const;

  int32_t size() const { return static_cast<int32_t>(tokens_.size()); }
  TokenType type(int32_t id) const { return types_[id]; }
  const std::string& text(int32_t id) const { return tokens_[id]; }
  int32_t find(const std::string& text) const;

  // The Qwen2 pre-tokenizer split (exposed for tests): byte offsets of the pieces.
  static std::vector<std::string> pre_tokenize(const std::string& text);

  // Whether a merge rule has its form "left right" (a space after a non-empty left part).
  static bool is_merge(const std::string& rule) { return rule.find(' ', 1) != std::string::npos; }

 private:
  void encode_fragment(const std::string& text, std::vector<int32_t>& out) const;
  void encode_word(const std::string& word, std::vector<int32_t>& out) const;

  std::vector<std::string> tokens_;
  std::vector<TokenType> types_;
  std::unordered_map<std::string, int32_t> token_ids_;
  std::unordered_map<std::string, int32_t> merge_ranks_;  // "left right" -> rank
  std::vector<int32_t> special_ids_;                      // control + user-defined, longest first
  std::string byte_chars_[256];                           // GPT-2 byte -> UTF-8 of its char
  std::unordered_map<uint32_t, uint8_t> char_bytes_;      // and back
  // Words already merged, bounded by what they take in memory (counted as the word, its ids
  // and a map node's overhead): cleared when it outgrows kWordCacheBytes. A word that would
  // take more than a 64th of that alone (a long run of one character class) is not kept: it
  // would push out thousands of ordinary words for one that rarely comes back.
  mutable std::unordered_map<std::string, std::vector<int32_t>> word_cache_;
  mutable size_t word_cache_bytes_ = 0;
  static constexpr size_t kWordCacheBytes = 8u << 20;
};

// Turns token ids into text as they stream: emits only complete UTF-8 sequences, holding a
// partial one back until the next token completes it (or flush() at the end).
class StreamingDecoder {
 public:
  StreamingDecoder(const BpeTokenizer& tok, bool render_special) : tok_(tok), render_special_(render_special) {}
  std::string push(int32_t id);
  std::string flush();

 private:
  const BpeTokenizer& tok_;
  bool render_special_;
  std::string pending_;
};

}  // namespace st
