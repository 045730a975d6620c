#include "bpe_tokenizer.h"

#include <algorithm>
#include <iterator>
#include <queue>
#include <stdexcept>
#include <string_view>

#include "unicode.h"

namespace st {

using unicode::is_letter;
using unicode::is_number;
using unicode::is_whitespace;

// Texts llama.cpp treats as control tokens whatever the file says (end-of-turn and
// fill-in-the-middle markers); matching it keeps tokenisation identical on real files.
static bool looks_like_control(const std::string& t) {
  static const char* const kTexts[] = {
      "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>",
      "<EOT>", "_<EOT>", "<|end_of_text|>", "<end_of_utterance>", "</s>",
      "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<PRE>", "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<SUF>",
      "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<MID>", "<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>",
      "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<|file_sep|>", "<|file_separator|>", "<file_sep>", "<SEP>",
  };
  for (const char* k : kTexts) if (t == k) return true;
  return false;
}

BpeTokenizer::BpeTokenizer(std::vector<std::string> tokens, std::vector<int32_t> token_types,
                           const std::vector<std::string>& merges)
    : tokens_(std::move(tokens)) {
  if (!token_types.empty() && token_types.size() != tokens_.size()) {
    throw std::invalid_argument("tokenizer.ggml.token_type has " + std::to_string(token_types.size()) +
                                " entries for " + std::to_string(tokens_.size()) + " tokens");
  }
  types_.reserve(tokens_.size());
  token_ids_.reserve(tokens_.size());
  for (size_t i = 0; i < tokens_.size(); i++) {
    const int32_t t = token_types.empty() ? 1 : token_types[i];
    types_.push_back(t >= 0 && t <= 6 ? static_cast<TokenType>(t) : TokenType::Normal);
    if (looks_like_control(tokens_[i])) types_.back() = TokenType::Control;
    token_ids_.emplace(tokens_[i], static_cast<int32_t>(i));  // the first id wins on duplicates
    if (types_[i] == TokenType::Control || types_[i] == TokenType::UserDefined) special_ids_.push_back(static_cast<int32_t>(i));
  }
  std::stable_sort(special_ids_.begin(), special_ids_.end(),
                   [&](int32_t a, int32_t b) { return tokens_[a].size() > tokens_[b].size(); });
  merge_ranks_.reserve(merges.size());
  for (size_t r = 0; r < merges.size(); r++) {
    if (!is_merge(merges[r])) throw std::invalid_argument("merge #" + std::to_string(r) + " has no separator: " + merges[r]);
    merge_ranks_.emplace(merges[r], static_cast<int32_t>(r));
  }
  // GPT-2's reversible byte <-> printable character map.
  int extra = 0;
  for (int b = 0; b < 256; b++) {
    const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    const uint32_t cp = printable ? static_cast<uint32_t>(b) : 256u + extra++;
    unicode::append_utf8(cp, byte_chars_[b]);
    char_bytes_.emplace(cp, static_cast<uint8_t>(b));
  }
}

int32_t BpeTokenizer::find(const std::string& text) const {
  auto it = token_ids_.find(text);
  return it == token_ids_.end() ? -1 : it->second;
}

// The Qwen2 split, written out from its regex:
//   (?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}
//   | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
std::vector<std::string> BpeTokenizer::pre_tokenize(const std::string& text) {
  const std::vector<uint32_t> cps = unicode::decode_utf8(text);
  const size_t n = cps.size();
  auto at = [&](size_t i) -> uint32_t { return i < n ? cps[i] : 0xFFFFFFFFu; };
  auto letter = [&](size_t i) { return i < n && is_letter(cps[i]); };
  auto number = [&](size_t i) { return i < n && is_number(cps[i]); };
  auto space = [&](size_t i) { return i < n && is_whitespace(cps[i]); };
  auto other = [&](size_t i) { return i < n && !is_whitespace(cps[i]) && !is_letter(cps[i]) && !is_number(cps[i]); };
  auto lower = [](uint32_t c) { return c < 0x80 ? (c | 0x20) : c; };

  std::vector<std::string> pieces;
  size_t pos = 0;
  auto emit = [&](size_t end) {
    std::string piece;
    for (size_t i = pos; i < end; i++) unicode::append_utf8(cps[i], piece);
    pieces.push_back(std::move(piece));
    pos = end;
  };
  while (pos < n) {
    const uint32_t c = cps[pos];
    // Contractions.
    if (c == '\'' && pos + 1 < n) {
      const uint32_t c1 = lower(at(pos + 1)), c2 = lower(at(pos + 2));
      if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') { emit(pos + 2); continue; }
      if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) { emit(pos + 3); continue; }
    }
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if (c != '\r' && c != '\n' && !letter(pos) && !number(pos) && letter(pos + 1)) {
      size_t e = pos + 1;
      while (letter(e)) e++;
      emit(e);
      continue;
    }
    if (letter(pos)) {
      size_t e = pos;
      while (letter(e)) e++;
      emit(e);
      continue;
    }
    // \p{N}
    if (number(pos)) { emit(pos + 1); continue; }
    // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
    const size_t o = (c == ' ' && other(pos + 1)) ? pos + 1 : pos;
    if (other(o)) {
      size_t e = o;
      while (other(e)) e++;
      while (at(e) == '\r' || at(e) == '\n') e++;
      emit(e);
      continue;
    }
    // Whitespace runs.
    size_t run_end = pos;
    size_t last_newline_end = 0;
    while (space(run_end)) {
      if (cps[run_end] == '\r' || cps[run_end] == '\n') last_newline_end = run_end + 1;
      run_end++;
    }
    if (last_newline_end > 0) { emit(last_newline_end); continue; }          // \s*[\r\n]+
    if (run_end - pos > 1 && run_end < n) { emit(run_end - 1); continue; }    // \s+(?!\S)
    if (run_end > pos) { emit(run_end); continue; }                            // \s+
    emit(pos + 1);  // unreachable for valid input; keeps the loop total
  }
  return pieces;
}

