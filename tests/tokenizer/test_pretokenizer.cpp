#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "nanochat/core/error.h"
#include "nanochat/tokenizer/pretokenizer.h"
#include "nanochat/tokenizer/split_pattern.h"

using namespace nanochat;

namespace {
std::vector<std::string> pieces(const Pretokenizer& p, const std::string& text) {
  std::vector<std::string> out;
  for (auto v : p.split(text)) out.emplace_back(v);
  return out;
}
using V = std::vector<std::string>;

// Every example of spec §1.2, checked against both implementations.
void check_spec_examples(const Pretokenizer& p) {
  EXPECT_EQ(pieces(p, "Hello world! This is a test."), (V{"Hello", " world", "!", " This", " is", " a", " test", "."}));
  EXPECT_EQ(pieces(p, "I'm you're IT'S"), (V{"I", "'m", " you", "'re", " IT", "'S"}));
  EXPECT_EQ(pieces(p, "Numbers: 123, 4567, 89"),
            (V{"Numbers", ":", " ", "12", "3", ",", " ", "45", "67", ",", " ", "89"}));
  EXPECT_EQ(pieces(p, "def f(x):\n    return x + 1\n"),
            (V{"def", " f", "(x", "):\n", "   ", " return", " x", " +", " ", "1", "\n"}));
  EXPECT_EQ(pieces(p, "don't 'sup"), (V{"don", "'t", " '", "sup"}));
  EXPECT_EQ(pieces(p, "你好世界 🌍!!"), (V{"你好世界", " 🌍!!"}));
  EXPECT_EQ(pieces(p, "x\r\ny"), (V{"x", "\r\n", "y"}));
  // Table rows of §1.2.
  EXPECT_EQ(pieces(p, "'stuff"), (V{"'s", "tuff"}));
  EXPECT_EQ(pieces(p, "x'LLama"), (V{"x", "'LL", "ama"}));
  EXPECT_EQ(pieces(p, "'st"), (V{"'s", "t"}));
  EXPECT_EQ(pieces(p, "'\u017Fx"), (V{"'\u017F", "x"}));  // U+017F folds to s
  EXPECT_EQ(pieces(p, "it\u2019s"), (V{"it", "\u2019s"}));  // U+2019 is not a contraction
  EXPECT_EQ(pieces(p, "\tfoo 'hello \u00a0b"), (V{"\tfoo", " '", "hello", " ", "\u00a0b"}));
  EXPECT_EQ(pieces(p, "'hello"), (V{"'hello"}));
  EXPECT_EQ(pieces(p, "12345"), (V{"12", "34", "5"}));
  EXPECT_EQ(pieces(p, " 123"), (V{" ", "12", "3"}));
  EXPECT_EQ(pieces(p, "\u00bd\u00b2\u00b3"), (V{"\u00bd\u00b2", "\u00b3"}));
  EXPECT_EQ(pieces(p, " {\n\n"), (V{" {\n\n"}));
  EXPECT_EQ(pieces(p, "  \n  \nz"), (V{"  \n  \n", "z"}));
  EXPECT_EQ(pieces(p, "\n   x"), (V{"\n", "  ", " x"}));
  EXPECT_EQ(pieces(p, "a   b"), (V{"a", "  ", " b"}));
  EXPECT_EQ(pieces(p, "x\n  "), (V{"x", "\n", "  "}));
  EXPECT_EQ(pieces(p, "e\u0301t\u00e9"), (V{"e", "\u0301t\u00e9"}));  // combining mark is not a letter
  EXPECT_EQ(pieces(p, "a\u180Eb"), (V{"a", "\u180Eb"}));  // U+180E is not whitespace
  EXPECT_EQ(pieces(p, ""), V{});
}
}  // namespace

TEST(RegexPretokenizer, SpecExamples) { check_spec_examples(*make_regex_pretokenizer(kNanochatSplitPattern)); }
TEST(Pretokenizer, SpecExamples) { check_spec_examples(*make_pretokenizer(kNanochatSplitPattern)); }

TEST(RegexPretokenizer, Gpt4PatternKeepsTrailingWhitespaceTogether) {
  auto p = make_regex_pretokenizer(kGpt4SplitPattern);
  EXPECT_EQ(pieces(*p, "x\n  "), (V{"x", "\n  "}));
  EXPECT_EQ(pieces(*p, "12345"), (V{"123", "45"}));
}

TEST(RegexPretokenizer, RejectsInvalidUtf8AndBadPatterns) {
  auto p = make_regex_pretokenizer(kNanochatSplitPattern);
  EXPECT_THROW(p->split(std::string("ab\xFF")), Error);
  EXPECT_THROW(make_regex_pretokenizer("(unclosed"), Error);
}

TEST(ExplicitWhitespace, RewritesInsideAndOutsideClasses) {
  const std::string out = explicit_whitespace_pattern(R"(\s+(?!\S)|[^\s\p{L}])");
  EXPECT_EQ(out.find("\\s"), std::string::npos);
  EXPECT_EQ(out.find("\\S"), std::string::npos);
  EXPECT_NE(out.find("[^\\t\\n"), std::string::npos);
}
