// SmolTalk (spec §8.3): general multi-turn conversations for mid-training and SFT, training only.
// The original downloads HuggingFaceTB/smol-smoltalk (parquet, one `messages` list<struct> column)
// and shuffles the rows with seed 42. This loader reads local files:
//   - JSONL, one row per line: {"messages": [{"role", "content"}...]} (the smol-smoltalk row as
//     exported to JSON), or a ShareGPT/FastChat object {"conversations": [{"from", "value"}...]};
//   - a JSON array of such rows (FastChat's dummy_conversation.json);
//   - a directory: <dir>/<split>.jsonl, else <dir>/<split>.json.
// ShareGPT roles map human -> user, gpt -> assistant, system -> system. Parquet shards of the
// original's cache are not readable here yet (nested columns): export them to JSONL.
// Every row is validated as the original asserts (optional leading system message, then >= 2
// messages alternating user/assistant starting with user, string contents); rows then take the
// HF .shuffle(seed=42) order.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "nanochat/eval/tasks/task.h"

namespace nanochat::eval::tasks {

// A row as {"messages": [...]}: ShareGPT rows are converted. `where` names the row in errors.
nlohmann::json smoltalk_conversation(const nlohmann::json& row, const std::string& where);

class SmolTalk final : public Task {
 public:
  // `path`: a file, or a directory holding <split>.jsonl / <split>.json (split: train|test).
  SmolTalk(const std::filesystem::path& path, const std::string& split, TaskView view = {});
  std::string name() const override { return "SmolTalk"; }
  int64_t num_examples() const override { return static_cast<int64_t>(order_.size()); }
  nlohmann::json get_example(int64_t physical_index) const override;

  // The file a SmolTalk(path, split) would read; empty when none exists.
  static std::filesystem::path resolve(const std::filesystem::path& path, const std::string& split);

 private:
  std::vector<nlohmann::json> rows_;
  std::vector<int64_t> order_;
};

}  // namespace nanochat::eval::tasks
