// Python's str.strip() and str.isspace() on UTF-8 text (spec Appendix A.6): the Unicode whitespace
// Python strips, including U+001C-U+001F, U+0085 and U+00A0, and not U+200B or U+FEFF. Ill-formed
// bytes count as non-space.
#pragma once
#include <string>
#include <string_view>

namespace nanochat::eval {

bool python_isspace(char32_t cp);
std::string python_strip(std::string_view text);

}  // namespace nanochat::eval
