// SmolTalk (spec §8.3): general multi-turn conversations for mid-training and SFT, training only.
// The original downloads HuggingFaceTB/smol-smoltalk (parquet, one `messages` list<struct> column)
// and shuffles the rows with seed 42. This loader reads local files:
//   - parquet (*.parquet) as HF publishes it: a `messages: list<struct<content, role>>` column
//     (other columns, such as `source`, are ignored);
//   - JSONL, one row per line: {"messages": [{"role", "content"}...]} (the smol-smoltalk row as
//     exported to JSON), or a ShareGPT/FastChat object {"conversations": [{"from", "value"}...]};
//   - a JSON array of such rows (FastChat's dummy_conversation.json);
//   - a directory, resolved in this order (the first that exists wins):
//       <dir>/<split>.jsonl, <dir>/<split>.json,
//       <dir>/data/<split>-*.parquet   (a snapshot of the HF dataset repository),
//       <dir>/<split>-*.parquet, <dir>/<split>/*.parquet;
//     parquet shards are read in file-name order (train-00000-of-00004 first), as HF concatenates them.
// ShareGPT roles map human -> user, gpt -> assistant, system -> system.
// Every row is validated as the original asserts (optional leading system message, then >= 2
// messages alternating user/assistant starting with user, string contents); a parquet row with a
// null list, null message, or null role/content fails the same checks, with an error naming the
// file and the row's index in it. Rows then take the HF .shuffle(seed=42) order.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "nanochat/data/parquet_nested.h"
#include "nanochat/eval/tasks/task.h"

namespace nanochat::eval::tasks {

// A row as {"messages": [...]}: ShareGPT rows are converted. `where` names the row in errors.
nlohmann::json smoltalk_conversation(const nlohmann::json& row, const std::string& where);

// A parquet `messages` value read with fields {"role", "content"} as the JSON row HF's datasets
// yields ({"messages": [...]}, nulls kept), ready for smoltalk_conversation. Throws, naming
// `where`, on strings that are not UTF-8.
nlohmann::json smoltalk_row_from_parquet(const parquet::StructList& messages, const std::string& where);

class SmolTalk final : public Task {
 public:
  // `path`: a file, or a directory as described above (split: train|test).
  SmolTalk(const std::filesystem::path& path, const std::string& split, TaskView view = {});
  std::string name() const override { return "SmolTalk"; }
  int64_t num_examples() const override { return static_cast<int64_t>(order_.size()); }
  nlohmann::json get_example(int64_t physical_index) const override;

  // The files a SmolTalk(path, split) would read, in order; empty when none exists.
  static std::vector<std::filesystem::path> resolve_files(const std::filesystem::path& path, const std::string& split);
  // The first of resolve_files(); empty when none exists.
  static std::filesystem::path resolve(const std::filesystem::path& path, const std::string& split);

 private:
  std::vector<nlohmann::json> rows_;
  std::vector<int64_t> order_;
};

}  // namespace nanochat::eval::tasks
