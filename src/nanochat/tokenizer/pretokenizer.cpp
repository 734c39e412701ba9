#include "nanochat/tokenizer/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "nanochat/core/error.h"
#include "nanochat/core/utf8.h"
#include "nanochat/tokenizer/fast_pretokenizer.h"

namespace nanochat {

namespace {

// Unicode White_Space, the class tiktoken's \s means (spec §1.2), without U+180E.
constexpr std::string_view kWhiteSpaceMembers =
    R"(\t\n\x{0B}\f\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000})";

class RegexPretokenizer final : public Pretokenizer {
 public:
  explicit RegexPretokenizer(std::string_view pattern) : pattern_(pattern) {
    const std::string translated = explicit_whitespace_pattern(pattern);
    int err = 0;
    PCRE2_SIZE offset = 0;
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(), PCRE2_UTF | PCRE2_UCP, &err,
                          &offset, nullptr);
    if (code_ == nullptr) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      fail("invalid split pattern at offset {}: {} (pattern: {})", offset, reinterpret_cast<const char*>(msg), pattern_);
    }
    jit_ = pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE) == 0;
  }
  ~RegexPretokenizer() override { pcre2_code_free(code_); }
  RegexPretokenizer(const RegexPretokenizer&) = delete;
  RegexPretokenizer& operator=(const RegexPretokenizer&) = delete;

  std::string_view pattern() const override { return pattern_; }

  void split(std::string_view text, std::vector<std::string_view>& out) const override {
    NC_CHECK(utf8_is_valid(text), "pre-tokenizer input is not valid UTF-8");
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(code_, nullptr);
    NC_CHECK(md != nullptr, "out of memory creating PCRE2 match data");
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    size_t pos = 0;
    while (pos < text.size()) {
      const int rc = jit_ ? pcre2_jit_match(code_, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, md, nullptr)
                          : pcre2_match(code_, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, md, nullptr);
      if (rc == PCRE2_ERROR_NOMATCH) break;
      if (rc < 0) {
        pcre2_match_data_free(md);
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(rc, msg, sizeof msg);
        fail("split pattern match failed at byte {}: {}", pos, reinterpret_cast<const char*>(msg));
      }
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
      const size_t start = ov[0], end = ov[1];
      if (end > start) {
        out.push_back(text.substr(start, end - start));
        pos = end;
      } else {
        // Empty match (only possible with foreign patterns): step over one code point, as find_iter does.
        pos = start + utf8_next(text, start).length;
      }
    }
    pcre2_match_data_free(md);
  }

 private:
  std::string pattern_;
  pcre2_code* code_ = nullptr;
  bool jit_ = false;
};

}  // namespace

std::string explicit_whitespace_pattern(std::string_view p) {
  std::string out;
  out.reserve(p.size() + 256);
  bool in_class = false;
  for (size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      const char n = p[i + 1];
      if (n == 's') {
        out += in_class ? std::string(kWhiteSpaceMembers) : "[" + std::string(kWhiteSpaceMembers) + "]";
      } else if (n == 'S') {
        NC_CHECK(!in_class, "split pattern uses \\S inside a character class, which is not supported: {}", p);
        out += "[^" + std::string(kWhiteSpaceMembers) + "]";
      } else {
        out += c;
        out += n;
      }
      ++i;
      continue;
    }
    if (c == '[' && !in_class) {
      in_class = true;
      out += c;
      // A ']' right after '[' or '[^' is a literal member, not the end of the class.
      if (i + 1 < p.size() && p[i + 1] == '^') out += p[++i];
      if (i + 1 < p.size() && p[i + 1] == ']') out += p[++i];
      continue;
    }
    if (c == ']' && in_class) in_class = false;
    out += c;
  }
  return out;
}

std::unique_ptr<Pretokenizer> make_regex_pretokenizer(std::string_view pattern) {
  return std::make_unique<RegexPretokenizer>(pattern);
}

std::unique_ptr<Pretokenizer> make_pretokenizer(std::string_view pattern) {
  if (auto fast = make_fast_pretokenizer(pattern)) return fast;
  return make_regex_pretokenizer(pattern);
}

}  // namespace nanochat