void BpeTokenizer::encode_word(const std::string& word, std::vector<int32_t>& out) const {
  auto cached = word_cache_.find(word);
  if (cached != word_cache_.end()) {
    out.insert(out.end(), cached->second.begin(), cached->second.end());
    return;
  }
  // Symbols: the byte-level characters of the word, as a linked list that merges shrink.
  struct Symbol { std::string text; int prev, next; };
  std::vector<Symbol> sym;
  for (unsigned char b : word) {
    const int i = static_cast<int>(sym.size());
    sym.push_back({byte_chars_[b], i - 1, i + 1});
  }
  if (!sym.empty()) sym.back().next = -1;

  struct Bigram { int32_t rank; int left; std::string text; };
  auto worse = [](const Bigram& a, const Bigram& b) { return a.rank > b.rank || (a.rank == b.rank && a.left > b.left); };
  std::priority_queue<Bigram, std::vector<Bigram>, decltype(worse)> queue(worse);
  auto try_pair = [&](int left) {
    if (left < 0 || sym[left].next < 0) return;
    std::string key = sym[left].text + " " + sym[sym[left].next].text;
    auto it = merge_ranks_.find(key);
    if (it != merge_ranks_.end()) queue.push({it->second, left, sym[left].text + sym[sym[left].next].text});
  };
  for (int i = 0; i + 1 < static_cast<int>(sym.size()); i++) try_pair(i);
  while (!queue.empty()) {
    Bigram top = queue.top();
    queue.pop();
    Symbol& l = sym[top.left];
    if (l.next < 0 || l.text.empty()) continue;
    Symbol& r = sym[l.next];
    if (l.text.size() + r.text.size() != top.text.size() || l.text + r.text != top.text) continue;  // stale
    l.text = top.text;
    r.text.clear();
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = top.left;
    try_pair(l.prev);
    try_pair(top.left);
  }
  std::vector<int32_t> ids;
  for (int i = sym.empty() ? -1 : 0; i >= 0; i = sym[i].next) {
    auto it = token_ids_.find(sym[i].text);
    if (it != token_ids_.end()) {
      ids.push_back(it->second);
      continue;
    }
    // No token for the merged text (a vocabulary without it): fall back to its characters.
    const std::vector<uint32_t> chars = unicode::decode_utf8(sym[i].text);
    for (uint32_t ch : chars) {
      std::string one;
      unicode::append_utf8(ch, one);
      auto c = token_ids_.find(one);
      if (c != token_ids_.end()) ids.push_back(c->second);
    }
  }
  const size_t cost = word.size() + ids.size() * sizeof(int32_t) + 96;  // 96: node, key and vector objects
  if (cost <= kWordCacheBytes / 64) {
    if (word_cache_bytes_ + cost > kWordCacheBytes) {
      word_cache_.clear();
      word_cache_bytes_ = 0;
    }
    word_cache_.emplace(word, ids);
    word_cache_bytes_ += cost;
  }
  out.insert(out.end(), ids.begin(), ids.end());
}

