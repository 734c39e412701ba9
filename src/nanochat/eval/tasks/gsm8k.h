// GSM8K (spec §8.3): grade-school math word problems; the reference answer's calculator annotations
// <<expr=result>> become python / python_output assistant parts, and a completion is right when the
// number after its first "#### " equals the reference's. Local data: the upstream JSONL files
// ({question, answer} per line, same rows and order as HF openai/gsm8k "main"), shuffled with seed 42.
#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nanochat/eval/tasks/task.h"

namespace nanochat::eval::tasks {

// re.search(r"#### (\-?[0-9\.\,]+)") group 1, stripped, commas deleted; none without a match.
std::optional<std::string> extract_gsm8k_answer(std::string_view text);

// The assistant parts of a GSM8K answer (re.split on (<<[^>]+>>), annotations split at the last '=').
nlohmann::json gsm8k_assistant_parts(std::string_view answer);
nlohmann::json gsm8k_conversation(const std::string& question, std::string_view answer);

class GSM8K final : public Task {
 public:
  // `data_dir` holds <split>.jsonl (split: train|test).
  GSM8K(const std::filesystem::path& data_dir, const std::string& split, TaskView view = {});
  std::string name() const override { return "GSM8K"; }
  EvalType eval_type() const override { return EvalType::generative; }
  int64_t num_examples() const override { return static_cast<int64_t>(order_.size()); }
  nlohmann::json get_example(int64_t physical_index) const override;
  bool evaluate(const nlohmann::json& conversation, std::string_view completion) const override;

 private:
  struct Row {
    std::string question, answer;
  };
  std::vector<Row> rows_;
  std::vector<int64_t> order_;
};

}  // namespace nanochat::eval::tasks
