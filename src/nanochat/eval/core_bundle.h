// The CORE eval bundle (spec tokenizer-inference-eval.md §6.1): core.yaml (which tasks, how many
// shots, which prompt type), eval_meta_data.csv (each task's random-guess baseline) and one JSONL file
// per task. Parsing is strict: a malformed entry is an Error naming the file and line, because a
// silently skipped task would change the CORE average.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace nanochat::eval {

enum class CoreTaskType { kMultipleChoice, kSchema, kLanguageModeling };

std::string_view task_type_name(CoreTaskType type);  // the icl_task_type spelling

struct CoreTaskConfig {
  std::string label;
  std::string dataset_uri;  // relative to eval_data/
  int num_fewshot = 0;      // first element of the YAML list
  CoreTaskType type = CoreTaskType::kMultipleChoice;
  std::string continuation_delimiter = " ";
};

// One JSONL record; which fields are filled depends on the task type (values already in Python str form).
struct CoreExample {
  std::string query;                        // MC
  std::vector<std::string> choices;         // MC
  std::vector<std::string> context_options; // schema
  std::string context;                      // LM
  std::string continuation;                 // schema, LM
  int64_t gold = -1;                        // MC, schema
};

struct CoreBundle {
  std::filesystem::path root;
  std::vector<CoreTaskConfig> tasks;                // core.yaml order
  std::map<std::string, double> random_baselines;  // label -> percent

  std::filesystem::path data_path(const CoreTaskConfig& task) const { return root / "eval_data" / task.dataset_uri; }
  double random_baseline(const std::string& label) const;  // Error when the CSV lacks the label
};

// core.yaml's icl_tasks list. `source` names the file in errors. Handles the YAML subset the bundle uses:
// block lists of "key: value" maps ("-" alone or "- key: value"), plain / single- / double-quoted scalars
// with '#' comments, and flow lists "[10]".
std::vector<CoreTaskConfig> parse_core_yaml(std::string_view text, const std::string& source);
// "Eval Task" -> "Random baseline" from eval_meta_data.csv (RFC 4180 quoting).
std::map<std::string, double> parse_eval_meta_csv(std::string_view text, const std::string& source);
// One task file, in file order; each line is stripped, blank lines skipped.
std::vector<CoreExample> parse_task_jsonl(std::string_view text, CoreTaskType type, const std::string& source);

CoreBundle load_core_bundle(const std::filesystem::path& root);
std::vector<CoreExample> load_task_examples(const CoreBundle& bundle, const CoreTaskConfig& task);

}  // namespace nanochat::eval
