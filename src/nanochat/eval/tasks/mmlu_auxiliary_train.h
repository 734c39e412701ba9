// MMLU auxiliary_train (spec §8.3): ~100K multiple-choice questions drawn from ARC, MC_TEST, OBQA and
// RACE, used by the chat stages to teach the multiple-choice format. Local data: the hendrycks/test
// release's data/auxiliary_train/*.csv (headerless: question, A, B, C, D, answer letter), files in
// name order, then shuffled with seed 42 like every HF split. Its subject is empty, as in HF's export.
// Row order is not verified against HF cais/mmlu's auxiliary_train export.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "nanochat/eval/tasks/mmlu.h"

namespace nanochat::eval::tasks {

class MMLUAuxiliaryTrain final : public Task {
 public:
  explicit MMLUAuxiliaryTrain(const std::filesystem::path& folder, TaskView view = {});
  std::string name() const override { return "MMLU"; }
  int64_t num_examples() const override { return static_cast<int64_t>(order_.size()); }
  nlohmann::json get_example(int64_t physical_index) const override;

 private:
  std::vector<MMLU::Row> rows_;
  std::vector<int64_t> order_;
};

}  // namespace nanochat::eval::tasks
