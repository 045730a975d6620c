#include "unicode.h"

#include <algorithm>

namespace st::unicode {
namespace {

struct CodepointRange {
  uint32_t first, last;
};
#include "unicode_tables.inc"

template <size_t N>
bool in_ranges(const CodepointRange (&table)[N], uint32_t cp) {
  const CodepointRange* end = table + N;
  const CodepointRange* it = std::upper_bound(table, end, cp, [](uint32_t v, const CodepointRange& r) { return v < r.first; });
  return it != table && cp <= (it - 1)->last;
}

}  // namespace

int utf8_sequence_length(uint8_t lead) {
  if (lead < 0x80) return 1;
  if ((lead & 0xE0) == 0xC0) return 2;
  if ((lead & 0xF0) == 0xE0) return 3;
  if ((lead & 0xF8) == 0xF0) return 4;
  return 1;
}

std::vector<uint32_t> decode_utf8(const std::string& s) {
  std::vector<uint32_t> out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const uint8_t c = p[i];
    const int len = utf8_sequence_length(c);
    bool ok = len > 1 && i + len <= n;
    uint32_t cp = c;
    if (len == 1) {
      if (c < 0x80) {
        out.push_back(c);
        i++;
        continue;
      }
    } else if (ok) {
      cp = c & (0x7F >> len);
      for (int k = 1; k < len; k++) {
        if ((p[i + k] & 0xC0) != 0x80) { ok = false; break; }
        cp = (cp << 6) | (p[i + k] & 0x3F);
      }
    }
    if (!ok) {  // llama.cpp: skip one byte, emit U+FFFD
      out.push_back(0xFFFD);
      i++;
      continue;
    }
    out.push_back(cp);
    i += len;
  }
  return out;
}

void append_utf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

bool is_letter(uint32_t cp) {
  if (cp < 0x80) return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
  return in_ranges(kLetterRanges, cp);
}

bool is_number(uint32_t cp) {
  if (cp < 0x80) return cp >= '0' && cp <= '9';
  return in_ranges(kNumberRanges, cp);
}

// llama.cpp's whitespace set: ASCII \t \n \v \f \r and space, plus Unicode's White_Space.
bool is_whitespace(uint32_t cp) {
  switch (cp) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x20: case 0x85: case 0xA0: case 0x1680:
    case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

}  // namespace st::unicode
