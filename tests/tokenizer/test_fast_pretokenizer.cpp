// The hand-written scanner for nanochat's split pattern must split exactly like the PCRE2 reference
// (leftmost-first backtracking, spec §1.2). Differences are allowed only where the Unicode versions
// differ (our tables: Unicode 15.0; PCRE2 10.42: Unicode 14), and those are tested separately.
#include <gtest/gtest.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "nanochat/core/error.h"
#include "nanochat/core/file_io.h"
#include "nanochat/core/utf8.h"
#include "nanochat/tokenizer/fast_pretokenizer.h"
#include "nanochat/tokenizer/split_pattern.h"
#include "nanochat/tokenizer/unicode_classes.h"
#include "test_support.h"

using namespace nanochat;
using unicode::CharClass;

namespace {

using Pieces = std::vector<std::string_view>;
using V = std::vector<std::string>;

std::string utf8(char32_t cp) {
  std::string s;
  utf8_append(s, cp);
  return s;
}

bool is_surrogate(char32_t cp) { return cp >= 0xD800 && cp <= 0xDFFF; }

std::string escaped(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7F && c != '\\') out += static_cast<char>(c);
    else out += fmt::format("\\x{:02X}", c);
  }
  return out;
}

std::string describe(const Pieces& pieces) {
  std::string out;
  for (auto p : pieces) {
    out += '[';
    out += escaped(p);
    out += ']';
  }
  return out;
}

// A PCRE2 pattern matched against single code points: which numbered group matched.
class CodePointProbe {
 public:
  explicit CodePointProbe(const std::string& pattern) {
    int err = 0;
    PCRE2_SIZE offset = 0;
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                          PCRE2_UTF | PCRE2_UCP | PCRE2_ANCHORED | PCRE2_ENDANCHORED, &err, &offset, nullptr);
    if (code_ == nullptr) throw Error("probe pattern does not compile: " + pattern);
    pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE);
    md_ = pcre2_match_data_create_from_pattern(code_, nullptr);
  }
  ~CodePointProbe() {
    pcre2_match_data_free(md_);
    pcre2_code_free(code_);
  }
  CodePointProbe(const CodePointProbe&) = delete;
  CodePointProbe& operator=(const CodePointProbe&) = delete;

  // Index (1-based) of the last group that took part in the match, 0 when nothing matched.
  int group(char32_t cp) {
    const std::string s = utf8(cp);
    const int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), 0, 0, md_, nullptr);
    return rc > 1 ? rc - 1 : 0;
  }

 private:
  pcre2_code* code_ = nullptr;
  pcre2_match_data* md_ = nullptr;
};

constexpr const char* kWhiteSpaceClass =
    R"([\t\n\x{0B}\f\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}])";

// PCRE2's (Unicode 14) view of a code point's class, and whether it is unassigned there.
struct Pcre2Classes {
  CodePointProbe probe{std::string("(\\p{L})|(\\p{N})|(") + kWhiteSpaceClass + ")|(\\p{Cn})"};
  CharClass cls(char32_t cp, bool* unassigned = nullptr) {
    const int g = probe.group(cp);
    if (unassigned != nullptr) *unassigned = g == 4;
    return g == 1 ? CharClass::kLetter : g == 2 ? CharClass::kNumber : g == 3 ? CharClass::kWhiteSpace : CharClass::kOther;
  }
};

class FastPretokenizerTest : public ::testing::Test {
 protected:
  std::unique_ptr<Pretokenizer> fast_ = make_fast_pretokenizer(kNanochatSplitPattern);
  std::unique_ptr<Pretokenizer> reference_ = make_regex_pretokenizer(kNanochatSplitPattern);

  V pieces(std::string_view text) const {
    V out;
    for (auto v : fast_->split(text)) out.emplace_back(v);
    return out;
  }

  // Compares both implementations on `text`; returns false (after reporting) on a difference.
  bool agrees(std::string_view text, std::string_view what) const {
    const Pieces got = fast_->split(text);
    const Pieces want = reference_->split(text);
    if (got == want) return true;
    ADD_FAILURE() << what << ": input \"" << escaped(text) << "\"\n  fast: " << describe(got)
                  << "\n  pcre: " << describe(want);
    return false;
  }
};

}  // namespace

TEST(FastPretokenizer, OnlyForNanochatPattern) {
  ASSERT_NE(make_fast_pretokenizer(kNanochatSplitPattern), nullptr);
  EXPECT_EQ(make_fast_pretokenizer(kNanochatSplitPattern)->pattern(), kNanochatSplitPattern);
  EXPECT_EQ(make_fast_pretokenizer(kGpt4SplitPattern), nullptr);
  EXPECT_EQ(make_fast_pretokenizer(kGpt2SplitPattern), nullptr);
}

