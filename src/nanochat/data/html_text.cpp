#include "nanochat/data/html_text.h"

#include <cctype>
#include <cstdint>
#include <cstdlib>

#include "nanochat/core/utf8.h"

namespace nanochat {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool is_block(const std::string& tag) {
  static constexpr std::string_view kBlocks[] = {"p",  "div", "br", "li",  "ul", "ol",    "h1",      "h2",    "h3",
                                                 "h4", "h5",  "h6", "tr",  "table", "pre", "blockquote", "dt", "dd",
                                                 "dl", "section", "article", "hr", "title", "td", "th"};
  for (auto b : kBlocks)
    if (tag == b) return true;
  return false;
}

// Appends the character a reference like "&amp;" / "&#39;" / "&#x2019;" stands for; returns its length
// in the input, or 0 when it is not a reference we know (then '&' is kept literally).
size_t decode_reference(std::string_view s, std::string& out) {
  const size_t semi = s.find(';');
  if (semi == std::string_view::npos || semi > 10) return 0;
  const std::string_view name = s.substr(1, semi - 1);
  char32_t cp = 0;
  if (!name.empty() && name[0] == '#') {
    const bool hex = name.size() > 1 && (name[1] == 'x' || name[1] == 'X');
    const std::string digits(name.substr(hex ? 2 : 1));
    if (digits.empty()) return 0;
    char* end = nullptr;
    const unsigned long v = std::strtoul(digits.c_str(), &end, hex ? 16 : 10);
    if (*end != '\0' || v == 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    cp = static_cast<char32_t>(v);
  } else {
    static const std::pair<std::string_view, char32_t> kNamed[] = {
        {"amp", '&'},     {"lt", '<'},      {"gt", '>'},      {"quot", '"'},    {"apos", '\''},  {"nbsp", 0xA0},
        {"copy", 0xA9},   {"reg", 0xAE},    {"mdash", 0x2014}, {"ndash", 0x2013}, {"hellip", 0x2026},
        {"lsquo", 0x2018}, {"rsquo", 0x2019}, {"ldquo", 0x201C}, {"rdquo", 0x201D}, {"times", 0xD7},
        {"laquo", 0xAB},  {"raquo", 0xBB},  {"para", 0xB6},   {"sect", 0xA7},   {"deg", 0xB0},   {"trade", 0x2122}};
    for (const auto& [n, c] : kNamed)
      if (name == n) cp = c;
    if (cp == 0) return 0;
  }
  utf8_append(out, cp);
  return semi + 1;
}

}  // namespace

std::string html_to_text(std::string_view html) {
  std::string raw;  // text with '\n\n' at block boundaries, whitespace not yet collapsed
  raw.reserve(html.size() / 2);
  bool in_pre = false;
  size_t i = 0;
  while (i < html.size()) {
    const char c = html[i];
    if (c == '<') {
      if (html.compare(i, 4, "<!--") == 0) {
        const size_t end = html.find("-->", i + 4);
        i = end == std::string_view::npos ? html.size() : end + 3;
        continue;
      }
      const size_t end = html.find('>', i + 1);
      if (end == std::string_view::npos) break;
      std::string_view inner = html.substr(i + 1, end - i - 1);
      const bool closing = !inner.empty() && inner[0] == '/';
      if (closing) inner.remove_prefix(1);
      size_t n = 0;
      while (n < inner.size() && (std::isalnum(static_cast<unsigned char>(inner[n])) != 0)) ++n;
      const std::string tag = lower(inner.substr(0, n));
      i = end + 1;
      if (!closing && (tag == "script" || tag == "style" || tag == "head")) {
        const size_t close = lower(html.substr(i)).find("</" + tag);
        i = close == std::string::npos ? html.size() : i + close;
        continue;
      }
      if (tag == "pre") in_pre = !closing;
      if (is_block(tag)) raw += "\n\n";
      continue;
    }
    if (c == '&') {
      const size_t used = decode_reference(html.substr(i), raw);
      if (used > 0) {
        i += used;
        continue;
      }
    }
    if (in_pre && c == '\n') {
      raw += '\x01';  // a line break inside <pre> survives whitespace collapsing
    } else {
      raw += c;
    }
    ++i;
  }
  // Collapse whitespace: runs with two or more newlines become a paragraph break, others one space.
  std::string out;
  out.reserve(raw.size());
  size_t j = 0;
  while (j < raw.size()) {
    const char c = raw[j];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      int newlines = 0;
      while (j < raw.size() && (raw[j] == ' ' || raw[j] == '\t' || raw[j] == '\n' || raw[j] == '\r')) {
        newlines += raw[j] == '\n';
        ++j;
      }
      if (!out.empty() && j < raw.size()) out += newlines >= 2 ? "\n\n" : " ";
      continue;
    }
    out += c == '\x01' ? '\n' : c;
    ++j;
  }
  return out;
}

}  // namespace nanochat
