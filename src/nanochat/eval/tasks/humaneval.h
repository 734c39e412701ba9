// HumanEval (spec §8.3): 164 Python function-completion problems, judged by running the model's code
// against the problem's tests in the sandbox (sandbox.h, 5 s / 256 MiB). Local data: the upstream
// HumanEval.jsonl.gz ({task_id, prompt, entry_point, canonical_solution, test}), shuffled with seed 42.
#pragma once
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "nanochat/eval/sandbox.h"
#include "nanochat/eval/tasks/task.h"

namespace nanochat::eval::tasks {

// Leading import/from lines of the prompt (stops at the first other non-blank, non-comment line).
std::string humaneval_imports(std::string_view prompt);
// The first ```python fenced block of a completion, stripped; else the whole completion stripped.
std::string extract_program_code(std::string_view completion);
// imports + "\n\n" + code + "\n\n" + test + "\ncheck(" + entry_point + ")".
std::string humaneval_program(const nlohmann::json& conversation, std::string_view completion);

class HumanEval final : public Task {
 public:
  explicit HumanEval(const std::filesystem::path& jsonl_gz, TaskView view = {}, SandboxLimits limits = {});
  std::string name() const override { return "HumanEval"; }
  EvalType eval_type() const override { return EvalType::generative; }
  int64_t num_examples() const override { return static_cast<int64_t>(order_.size()); }
  nlohmann::json get_example(int64_t physical_index) const override;
  bool evaluate(const nlohmann::json& conversation, std::string_view completion) const override;

  struct Row {
    std::string task_id, prompt, entry_point, canonical_solution, test;
  };
  const Row& row(int64_t physical_index) const;

 private:
  std::vector<Row> rows_;
  std::vector<int64_t> order_;
  SandboxLimits limits_;
};

}  // namespace nanochat::eval::tasks
