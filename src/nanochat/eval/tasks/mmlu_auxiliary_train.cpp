#include "nanochat/eval/tasks/mmlu_auxiliary_train.h"

#include <algorithm>

#include "nanochat/core/error.h"
#include "nanochat/core/file_io.h"
#include "nanochat/eval/tasks/task_data.h"

namespace nanochat::eval::tasks {

namespace fs = std::filesystem;

MMLUAuxiliaryTrain::MMLUAuxiliaryTrain(const fs::path& folder, TaskView view) : Task(view) {
  NC_CHECK(fs::is_directory(folder), "MMLU auxiliary_train: data folder {} not found", folder.string());
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(folder))
    if (e.path().extension() == ".csv") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  NC_CHECK(!files.empty(), "MMLU auxiliary_train: no *.csv files in {}", folder.string());
  for (const auto& f : files) {
    const auto csv = parse_csv(read_file(f), f.string());
    for (size_t k = 0; k < csv.size(); ++k) {
      const auto& r = csv[k];
      NC_CHECK(r.size() == 6, "MMLU: {} row {} has {} fields, expected 6 (question, A, B, C, D, answer)", f.string(),
               k + 1, r.size());
      NC_CHECK(r[5] == "A" || r[5] == "B" || r[5] == "C" || r[5] == "D", "MMLU: {} row {}: answer '{}' is not A-D",
               f.string(), k + 1, r[5]);
      rows_.push_back({"", r[0], {r[1], r[2], r[3], r[4]}, r[5]});
    }
  }
  order_ = shuffled_order(static_cast<int64_t>(rows_.size()));
}

nlohmann::json MMLUAuxiliaryTrain::get_example(int64_t physical_index) const {
  NC_CHECK(physical_index >= 0 && physical_index < num_examples(), "MMLU auxiliary_train: index {} out of range",
           physical_index);
  const MMLU::Row& r = rows_[static_cast<size_t>(order_[static_cast<size_t>(physical_index)])];
  return mmlu_conversation(r.question, r.choices, r.answer, r.subject);
}

}  // namespace nanochat::eval::tasks