// Our tables against PCRE2's for every code point: they may differ only where PCRE2 (Unicode 14) has
// an unassigned code point that Unicode 15 assigned as a letter or number.
TEST(UnicodeClasses, MatchPcre2ExceptCodePointsNewInUnicode15) {
  Pcre2Classes pcre;
  int newly_assigned = 0;
  for (char32_t cp = 0; cp <= 0x10FFFF; ++cp) {
    if (is_surrogate(cp)) continue;
    bool unassigned_in_14 = false;
    const CharClass theirs = pcre.cls(cp, &unassigned_in_14);
    const CharClass ours = unicode::char_class(cp);
    if (ours == theirs) continue;
    if (unassigned_in_14 && theirs == CharClass::kOther && ours != CharClass::kWhiteSpace) {
      ++newly_assigned;
      continue;
    }
    ADD_FAILURE() << fmt::format("U+{:04X}: ours {} pcre2 {}", static_cast<uint32_t>(cp), static_cast<int>(ours),
                                 static_cast<int>(theirs));
    return;
  }
  // Unicode 15.0 added 4,489 characters, most of them letters (CJK Extension H, Kawi, ...).
  EXPECT_GT(newly_assigned, 4000);
  EXPECT_LT(newly_assigned, 4489);
  EXPECT_EQ(unicode::char_class(0x31350), CharClass::kLetter);  // CJK Extension H (new in 15.0)
  EXPECT_EQ(unicode::char_class(0x11F50), CharClass::kNumber);  // KAWI DIGIT ZERO (new in 15.0)
  EXPECT_EQ(unicode::char_class(0x180E), CharClass::kOther);    // not White_Space since Unicode 6.3
  EXPECT_EQ(unicode::char_class(0x0301), CharClass::kOther);    // a combining mark is not a letter
  EXPECT_EQ(unicode::char_class(0x110000), CharClass::kOther);
}

// (?i) in alternative 1 uses simple case folding: check it for every code point against PCRE2.
TEST(UnicodeClasses, SimpleFoldToAsciiMatchesPcre2) {
  std::string pattern = "(?i:";
  for (char c = 'a'; c <= 'z'; ++c) pattern += std::string(c == 'a' ? "" : "|") + "(" + c + ")";
  CodePointProbe probe(pattern + ")");
  int non_ascii = 0;
  for (char32_t cp = 0; cp <= 0x10FFFF; ++cp) {
    if (is_surrogate(cp)) continue;
    const int g = probe.group(cp);
    const char theirs = g == 0 ? 0 : static_cast<char>('a' + g - 1);
    ASSERT_EQ(unicode::simple_fold_to_ascii_letter(cp), theirs) << fmt::format("U+{:04X}", static_cast<uint32_t>(cp));
    if (theirs != 0 && cp >= 0x80) ++non_ascii;
  }
  EXPECT_EQ(non_ascii, 2);  // U+017F -> s, U+212A -> k; no code point outside ASCII folds to d m t l v e r
  EXPECT_EQ(unicode::simple_fold_to_ascii_letter(0x017F), 's');
  EXPECT_EQ(unicode::simple_fold_to_ascii_letter(0x212A), 'k');
}

TEST_F(FastPretokenizerTest, EdgeCases) {
  EXPECT_EQ(pieces("'\u017F"), (V{"'\u017F"}));
  EXPECT_EQ(pieces("'L\u017F"), (V{"'L\u017F"}));  // l then s: no contraction, a letter run
  EXPECT_EQ(pieces("'lL've'RE'Ve"), (V{"'lL", "'ve", "'RE", "'Ve"}));
  EXPECT_EQ(pieces("'l'"), (V{"'l", "'"}));
  EXPECT_EQ(pieces("'"), (V{"'"}));
  EXPECT_EQ(pieces("''s"), (V{"''", "s"}));
  EXPECT_EQ(pieces("'\u212Ax"), (V{"'\u212Ax"}));  // KELVIN folds to k: not a contraction, a letter run
  EXPECT_EQ(pieces(" \n"), (V{" \n"}));
  EXPECT_EQ(pieces("a \r\n\t b"), (V{"a", " \r\n", "\t", " b"}));
  EXPECT_EQ(pieces("\u3000\u3000x"), (V{"\u3000", "\u3000x"}));
  EXPECT_EQ(pieces("\u0085a"), (V{"\u0085a"}));  // NEL is White_Space but not CR/LF
  EXPECT_EQ(pieces("\t1"), (V{"\t", "1"}));
  EXPECT_EQ(pieces("\t!"), (V{"\t", "!"}));
  EXPECT_EQ(pieces(" !\r\n\r\nx"), (V{" !\r\n\r\n", "x"}));
  EXPECT_EQ(pieces("  !"), (V{" ", " !"}));
  EXPECT_EQ(pieces("1\u00bd\u00b2"), (V{"1\u00bd", "\u00b2"}));
  EXPECT_EQ(pieces("\U0001F600a"), (V{"\U0001F600a"}));
  EXPECT_EQ(pieces("\x1C\x1D" "z"), (V{"\x1C\x1D", "z"}));  // U+001C-001F are not White_Space
}

