#include "nanochat/eval/tasks/smoltalk.h"

#include <algorithm>
#include <string_view>
#include <system_error>

#include "nanochat/core/error.h"
#include "nanochat/core/file_io.h"
#include "nanochat/core/utf8.h"
#include "nanochat/data/document_stream.h"
#include "nanochat/data/parquet_reader.h"
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

// JSON strings must be UTF-8 (nlohmann::json would throw its own exception when dumping one).
nlohmann::json optional_string(const std::optional<std::string>& v, const char* field, size_t message,
                               const std::string& where) {
  if (!v) return nullptr;
  NC_CHECK(utf8_is_valid(*v), "{} message {}: {} is not valid UTF-8", where, message, field);
  return *v;
}

// Conversations of a smol-smoltalk parquet file; rows are numbered from 0 across its row groups.
std::vector<nlohmann::json> read_parquet_conversations(const fs::path& file) {
  static constexpr std::string_view kFields[] = {"role", "content"};
  const parquet::ParquetFile pf(file);
  std::vector<nlohmann::json> out;
  int64_t row = 0;
  for (int rg = 0; rg < pf.num_row_groups(); ++rg) {
    for (const auto& messages : pf.read_list_of_struct_column(rg, "messages", kFields)) {
      const std::string where = fmt::format("{} row {}", file.string(), row++);
      out.push_back(smoltalk_conversation(smoltalk_row_from_parquet(messages, where), where));
    }
  }
  return out;
}

// Conversations of a JSONL file or a JSON array file.
std::vector<nlohmann::json> read_json_conversations(const fs::path& file) {
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
  std::vector<nlohmann::json> out;
  out.reserve(raw.size());
  for (size_t k = 0; k < raw.size(); ++k)
    out.push_back(smoltalk_conversation(raw[k], fmt::format("{} row {}", file.string(), k)));
  return out;
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

std::vector<fs::path> SmolTalk::resolve_files(const fs::path& path, const std::string& split) {
  if (fs::is_regular_file(path)) return {path};
  for (const char* ext : {".jsonl", ".json"}) {
    const fs::path p = path / (split + ext);
    if (fs::is_regular_file(p)) return {p};
  }
  for (const auto& [dir, prefix] : {std::pair{path / "data", split + "-"}, std::pair{path, split + "-"},
                                    std::pair{path / split, std::string()}}) {
    auto shards = find_parquet_files(dir, prefix);
    if (!shards.empty()) return shards;
  }
  return {};
}

// Nulls stay null, so that validation reports them as it reports a JSON row holding nulls.
nlohmann::json smoltalk_row_from_parquet(const parquet::StructList& messages, const std::string& where) {
  if (!messages) return nlohmann::json{{"messages", nullptr}};
  nlohmann::json list = nlohmann::json::array();
  for (size_t i = 0; i < messages->size(); ++i) {
    const auto& m = (*messages)[i];
    if (!m) {
      list.push_back(nullptr);
      continue;
    }
    NC_CHECK(m->size() == 2, "{} message {}: expected the fields role and content, got {} fields", where, i,
             m->size());
    list.push_back({{"role", optional_string((*m)[0], "role", i, where)},
                    {"content", optional_string((*m)[1], "content", i, where)}});
  }
  return nlohmann::json{{"messages", std::move(list)}};
}

fs::path SmolTalk::resolve(const fs::path& path, const std::string& split) {
  const auto files = resolve_files(path, split);
  return files.empty() ? fs::path() : files.front();
}

SmolTalk::SmolTalk(const fs::path& path, const std::string& split, TaskView view) : Task(view) {
  NC_CHECK(split == "train" || split == "test", "SmolTalk split must be train|test (got '{}')", split);
  const std::vector<fs::path> files = resolve_files(path, split);
  if (files.empty()) {
    fail("SmolTalk: no {0}.jsonl, {0}.json or parquet shards (data/{0}-*.parquet, {0}-*.parquet, {0}/*.parquet) in {1}",
         split, path.string());
  }
  for (const fs::path& file : files) {
    auto rows = file.extension() == ".parquet" ? read_parquet_conversations(file) : read_json_conversations(file);
    if (rows_.empty()) {
      rows_ = std::move(rows);
    } else {
      rows_.insert(rows_.end(), std::make_move_iterator(rows.begin()), std::make_move_iterator(rows.end()));
    }
  }
  order_ = shuffled_order(static_cast<int64_t>(rows_.size()));
}

nlohmann::json SmolTalk::get_example(int64_t physical_index) const {
  NC_CHECK(physical_index >= 0 && physical_index < num_examples(), "SmolTalk: index {} out of range",
           physical_index);
  return rows_[static_cast<size_t>(order_[static_cast<size_t>(physical_index)])];
}

}  // namespace nanochat::eval::tasks