void BpeTokenizer::encode_fragment(const std::string& text, std::vector<int32_t>& out) const {
  for (const std::string& piece : pre_tokenize(text)) encode_word(piece, out);
}

std::vector<int32_t> BpeTokenizer::encode(const std::string& text, bool parse_special) const {
  std::vector<Span> everywhere;
  if (parse_special) everywhere.push_back({0, text.size()});
  return encode(text, everywhere);
}

std::vector<int32_t> BpeTokenizer::encode(const std::string& text, const std::vector<Span>& special_spans) const {
  std::vector<int32_t> out;
  // Whether a control token found at [begin, end) may become its id: inside one span.
  auto in_special_span = [&](size_t begin, size_t end) {
    auto after = std::upper_bound(special_spans.begin(), special_spans.end(), begin,
                                  [](size_t at, const Span& s) { return at < s.begin; });
    return after != special_spans.begin() && end <= std::prev(after)->end;
  };
  // Split out special tokens first, as llama.cpp does: one pass per token, longest first,
  // taking its leftmost non-overlapping occurrences inside the fragments of plain text that
  // the passes before left. A search must stop at its fragment's end: searching on to the
  // end of the text made every pass cost (fragments × text length).
  struct Fragment { size_t begin, end; int32_t id; };  // id >= 0: a special token
  std::vector<Fragment> fragments{{0, text.size(), -1}}, next;
  for (int32_t id : special_ids_) {
    const bool control = types_[id] == TokenType::Control;
    if (control && special_spans.empty()) continue;
    const std::string& s = tokens_[id];
    if (s.empty()) continue;
    next.clear();
    for (const Fragment& f : fragments) {
      if (f.id >= 0) { next.push_back(f); continue; }
      const std::string_view upto_end(text.data(), f.end);
      size_t start = f.begin;
      for (size_t from = f.begin, hit; (hit = upto_end.find(s, from)) != std::string_view::npos;) {
        if (control && !in_special_span(hit, hit + s.size())) {
          from = hit + 1;  // text here, not markup: look further
          continue;
        }
        if (hit > start) next.push_back({start, hit, -1});
        next.push_back({hit, hit + s.size(), id});
        start = from = hit + s.size();
      }
      if (start < f.end) next.push_back({start, f.end, -1});
    }
    fragments.swap(next);
  }
  for (const Fragment& f : fragments) {
    if (f.id >= 0) out.push_back(f.id);
    else encode_fragment(text.substr(f.begin, f.end - f.begin), out);
  }
  return out;
}

std::string BpeTokenizer::token_bytes(int32_t id, bool render_special) const {
  if (id < 0 || id >= size()) throw std::out_of_range("token id " + std::to_string(id) + " is outside the vocabulary");
  switch (types_[id]) {
    case TokenType::Control: return render_special ? tokens_[id] : std::string();
    case TokenType::UserDefined: return tokens_[id];
    case TokenType::Unused: case TokenType::Undefined: return std::string();
    default: break;
  }
  std::string bytes;
  for (uint32_t cp : unicode::decode_utf8(tokens_[id])) {
    auto it = char_bytes_.find(cp);
    if (it != char_bytes_.end()) bytes += static_cast<char>(it->second);
    else unicode::append_utf8(cp, bytes);
  }
  return bytes;
}

std::string StreamingDecoder::push(int32_t id) {
  pending_ += tok_.token_bytes(id, render_special_);
  // Find the end of the last complete UTF-8 sequence.
  size_t complete = pending_.size();
  for (size_t back = 1; back <= 4 && back <= pending_.size(); back++) {
    const auto c = static_cast<uint8_t>(pending_[pending_.size() - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
    const int len = c >= 0x80 ? unicode::utf8_sequence_length(c) : 1;
    if (len > static_cast<int>(back)) complete = pending_.size() - back;  // lead without its tail yet
    break;
  }
  std::string out = pending_.substr(0, complete);
  pending_.erase(0, complete);
  return out;
}

std::string StreamingDecoder::flush() {
  std::string out;
  out.swap(pending_);
  return out;
}

}  // namespace st
