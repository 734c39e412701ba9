#include "nanochat/eval/python_str.h"

#include "nanochat/core/utf8.h"

namespace nanochat::eval {

bool python_isspace(char32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
         cp == 0x3000;
}

std::string python_strip(std::string_view text) {
  size_t begin = 0;
  while (begin < text.size()) {
    const Utf8Step s = utf8_next(text, begin);
    if (!s.valid || !python_isspace(s.code_point)) break;
    begin += s.length;
  }
  // Scan forward remembering where the last non-space code point ends (UTF-8 cannot be walked backwards
  // safely when it may be ill-formed).
  size_t end = begin, pos = begin;
  while (pos < text.size()) {
    const Utf8Step s = utf8_next(text, pos);
    pos += s.length;
    if (!s.valid || !python_isspace(s.code_point)) end = pos;
  }
  return std::string(text.substr(begin, end - begin));
}

}  // namespace nanochat::eval
