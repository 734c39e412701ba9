#include "nanochat/eval/tasks/custom_json.h"

#include "nanochat/core/error.h"
#include "nanochat/core/file_io.h"
#include "nanochat/core/log.h"
#include "nanochat/eval/tasks/task_data.h"

namespace nanochat::eval::tasks {

CustomJSON::CustomJSON(const std::filesystem::path& filepath, TaskView view) : Task(view) {
  if (!std::filesystem::exists(filepath)) {
    log_warn(
        "CustomJSON: file {} does not exist; the task is empty.\n"
        "  For the identity conversations, download them with:\n"
        "  curl -L -o {} https://karpathy-public.s3.us-west-2.amazonaws.com/identity_conversations.jsonl",
        filepath.string(), filepath.string());
    return;
  }
  const auto lines = read_jsonl(filepath, read_file(filepath));
  for (size_t k = 0; k < lines.size(); ++k) {
    const auto& messages = lines[k];
    const std::string where = fmt::format("{} conversation {}", filepath.string(), k);
    NC_CHECK(messages.is_array(), "{}: expected a JSON array of messages", where);
    NC_CHECK(messages.size() >= 2, "{}: needs at least 2 messages, has {}", where, messages.size());
    for (size_t i = 0; i < messages.size(); ++i) {
      const char* want = i % 2 == 0 ? "user" : "assistant";
      const std::string role = string_field(messages[i], "role", fmt::format("{} message {}", where, i));
      NC_CHECK(role == want, "{}: message {} has role {} but should be {}", where, i, role, want);
      string_field(messages[i], "content", fmt::format("{} message {}", where, i));
    }
    conversations_.push_back(nlohmann::json{{"messages", messages}});
  }
}

nlohmann::json CustomJSON::get_example(int64_t physical_index) const {
  NC_CHECK(physical_index >= 0 && physical_index < num_examples(), "CustomJSON: index {} out of range",
           physical_index);
  return conversations_[static_cast<size_t>(physical_index)];
}

}  // namespace nanochat::eval::tasks
