// MMLU (spec §8.3): 4-way multiple choice over 57 subjects, scored on the letter the model picks.
// Local data differs from the original's HF cais/mmlu "all" export (see data/mmlu/SOURCE.md): the
// hendrycks/test CSV files (headerless: question, A, B, C, D, answer letter), one per subject under
// data/<split>/<subject>_<split>.csv. Rows are concatenated in subject-name order (the HF export's
// order) and then shuffled with seed 42; the test split has 14,080 rows here instead of 14,042, so the
// logical order does not match the original row for row.
#pragma once
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "nanochat/eval/csv.h"
#include "nanochat/eval/tasks/task.h"

namespace nanochat::eval::tasks {

using eval::parse_csv;  // eval/csv.h

nlohmann::json mmlu_conversation(const std::string& question, const std::vector<std::string>& choices,
                                 const std::string& answer_letter, const std::string& subject);

class MMLU final : public Task {
 public:
  // data_dir = the folder with dev/, val/, test/; split: test|validation|val|dev.
  MMLU(const std::filesystem::path& data_dir, const std::string& split, TaskView view = {});
  std::string name() const override { return "MMLU"; }
  EvalType eval_type() const override { return EvalType::categorical; }
  int64_t num_examples() const override { return static_cast<int64_t>(order_.size()); }
  nlohmann::json get_example(int64_t physical_index) const override;
  bool evaluate(const nlohmann::json& conversation, std::string_view completion) const override;

  // The row behind physical index i before conversion: {subject, question, A-D, answer}.
  struct Row {
    std::string subject, question;
    std::vector<std::string> choices;
    std::string answer;
  };
  const Row& row(int64_t physical_index) const;

 private:
  std::vector<Row> rows_;
  std::vector<int64_t> order_;
};

// Shared by the multiple-choice tasks: the completion must be one of the conversation's letters
// (Error otherwise); true when it equals the reference assistant content.
bool evaluate_letter(const nlohmann::json& conversation, std::string_view completion, std::string_view task);

}  // namespace nanochat::eval::tasks
