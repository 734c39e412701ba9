// ARC (spec §8.3) from the local CORE bundle. The original loads HF allenai/ai2_arc (question,
// choices.label, choices.text, answerKey); offline we only have llm-foundry's copies of the test splits
// (eval_data/world_knowledge/arc_easy.jsonl, 2,376 rows; arc_challenge.jsonl, 1,172 rows; lines
// {query: "Question: ...", choices: [...], gold: index}). Differences, on purpose and unavoidable:
// the "Question: " prefix is removed to recover the question; the original labels are lost, so the
// letters are A, B, C, ... by position (upstream a few items use 1-4); row order is the file's,
// shuffled with seed 42, which need not equal the HF export's order; only split "test" exists.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "nanochat/eval/tasks/task.h"

namespace nanochat::eval::tasks {

nlohmann::json arc_conversation(const std::string& question, const std::vector<std::string>& labels,
                                const std::vector<std::string>& choices, const std::string& answer_key);

class ARC final : public Task {
 public:
  // subset: ARC-Easy|ARC-Challenge; bundle_dir: the core-eval folder (with eval_data/).
  ARC(const std::filesystem::path& bundle_dir, const std::string& subset, const std::string& split = "test",
      TaskView view = {});
  std::string name() const override { return subset_; }
  EvalType eval_type() const override { return EvalType::categorical; }
  int64_t num_examples() const override { return static_cast<int64_t>(order_.size()); }
  nlohmann::json get_example(int64_t physical_index) const override;
  bool evaluate(const nlohmann::json& conversation, std::string_view completion) const override;

 private:
  struct Row {
    std::string question;
    std::vector<std::string> choices;
    size_t gold = 0;
  };
  std::string subset_;
  std::vector<Row> rows_;
  std::vector<int64_t> order_;
};

}  // namespace nanochat::eval::tasks