// Where Unicode 15 assigned letters and numbers that PCRE2 10.42 (Unicode 14) does not know, the
// scanner follows Unicode 15 (as tiktoken's tables do).
TEST_F(FastPretokenizerTest, FollowsUnicode15WherePcre2DoesNot) {
  const std::string ext_h = utf8(0x31350) + utf8(0x31351);                // CJK Extension H letters
  const std::string kawi = utf8(0x11F50) + utf8(0x11F51) + utf8(0x11F52);  // Kawi digits
  EXPECT_EQ(pieces(" " + ext_h), (V{" " + ext_h}));
  EXPECT_EQ(pieces("a" + ext_h + "b"), (V{"a" + ext_h + "b"}));
  EXPECT_EQ(pieces(kawi), (V{utf8(0x11F50) + utf8(0x11F51), utf8(0x11F52)}));
  // PCRE2 sees them as "other" characters, so it splits differently.
  EXPECT_NE(reference_->split("a" + ext_h), fast_->split("a" + ext_h));
  EXPECT_NE(reference_->split(kawi), fast_->split(kawi));
}

// Random strings over an alphabet of the characters the pattern treats specially.
TEST_F(FastPretokenizerTest, RandomAdversarialStringsMatchPcre2) {
  std::vector<char32_t> alphabet;
  for (char c : std::string("sSdDmMtTlLvVeErRaAzZ")) alphabet.push_back(static_cast<unsigned char>(c));
  for (int i = 0; i < 4; ++i) alphabet.insert(alphabet.end(), {U'\'', U' '});  // the most special ones, weighted
  for (char32_t c : {U'\'', U'\u2019', U'0', U'7', U'9', U'\u00bd', U'\u00b2', U'\u216B', U'\t', U'\n', U'\r', U'\v',
                     U'\f', U'\n', U'\r', U'\u0085', U'\u00a0', U'\u1680', U'\u2000', U'\u2005', U'\u200a', U'\u2028',
                     U'\u2029', U'\u202f', U'\u205f', U'\u3000', U'\u180e', U'\u200b', U'\ufeff', U'\u0301', U'\u4f60',
                     U'\u597d', U'\U0001F30D', U'\U0001F600', U'!', U'.', U',', U'(', U')', U'{', U'-', U'+', U'$',
                     U'\u00a9', U'\u2014', U'\u017f', U'\u212a', U'\u00e9', U'\u0416', U'\x1c', U'\x00', U'\x7f',
                     U'\U00010400', U'\U0001D7CE', U'\u0660', U'\u3007'})
    alphabet.push_back(c);
  // Keep only code points on which PCRE2's Unicode 14 tables agree with ours (all of these should).
  Pcre2Classes pcre;
  std::vector<char32_t> usable;
  for (char32_t c : alphabet)
    if (pcre.cls(c) == unicode::char_class(c)) usable.push_back(c);
  ASSERT_EQ(usable.size(), alphabet.size());

  std::mt19937_64 rng(20260704);
  std::uniform_int_distribution<size_t> pick(0, usable.size() - 1);
  std::uniform_int_distribution<int> length(0, 40);
  int failures = 0;
  std::string text;
  for (int i = 0; i < 300000 && failures < 5; ++i) {
    text.clear();
    for (int n = length(rng); n > 0; --n) utf8_append(text, usable[pick(rng)]);
    if (!agrees(text, "random string")) ++failures;
  }
}

// Random code points from the whole range (where both table versions agree), in runs of a class, so
// that every kind of character reaches every branch of the scanner.
TEST_F(FastPretokenizerTest, RandomCodePointsMatchPcre2) {
  Pcre2Classes pcre;
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<uint32_t> any(0, 0x10FFFF);
  std::uniform_int_distribution<int> length(0, 24);
  const std::string specials = "'  \n\r\t sl1.";
  int failures = 0;
  std::string text;
  for (int i = 0; i < 20000 && failures < 5; ++i) {
    text.clear();
    for (int n = length(rng); n > 0; --n) {
      if (rng() % 3 == 0) {
        text += specials[rng() % specials.size()];
        continue;
      }
      char32_t cp = any(rng);
      if (rng() % 2 == 0) cp &= 0xFFFF;  // favour the BMP, where most assigned characters are
      if (is_surrogate(cp) || pcre.cls(cp) != unicode::char_class(cp)) continue;
      utf8_append(text, cp);
    }
    if (!agrees(text, "random code points")) ++failures;
  }
}

