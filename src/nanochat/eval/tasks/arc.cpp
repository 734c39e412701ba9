#include "nanochat/eval/tasks/arc.h"

#include <algorithm>

#include "nanochat/core/error.h"
#include "nanochat/core/file_io.h"
#include "nanochat/eval/tasks/mmlu.h"
#include "nanochat/eval/tasks/task_data.h"

namespace nanochat::eval::tasks {

nlohmann::json arc_conversation(const std::string& question, const std::vector<std::string>& labels,
                                const std::vector<std::string>& choices, const std::string& answer_key) {
  NC_CHECK(std::find(labels.begin(), labels.end(), answer_key) != labels.end(),
           "ARC: answer key '{}' is not among the labels", answer_key);
  auto conv = user_assistant(render_mc(question, labels, choices), answer_key);
  conv["letters"] = labels;
  return conv;
}

ARC::ARC(const std::filesystem::path& bundle_dir, const std::string& subset, const std::string& split, TaskView view)
    : Task(view), subset_(subset) {
  NC_CHECK(subset == "ARC-Easy" || subset == "ARC-Challenge", "ARC: subset must be ARC-Easy|ARC-Challenge (got '{}')",
           subset);
  NC_CHECK(split == "test", "ARC: only the test split is available locally (got '{}')", split);
  const auto path = bundle_dir / "eval_data" / "world_knowledge" /
                    (subset == "ARC-Easy" ? "arc_easy.jsonl" : "arc_challenge.jsonl");
  NC_CHECK(std::filesystem::exists(path), "ARC: data file {} not found", path.string());
  const auto records = read_jsonl(path, read_file(path));
  constexpr std::string_view kPrefix = "Question: ";
  for (size_t k = 0; k < records.size(); ++k) {
    const std::string where = fmt::format("{} row {}", path.string(), k);
    std::string query = string_field(records[k], "query", where);
    NC_CHECK(query.starts_with(kPrefix), "{}: query does not start with '{}'", where, kPrefix);
    const auto& choices = records[k].at("choices");
    NC_CHECK(choices.is_array() && !choices.empty() && choices.size() <= 26, "{}: 'choices' must be 1-26 strings",
             where);
    Row row{query.substr(kPrefix.size()), {}, 0};
    for (const auto& c : choices) {
      NC_CHECK(c.is_string(), "{}: non-string choice", where);
      row.choices.push_back(c.get<std::string>());
    }
    const auto gold = records[k].find("gold");
    NC_CHECK(gold != records[k].end() && gold->is_number_integer() && gold->get<int64_t>() >= 0 &&
                 gold->get<size_t>() < row.choices.size(),
             "{}: 'gold' must index the choices", where);
    row.gold = gold->get<size_t>();
    rows_.push_back(std::move(row));
  }
  order_ = shuffled_order(static_cast<int64_t>(rows_.size()));
}

nlohmann::json ARC::get_example(int64_t physical_index) const {
  NC_CHECK(physical_index >= 0 && physical_index < num_examples(), "{}: index {} out of range", subset_,
           physical_index);
  const Row& r = rows_[static_cast<size_t>(order_[static_cast<size_t>(physical_index)])];
  std::vector<std::string> labels;
  for (size_t i = 0; i < r.choices.size(); ++i) labels.emplace_back(1, static_cast<char>('A' + i));
  return arc_conversation(r.question, labels, r.choices, labels[r.gold]);
}

bool ARC::evaluate(const nlohmann::json& conversation, std::string_view completion) const {
  return evaluate_letter(conversation, completion, subset_);
}

}  // namespace nanochat::eval::tasks
