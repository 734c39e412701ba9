#include "nanochat/eval/tasks/task_data.h"

#include "nanochat/core/error.h"
#include "nanochat/eval/python_random.h"

namespace nanochat::eval::tasks {

std::vector<int64_t> shuffled_order(int64_t n, uint64_t seed) { return NumpyPcg64(seed).permutation(n); }

std::vector<nlohmann::json> read_jsonl(const std::filesystem::path& path, std::string_view text) {
  std::vector<nlohmann::json> rows;
  size_t pos = 0, line_no = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    const std::string line = python_strip(text.substr(pos, nl - pos));
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