TEST_F(FastPretokenizerTest, DataFilesMatchPcre2LineByLineAndWhole) {
  NC_REQUIRE_SHARED(shakespeare, "data/tinyshakespeare/input.txt");
  NC_REQUIRE_SHARED(wikitext, "data/wikitext2-raw/wiki.test.raw");
  NC_REQUIRE_SHARED(gsm8k, "data/gsm8k/test.jsonl");
  for (const auto& path : {shakespeare, wikitext, gsm8k}) {
    const std::string text = read_file(path);
    ASSERT_FALSE(text.empty()) << path;
    EXPECT_TRUE(agrees(text, path.string() + " (whole)"));
    int failures = 0;
    size_t lines = 0;
    for (size_t start = 0; start < text.size() && failures < 5; ++lines) {
      const size_t nl = text.find('\n', start);
      const size_t end = nl == std::string::npos ? text.size() : nl + 1;
      const std::string_view line(text.data() + start, end - start);
      if (!agrees(line, path.string() + " line " + std::to_string(lines + 1))) ++failures;
      if (!agrees(line.substr(0, line.size() - (nl == std::string::npos ? 0 : 1)), "line without newline")) ++failures;
      start = end;
    }
    EXPECT_GT(lines, 1000u) << path;
  }
}

TEST_F(FastPretokenizerTest, AppendsToOutput) {
  std::vector<std::string_view> out{"keep"};
  fast_->split("a b", out);
  EXPECT_EQ(out, (std::vector<std::string_view>{"keep", "a", " b"}));
}

TEST_F(FastPretokenizerTest, RejectsInvalidUtf8AndLeavesOutputUntouched) {
  const std::vector<std::string> bad = {
      "\x80",              // lone continuation byte
      "ab\xFF",            // never valid
      "x\xF5\x80\x80\x80",  // lead byte beyond U+10FFFF
      "\xC0\xAF",          // overlong
      "\xE0\x80\xAF",      // overlong
      "\xED\xA0\x80",      // surrogate
      "\xF4\x90\x80\x80",  // above U+10FFFF
      "ab\xC3",            // truncated inside a letter run
      "\xE4\xBD",          // truncated at the start
      "'\xC5",             // truncated right after an apostrophe (alternative 1 looks at it)
      "'l\xC5",            // ... and at the second letter of a contraction
      "'\xC5\x41",         // bad continuation after an apostrophe
      "  \xE2\x80",        // truncated inside a whitespace run
      "!!\xF0\x9F\x8C",    // truncated inside a run of symbols
      "1\xC2",             // truncated after a digit
      "hello world \xC3\x28 more text",
  };
  for (const auto& text : bad) {
    ASSERT_FALSE(utf8_is_valid(text)) << escaped(text);
    std::vector<std::string_view> out{"keep"};
    EXPECT_THROW(fast_->split(text, out), Error) << escaped(text);
    EXPECT_EQ(out, (std::vector<std::string_view>{"keep"})) << escaped(text);
  }
}

// Random byte damage: the scanner must throw exactly when the text is not valid UTF-8, and otherwise
// agree with PCRE2 (validation is folded into the scan, so every byte must be looked at).
TEST_F(FastPretokenizerTest, ThrowsExactlyOnInvalidUtf8) {
  std::mt19937_64 rng(99);
  const std::vector<std::string> parts = {"a", "s", "'", " ", "\n", "1", "!", "\u00e9", "\u4f60", "\U0001F600",
                                          "\u3000", "\u2019", "\u017f"};
  int invalid = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string text;
    for (int n = static_cast<int>(rng() % 12); n > 0; --n) text += parts[rng() % parts.size()];
    if (!text.empty() && rng() % 2 == 0) {
      const size_t at = rng() % text.size();
      if (rng() % 2 == 0) text[at] = static_cast<char>(rng() % 256);
      else text.erase(at, 1);
    }
    if (utf8_is_valid(text)) {
      if (!agrees(text, "damaged but valid")) return;
    } else {
      ++invalid;
      EXPECT_THROW(fast_->split(text), Error) << escaped(text);
    }
  }
  EXPECT_GT(invalid, 1000);
}
