// Evaluation/training tasks (spec tokenizer-inference-eval.md §8.2): a task is an indexable list of
// conversations (chat_format.h JSON) with a logical view start/stop/step over its examples, an
// evaluation type for chat eval, and an evaluate(conversation, completion) verdict.
// TaskMixture interleaves several tasks in the original's deterministic order (CPython
// Random(42).shuffle of the (task, index) list); TaskSequence concatenates them.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace nanochat::eval::tasks {

// none: training-only data (no verdict), e.g. mixtures.
enum class EvalType { none, categorical, generative };
std::string_view eval_type_name(EvalType t);

// The logical view of the original's Task(start, stop, step).
struct TaskView {
  int64_t start = 0;
  std::optional<int64_t> stop;  // none: the number of examples (not clamped when given)
  int64_t step = 1;
};

class Task {
 public:
  explicit Task(TaskView view = {});
  virtual ~Task() = default;
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;

  virtual std::string name() const = 0;
  virtual EvalType eval_type() const { return EvalType::none; }
  // Physical examples before the view is applied.
  virtual int64_t num_examples() const = 0;
  virtual nlohmann::json get_example(int64_t physical_index) const = 0;
  // True when `completion` answers `conversation` (an example of this task) correctly. Tasks without
  // an evaluation throw Error.
  virtual bool evaluate(const nlohmann::json& conversation, std::string_view completion) const;

  // ceil((stop' - start) / step) as the original's __len__.
  int64_t size() const;
  // task[i] = get_example(start + i * step); i must lie in [0, size()).
  nlohmann::json at(int64_t i) const;

 private:
  TaskView view_;
};

using TaskPtr = std::shared_ptr<const Task>;

// All examples of the given tasks in one deterministic shuffled order (seed 42); the same task listed
// twice is sampled twice.
class TaskMixture final : public Task {
 public:
  explicit TaskMixture(std::vector<TaskPtr> tasks, TaskView view = {});
  std::string name() const override { return "TaskMixture"; }
  int64_t num_examples() const override { return static_cast<int64_t>(index_map_.size()); }
  nlohmann::json get_example(int64_t physical_index) const override;
  // (task position, index within that task) behind mixture example i.
  std::pair<size_t, int64_t> source_of(int64_t physical_index) const;

 private:
  std::vector<TaskPtr> tasks_;
  std::vector<std::pair<size_t, int64_t>> index_map_;
};

// The given tasks one after another, no shuffle.
class TaskSequence final : public Task {
 public:
  explicit TaskSequence(std::vector<TaskPtr> tasks, TaskView view = {});
  std::string name() const override { return "TaskSequence"; }
  int64_t num_examples() const override { return total_; }
  nlohmann::json get_example(int64_t physical_index) const override;

 private:
  std::vector<TaskPtr> tasks_;
  std::vector<int64_t> offsets_;  // offsets_[k] = examples before task k
  int64_t total_ = 0;
};

}  // namespace nanochat::eval::tasks
