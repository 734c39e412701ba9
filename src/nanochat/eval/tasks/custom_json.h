// CustomJSON (spec §8.5, v0.1.0): conversations from a local JSONL file, one JSON array of messages
// per non-blank line ({role, content: string}, alternating user/assistant starting with user, at least
// two). A missing file is not an error: it warns (with the original's download hint) and the task is
// empty. Training data only: no evaluation, no shuffle.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "nanochat/eval/tasks/task.h"

namespace nanochat::eval::tasks {

class CustomJSON final : public Task {
 public:
  explicit CustomJSON(const std::filesystem::path& filepath, TaskView view = {});
  std::string name() const override { return "CustomJSON"; }
  int64_t num_examples() const override { return static_cast<int64_t>(conversations_.size()); }
  nlohmann::json get_example(int64_t physical_index) const override;

 private:
  std::vector<nlohmann::json> conversations_;
};

}  // namespace nanochat::eval::tasks
