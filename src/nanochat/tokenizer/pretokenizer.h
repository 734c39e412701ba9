// Pre-tokenization: cut text into the pieces that BPE encodes independently, with the leftmost-first
// (Perl/fancy-regex) semantics of spec/tokenizer-inference-eval.md §1.2.
//
// Two implementations: RegexPretokenizer runs any pattern through PCRE2 (JIT), with \s and \S replaced
// by the explicit Unicode White_Space class (PCRE2's own \s also matches U+180E); it is the reference.
// make_pretokenizer() returns a hand-written scanner for nanochat's pattern when one is available
// (tested against the reference), else the regex one.
//
// Input must be valid UTF-8 (the Tokenizer sanitizes first); split() throws Error otherwise.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace nanochat {

class Pretokenizer {
 public:
  virtual ~Pretokenizer() = default;
  // Appends the pieces of `text`, in order, to `out` (views into `text`).
  virtual void split(std::string_view text, std::vector<std::string_view>& out) const = 0;
  virtual std::string_view pattern() const = 0;

  std::vector<std::string_view> split(std::string_view text) const {
    std::vector<std::string_view> out;
    split(text, out);
    return out;
  }
};

// PCRE2-backed, any pattern. Throws Error naming the pattern and PCRE2's message if it does not compile.
std::unique_ptr<Pretokenizer> make_regex_pretokenizer(std::string_view pattern);
// The fastest correct implementation for `pattern`.
std::unique_ptr<Pretokenizer> make_pretokenizer(std::string_view pattern);

// Rewrites \s and \S into explicit Unicode White_Space classes (exposed for tests).
std::string explicit_whitespace_pattern(std::string_view pattern);

}  // namespace nanochat
