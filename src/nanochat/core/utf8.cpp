#include "nanochat/core/utf8.h"

namespace nanochat {

namespace {
inline bool in(unsigned char c, unsigned lo, unsigned hi) { return c >= lo && c <= hi; }
}  // namespace

Utf8Step utf8_next(std::string_view text, size_t pos) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data()) + pos;
  const size_t avail = text.size() - pos;
  const unsigned char b0 = s[0];
  if (b0 < 0x80) return {b0, 1, true};
  size_t need;
  unsigned lo2 = 0x80, hi2 = 0xBF;
  char32_t cp;
  if (in(b0, 0xC2, 0xDF)) {
    need = 2;
    cp = b0 & 0x1F;
  } else if (in(b0, 0xE0, 0xEF)) {
    need = 3;
    cp = b0 & 0x0F;
    if (b0 == 0xE0) lo2 = 0xA0;
    if (b0 == 0xED) hi2 = 0x9F;  // excludes surrogates
  } else if (in(b0, 0xF0, 0xF4)) {
    need = 4;
    cp = b0 & 0x07;
    if (b0 == 0xF0) lo2 = 0x90;
    if (b0 == 0xF4) hi2 = 0x8F;
  } else {
    return {0xFFFD, 1, false};
  }
  // Each byte that continues a valid prefix belongs to the same maximal subpart.
  for (size_t i = 1; i < need; ++i) {
    if (i >= avail) return {0xFFFD, i, false};
    const unsigned char b = s[i];
    const unsigned lo = (i == 1) ? lo2 : 0x80, hi = (i == 1) ? hi2 : 0xBF;
    if (!in(b, lo, hi)) return {0xFFFD, i, false};
    cp = (cp << 6) | (b & 0x3F);
  }
  return {cp, need, true};
}

bool utf8_is_valid(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    // ASCII fast path, 8 bytes at a time.
    while (i + 8 <= text.size()) {
      unsigned long long w;
      __builtin_memcpy(&w, text.data() + i, 8);
      if (w & 0x8080808080808080ULL) break;
      i += 8;
    }
    if (i >= text.size()) break;
    if (static_cast<unsigned char>(text[i]) < 0x80) {
      ++i;
      continue;
    }
    const Utf8Step st = utf8_next(text, i);
    if (!st.valid) return false;
    i += st.length;
  }
  return true;
}

void utf8_append(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

std::string utf8_sanitize(std::string_view text) {
  if (utf8_is_valid(text)) return std::string(text);
  std::string out;
  out.reserve(text.size() + 16);
  size_t i = 0;
  while (i < text.size()) {
    const Utf8Step st = utf8_next(text, i);
    if (st.valid) {
      out.append(text.substr(i, st.length));
    } else {
      utf8_append(out, 0xFFFD);
    }
    i += st.length;
  }
  return out;
}

size_t utf8_count_code_points(std::string_view s) {
  size_t n = 0;
  for (const char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

size_t utf8_prefix_bytes(std::string_view s, size_t max_code_points) {
  size_t count = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
      if (count == max_code_points) return i;
      ++count;
    }
  }
  return s.size();
}

}  // namespace nanochat
