// Internal: UTF-8 / UTF-16 / Latin-1 helpers for names and the canonical ABI's strings.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace flotilla::component::unicode {

// Decodes one UTF-8 scalar at s[i]; returns its length (1..4) or 0 if invalid (overlong,
// surrogate, > U+10FFFF, truncated).
inline int decode_utf8(std::string_view s, size_t i, char32_t& out) {
  auto c = static_cast<uint8_t>(s[i]);
  int n;
  char32_t cp;
  if (c < 0x80) {
    out = c;
    return 1;
  } else if ((c >> 5) == 6) {
    n = 1;
    cp = c & 0x1f;
  } else if ((c >> 4) == 14) {
    n = 2;
    cp = c & 0x0f;
  } else if ((c >> 3) == 30) {
    n = 3;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (s.size() - i <= static_cast<size_t>(n)) return 0;
  for (int k = 1; k <= n; k++) {
    auto d = static_cast<uint8_t>(s[i + k]);
    if ((d & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (d & 0x3f);
  }
  if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
      cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
    return 0;
  }
  out = cp;
  return n + 1;
}

inline bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    char32_t cp;
    int n = decode_utf8(s, i, cp);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

inline void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

inline bool is_scalar(uint32_t cp) { return cp < 0xd800 || (cp > 0xdfff && cp <= 0x10ffff); }

}  // namespace flotilla::component::unicode
