#include "nanochat/eval/tasks/gsm8k.h"

#include "nanochat/core/error.h"
#include "nanochat/core/file_io.h"
#include "nanochat/eval/tasks/task_data.h"

namespace nanochat::eval::tasks {

namespace {

bool is_answer_char(char c) { return (c >= '0' && c <= '9') || c == '.' || c == ','; }

nlohmann::json part(const char* type, std::string text) { return {{"type", type}, {"text", std::move(text)}}; }

}  // namespace

std::optional<std::string> extract_gsm8k_answer(std::string_view text) {
  for (size_t at = text.find("#### "); at != std::string_view::npos; at = text.find("#### ", at + 1)) {
    size_t i = at + 5;
    const size_t begin = i;
    if (i < text.size() && text[i] == '-') ++i;
    const size_t digits = i;
    while (i < text.size() && is_answer_char(text[i])) ++i;
    // "-?" backtracking cannot help: without the '-' the class would have to match '-' itself.
    if (i == digits) continue;
    std::string num = python_strip(text.substr(begin, i - begin));
    std::erase(num, ',');
    return num;
  }
  return std::nullopt;
}

nlohmann::json gsm8k_assistant_parts(std::string_view answer) {
  nlohmann::json parts = nlohmann::json::array();
  size_t text_begin = 0, i = 0;
  while ((i = answer.find("<<", i)) != std::string_view::npos) {
    // <<[^>]+>>: the run of non-'>' characters must be non-empty and followed by ">>".
    size_t j = i + 2;
    while (j < answer.size() && answer[j] != '>') ++j;
    if (j == i + 2 || j + 1 >= answer.size() || answer[j + 1] != '>') {
      ++i;
      continue;
    }
    parts.push_back(part("text", std::string(answer.substr(text_begin, i - text_begin))));
    const std::string_view inner = answer.substr(i + 2, j - i - 2);
    const size_t eq = inner.rfind('=');
    if (eq == std::string_view::npos) {
      parts.push_back(part("python", std::string(inner)));
      parts.push_back(part("python_output", ""));
    } else {
      parts.push_back(part("python", std::string(inner.substr(0, eq))));
      parts.push_back(part("python_output", std::string(inner.substr(eq + 1))));
    }
    i = j + 2;
    text_begin = i;
  }
  parts.push_back(part("text", std::string(answer.substr(text_begin))));
  return parts;
}

nlohmann::json gsm8k_conversation(const std::string& question, std::string_view answer) {
  return user_assistant(question, gsm8k_assistant_parts(answer));
}

GSM8K::GSM8K(const std::filesystem::path& data_dir, const std::string& split, TaskView view) : Task(view) {
  NC_CHECK(split == "train" || split == "test", "GSM8K: split must be train|test (got '{}')", split);
  const auto path = data_dir / (split + ".jsonl");
  NC_CHECK(std::filesystem::exists(path), "GSM8K: data file {} not found", path.string());
  const auto records = read_jsonl(path, read_file(path));
  for (size_t k = 0; k < records.size(); ++k) {
    const std::string where = fmt::format("{} row {}", path.string(), k);
    rows_.push_back({string_field(records[k], "question", where), string_field(records[k], "answer", where)});
  }
  order_ = shuffled_order(static_cast<int64_t>(rows_.size()));
}

nlohmann::json GSM8K::get_example(int64_t physical_index) const {
  NC_CHECK(physical_index >= 0 && physical_index < num_examples(), "GSM8K: index {} out of range", physical_index);
  const Row& r = rows_[static_cast<size_t>(order_[static_cast<size_t>(physical_index)])];
  return gsm8k_conversation(r.question, r.answer);
}

bool GSM8K::evaluate(const nlohmann::json& conversation, std::string_view completion) const {
  const auto& messages = conversation.at("messages");
  const auto& reference = messages.back();
  NC_CHECK(reference.at("role") == "assistant", "GSM8K: the last message must be the assistant's reference");
  const auto& content = reference.at("content");
  NC_CHECK(content.is_array() && !content.empty(), "GSM8K: the reference must be a list of parts");
  const auto ref = extract_gsm8k_answer(content.back().at("text").get<std::string>());
  const auto pred = extract_gsm8k_answer(completion);
  return ref == pred;
}

}  // namespace nanochat::eval::tasks
