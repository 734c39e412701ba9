#include "nanochat/eval/tasks/task.h"

#include <algorithm>

#include "nanochat/core/error.h"
#include "nanochat/eval/python_random.h"

namespace nanochat::eval::tasks {

std::string_view eval_type_name(EvalType t) {
  switch (t) {
    case EvalType::categorical: return "categorical";
    case EvalType::generative: return "generative";
    case EvalType::none: break;
  }
  return "none";
}

Task::Task(TaskView view) : view_(view) {
  NC_CHECK(view_.start >= 0, "Task: start must be >= 0 (got {})", view_.start);
  NC_CHECK(!view_.stop || *view_.stop >= view_.start, "Task: stop {} must be >= start {}", view_.stop.value_or(0),
           view_.start);
  NC_CHECK(view_.step >= 1, "Task: step must be >= 1 (got {})", view_.step);
}

bool Task::evaluate(const nlohmann::json&, std::string_view) const {
  fail("task {} has no evaluation", name());
}

int64_t Task::size() const {
  const int64_t stop = view_.stop ? *view_.stop : num_examples();
  const int64_t span = stop - view_.start;
  // The original asserts a non-negative length; a start past a shorter dataset trips it.
  NC_CHECK(span >= 0, "task {}: start {} lies beyond its {} examples", name(), view_.start, stop);
  return (span + view_.step - 1) / view_.step;
}

nlohmann::json Task::at(int64_t i) const {
  NC_CHECK(i >= 0 && i < size(), "task {}: index {} out of range (size {})", name(), i, size());
  return get_example(view_.start + i * view_.step);
}

TaskMixture::TaskMixture(std::vector<TaskPtr> tasks, TaskView view) : Task(view), tasks_(std::move(tasks)) {
  for (size_t t = 0; t < tasks_.size(); ++t) {
    NC_CHECK(tasks_[t] != nullptr, "TaskMixture: task {} is null", t);
    const int64_t n = tasks_[t]->size();
    for (int64_t l = 0; l < n; ++l) index_map_.emplace_back(t, l);
  }
  PythonRandom rng(42);
  rng.shuffle(index_map_);
}

std::pair<size_t, int64_t> TaskMixture::source_of(int64_t physical_index) const {
  NC_CHECK(physical_index >= 0 && physical_index < num_examples(), "TaskMixture: index {} out of range (size {})",
           physical_index, num_examples());
  return index_map_[static_cast<size_t>(physical_index)];
}

nlohmann::json TaskMixture::get_example(int64_t physical_index) const {
  const auto [t, l] = source_of(physical_index);
  return tasks_[t]->at(l);
}

TaskSequence::TaskSequence(std::vector<TaskPtr> tasks, TaskView view) : Task(view), tasks_(std::move(tasks)) {
  for (size_t t = 0; t < tasks_.size(); ++t) {
    NC_CHECK(tasks_[t] != nullptr, "TaskSequence: task {} is null", t);
    offsets_.push_back(total_);
    total_ += tasks_[t]->size();
  }
}

nlohmann::json TaskSequence::get_example(int64_t physical_index) const {
  NC_CHECK(physical_index >= 0 && physical_index < total_, "TaskSequence: index {} out of range (size {})",
           physical_index, total_);
  const auto it = std::upper_bound(offsets_.begin(), offsets_.end(), physical_index);
  const auto t = static_cast<size_t>(it - offsets_.begin() - 1);
  // Empty tasks share an offset with their successor; upper_bound skips past them.
  return tasks_[t]->at(physical_index - offsets_[t]);
}

}  // namespace nanochat::eval::tasks
