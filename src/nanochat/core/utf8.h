// UTF-8 with CPython's semantics: decoding with errors="replace" turns each *maximal ill-formed
// subpart* into one U+FFFD (E4 BD -> 1, FF FE -> 2, ED A0 80 -> 3, F0 9F 8C 41 -> U+FFFD 'A').
// Text lengths in nanochat are code points (Python len(str)), so helpers count those.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace nanochat {

struct Utf8Step {
  char32_t code_point;  // U+FFFD when !valid
  size_t length;        // bytes consumed (>= 1 unless at end)
  bool valid;
};

// Decodes the code point starting at text[pos] (pos < text.size()).
Utf8Step utf8_next(std::string_view text, size_t pos);
bool utf8_is_valid(std::string_view text);
// Replaces every maximal ill-formed subpart with U+FFFD (returns text unchanged when it is valid).
std::string utf8_sanitize(std::string_view text);
void utf8_append(std::string& out, char32_t code_point);
size_t utf8_count_code_points(std::string_view valid_text);
// Byte length of the first max_code_points code points of valid UTF-8 (all of it if shorter).
size_t utf8_prefix_bytes(std::string_view valid_text, size_t max_code_points);

}  // namespace nanochat
