#include "nanochat/eval/tasks/mmlu.h"

#include <algorithm>

#include "nanochat/core/error.h"
#include "nanochat/core/file_io.h"
#include "nanochat/eval/tasks/task_data.h"

namespace nanochat::eval::tasks {

namespace fs = std::filesystem;

nlohmann::json mmlu_conversation(const std::string& question, const std::vector<std::string>& choices,
                                 const std::string& answer_letter, const std::string& subject) {
  static const std::vector<std::string> kLetters = {"A", "B", "C", "D"};
  NC_CHECK(choices.size() == 4, "MMLU: expected 4 choices, got {}", choices.size());
  auto conv = user_assistant(render_mc(question, kLetters, choices), answer_letter);
  conv["subject"] = subject;
  conv["letters"] = kLetters;
  return conv;
}

MMLU::MMLU(const fs::path& data_dir, const std::string& split, TaskView view) : Task(view) {
  std::string dir = split;
  if (split == "validation") dir = "val";
  NC_CHECK(dir == "test" || dir == "val" || dir == "dev", "MMLU: split must be test|validation|dev (got '{}')", split);
  const fs::path folder = data_dir / dir;
  NC_CHECK(fs::is_directory(folder), "MMLU: data folder {} not found", folder.string());
  const std::string suffix = "_" + dir + ".csv";
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(folder)) {
    const std::string fname = e.path().filename().string();
    if (fname.size() > suffix.size() && fname.ends_with(suffix)) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  NC_CHECK(!files.empty(), "MMLU: no *{} files in {}", suffix, folder.string());
  for (const auto& f : files) {
    const std::string fname = f.filename().string();
    const std::string subject = fname.substr(0, fname.size() - suffix.size());
    const auto csv = parse_csv(read_file(f), f.string());
    for (size_t k = 0; k < csv.size(); ++k) {
      const auto& r = csv[k];
      NC_CHECK(r.size() == 6, "MMLU: {} row {} has {} fields, expected 6 (question, A, B, C, D, answer)", f.string(),
               k + 1, r.size());
      NC_CHECK(r[5] == "A" || r[5] == "B" || r[5] == "C" || r[5] == "D", "MMLU: {} row {}: answer '{}' is not A-D",
               f.string(), k + 1, r[5]);
      rows_.push_back({subject, r[0], {r[1], r[2], r[3], r[4]}, r[5]});
    }
  }
  order_ = shuffled_order(static_cast<int64_t>(rows_.size()));
}

const MMLU::Row& MMLU::row(int64_t physical_index) const {
  NC_CHECK(physical_index >= 0 && physical_index < num_examples(), "MMLU: index {} out of range", physical_index);
  return rows_[static_cast<size_t>(order_[static_cast<size_t>(physical_index)])];
}

nlohmann::json MMLU::get_example(int64_t physical_index) const {
  const Row& r = row(physical_index);
  return mmlu_conversation(r.question, r.choices, r.answer, r.subject);
}

bool MMLU::evaluate(const nlohmann::json& conversation, std::string_view completion) const {
  return evaluate_letter(conversation, completion, "MMLU");
}

bool evaluate_letter(const nlohmann::json& conversation, std::string_view completion, std::string_view task) {
  const auto& letters = conversation.at("letters");
  const bool known = std::any_of(letters.begin(), letters.end(),
                                 [&](const nlohmann::json& l) { return l.get<std::string>() == completion; });
  NC_CHECK(known, "{}: answer '{}' is not one of the letters {}", task, completion, letters.dump());
  return conversation.at("messages").back().at("content").get<std::string>() == completion;
}

}  // namespace nanochat::eval::tasks
