#include "nanochat/eval/tasks/smoltalk.h"

#include "nanochat/core/error.h"
#include "nanochat/core/file_io.h"
#include "nanochat/eval/tasks/task_data.h"

namespace nanochat::eval::tasks {

namespace fs = std::filesystem;

namespace {

std::string sharegpt_role(const std::string& from, const std::string& where) {
  if (from == "human" || from == "user") return "user";
  if (from == "gpt" || from == "assistant") return "assistant";
  if (from == "system") return "system";
  fail("{}: unknown ShareGPT speaker '{}' (expected human, gpt or system)", where, from);
}

// The original's assertions on a SmolTalk row.
void validate_messages(const nlohmann::json& messages, const std::string& where) {
  NC_CHECK(messages.is_array() && !messages.empty(), "{}: SmolTalk messages must be a non-empty list", where);
  size_t first = 0;
  if (messages[0].is_object() && messages[0].value("role", "") == "system") first = 1;
  NC_CHECK(messages.size() - first >= 2, "{}: SmolTalk messages need at least 2 messages after the system prompt",
           where);
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string what = fmt::format("{} message {}", where, i);
    const std::string role = string_field(messages[i], "role", what);
    string_field(messages[i], "content", what);
    if (i < first) continue;
    const char* want = (i - first) % 2 == 0 ? "user" : "assistant";
    NC_CHECK(role == want, "{}: role {} but should be {}", what, role, want);
  }
}

}  // namespace

nlohmann::json smoltalk_conversation(const nlohmann::json& row, const std::string& where) {
  NC_CHECK(row.is_object(), "{}: expected a JSON object", where);
  nlohmann::json messages;
  if (row.contains("messages")) {
    messages = row.at("messages");
  } else if (row.contains("conversations")) {
    const auto& turns = row.at("conversations");
    NC_CHECK(turns.is_array(), "{}: 'conversations' must be a list", where);
    messages = nlohmann::json::array();
    for (size_t i = 0; i < turns.size(); ++i) {
      const std::string what = fmt::format("{} turn {}", where, i);
      messages.push_back({{"role", sharegpt_role(string_field(turns[i], "from", what), what)},
                          {"content", string_field(turns[i], "value", what)}});
    }
  } else {
    fail("{}: neither 'messages' (SmolTalk) nor 'conversations' (ShareGPT) present", where);
  }
  validate_messages(messages, where);
  return nlohmann::json{{"messages", messages}};
}

fs::path SmolTalk::resolve(const fs::path& path, const std::string& split) {
  if (fs::is_regular_file(path)) return path;
  for (const char* ext : {".jsonl", ".json"}) {
    const fs::path p = path / (split + ext);
    if (fs::is_regular_file(p)) return p;
  }
  return {};
}

SmolTalk::SmolTalk(const fs::path& path, const std::string& split, TaskView view) : Task(view) {
  NC_CHECK(split == "train" || split == "test", "SmolTalk split must be train|test (got '{}')", split);
  const fs::path file = resolve(path, split);
  if (file.empty()) {
    if (fs::is_directory(path / split))
      fail("SmolTalk: {} holds the original's parquet cache, which this build cannot read yet (nested 'messages' "
           "column); export it to {}.jsonl with one {{\"messages\": [...]}} object per line",
           (path / split).string(), (path / split).string());
    fail("SmolTalk: no {}.jsonl or {}.json in {}", split, split, path.string());
  }
  const std::string text = read_file(file);
  size_t first = text.find_first_not_of(" \t\r\n");
  std::vector<nlohmann::json> raw;
  if (first != std::string::npos && text[first] == '[') {
    nlohmann::json all;
    try {
      all = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      fail("{}: invalid JSON: {}", file.string(), e.what());
    }
    for (auto& r : all) raw.push_back(std::move(r));
  } else {
    raw = read_jsonl(file, text);
  }
  rows_.reserve(raw.size());
  for (size_t k = 0; k < raw.size(); ++k)
    rows_.push_back(smoltalk_conversation(raw[k], fmt::format("{} row {}", file.string(), k)));
  order_ = shuffled_order(static_cast<int64_t>(rows_.size()));
}

nlohmann::json SmolTalk::get_example(int64_t physical_index) const {
  NC_CHECK(physical_index >= 0 && physical_index < num_examples(), "SmolTalk: index {} out of range",
           physical_index);
  return rows_[static_cast<size_t>(order_[static_cast<size_t>(physical_index)])];
}

}  // namespace nanochat::eval::tasks
