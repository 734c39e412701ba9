#include "nanochat/eval/tasks/task_data.h"

#include "nanochat/core/error.h"
#include "nanochat/eval/python_random.h"

namespace nanochat::eval::tasks {

std::vector<int64_t> shuffled_order(int64_t n, uint64_t seed) { return NumpyPcg64(seed).permutation(n); }

namespace {

// Length of the Python-whitespace code point at s[i], or 0.
size_t space_len(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f)) return 1;
  auto at = [&](size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u; };
  if (c == 0xc2 && (at(1) == 0x85 || at(1) == 0xa0)) return 2;
  if (c == 0xe1 && at(1) == 0x9a && at(2) == 0x80) return 3;  // U+1680
  if (c == 0xe2 && at(1) == 0x80 && ((at(2) >= 0x80 && at(2) <= 0x8a) || at(2) == 0xa8 || at(2) == 0xa9 || at(2) == 0xaf))
    return 3;                                                   // U+2000-200A, 2028, 2029, 202F
  if (c == 0xe2 && at(1) == 0x81 && at(2) == 0x9f) return 3;  // U+205F
  if (c == 0xe3 && at(1) == 0x80 && at(2) == 0x80) return 3;  // U+3000
  return 0;
}

}  // namespace

std::string py_strip(std::string_view s) {
  size_t b = 0;
  while (b < s.size()) {
    const size_t n = space_len(s, b);
    if (n == 0) break;
    b += n;
  }
  // Scan forward to find where the trailing whitespace run starts (UTF-8 cannot be read backwards
  // reliably with this table).
  size_t end = b, i = b;
  while (i < s.size()) {
    const size_t n = space_len(s, i);
    if (n == 0) {
      ++i;
      end = i;
    } else {
      i += n;
    }
  }
  return std::string(s.substr(b, end - b));
}

std::vector<nlohmann::json> read_jsonl(const std::filesystem::path& path, std::string_view text) {
  std::vector<nlohmann::json> rows;
  size_t pos = 0, line_no = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    const std::string line = py_strip(text.substr(pos, nl - pos));
    ++line_no;
    pos = nl + 1;
    if (line.empty()) continue;
    try {
      rows.push_back(nlohmann::json::parse(line));
    } catch (const nlohmann::json::exception& e) {
      fail("{}:{}: invalid JSON: {}", path.string(), line_no, e.what());
    }
  }
  return rows;
}

std::string render_mc(std::string_view question, const std::vector<std::string>& letters,
                      const std::vector<std::string>& choices) {
  NC_CHECK(letters.size() == choices.size(), "render_mc: {} letters for {} choices", letters.size(), choices.size());
  std::string out = "Multiple Choice question: ";
  out += question;
  out += "\n";
  for (size_t i = 0; i < letters.size(); ++i) out += "- " + choices[i] + "=" + letters[i] + "\n";
  out += "\nRespond only with the letter of the correct answer.";
  return out;
}

nlohmann::json user_assistant(std::string user, nlohmann::json assistant) {
  nlohmann::json messages = nlohmann::json::array();
  messages.push_back({{"role", "user"}, {"content", std::move(user)}});
  messages.push_back({{"role", "assistant"}, {"content", std::move(assistant)}});
  return nlohmann::json{{"messages", std::move(messages)}};
}

std::string string_field(const nlohmann::json& record, const char* field, std::string_view where) {
  NC_CHECK(record.is_object(), "{}: expected a JSON object", where);
  const auto it = record.find(field);
  NC_CHECK(it != record.end() && it->is_string(), "{}: missing string field '{}'", where, field);
  return it->get<std::string>();
}

}  // namespace nanochat::eval::tasks
