// What the Qwen2 pre-tokenizer needs to know about code points: UTF-8 decoding (invalid
// bytes become U+FFFD, as in llama.cpp) and the letter / number / whitespace classes.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace st::unicode {

std::vector<uint32_t> decode_utf8(const std::string& s);
void append_utf8(uint32_t cp, std::string& out);

bool is_letter(uint32_t cp);
bool is_number(uint32_t cp);
bool is_whitespace(uint32_t cp);

// Length of the UTF-8 sequence a lead byte starts (1 for invalid lead bytes).
int utf8_sequence_length(uint8_t lead);

}  // namespace st::unicode
