#include <gtest/gtest.h>

#include "nanochat/core/utf8.h"

using namespace nanochat;

namespace {
int count_replacements(const std::string& s) {
  int n = 0;
  for (size_t i = 0; (i = s.find("\xEF\xBF\xBD", i)) != std::string::npos; i += 3) ++n;
  return n;
}
}  // namespace

TEST(Utf8, SanitizeMatchesCPythonMaximalSubparts) {
  EXPECT_EQ(utf8_sanitize("\xE4\xBD"), "\xEF\xBF\xBD");
  EXPECT_EQ(count_replacements(utf8_sanitize("\xFF\xFE")), 2);
  EXPECT_EQ(count_replacements(utf8_sanitize("\xED\xA0\x80")), 3);  // surrogate encoding
  EXPECT_EQ(utf8_sanitize("\xF0\x9F\x8C\x41"), "\xEF\xBF\xBD" "A");
  EXPECT_EQ(count_replacements(utf8_sanitize("\xC0\xAF")), 2);  // overlong
  EXPECT_EQ(count_replacements(utf8_sanitize("\xF4\x90\x80\x80")), 4);  // > U+10FFFF
  EXPECT_EQ(utf8_sanitize("plain ascii"), "plain ascii");
  EXPECT_EQ(utf8_sanitize("你好 🌍"), "你好 🌍");
}

TEST(Utf8, Validity) {
  EXPECT_TRUE(utf8_is_valid(""));
  EXPECT_TRUE(utf8_is_valid("héllo wörld, 你好, 🌍 and a long ascii run to cover the 8-byte path"));
  EXPECT_FALSE(utf8_is_valid("abcdefghijkl\x80"));
  EXPECT_FALSE(utf8_is_valid("\xE2\x82"));
}

TEST(Utf8, RoundTripEveryScalarValue) {
  for (char32_t c = 0; c < 0x110000; c += (c < 0x800 ? 1 : 97)) {
    if (c >= 0xD800 && c <= 0xDFFF) continue;
    std::string s;
    utf8_append(s, c);
    const Utf8Step st = utf8_next(s, 0);
    ASSERT_TRUE(st.valid) << static_cast<uint32_t>(c);
    ASSERT_EQ(static_cast<uint32_t>(st.code_point), static_cast<uint32_t>(c));
    ASSERT_EQ(st.length, s.size());
  }
}

TEST(Utf8, CodePointCountsAndPrefixes) {
  const std::string s = "a你b🌍";
  EXPECT_EQ(utf8_count_code_points(s), 4u);
  EXPECT_EQ(utf8_prefix_bytes(s, 0), 0u);
  EXPECT_EQ(utf8_prefix_bytes(s, 2), 4u);
  EXPECT_EQ(utf8_prefix_bytes(s, 4), s.size());
  EXPECT_EQ(utf8_prefix_bytes(s, 100), s.size());
}
