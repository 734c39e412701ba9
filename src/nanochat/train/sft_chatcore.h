// ChatCORE during chat-sft (spec tokenizer-inference-eval.md §9.1): every --chatcore-every steps and at
// the last step, HEAD's five chat tasks are evaluated on the current weights as run_chat_eval does when
// called from another script (greedy, one sample, 512 new tokens, top-k 50; categorical batches of the
// device batch size), categorical tasks capped at --chatcore-max-cat problems and generative ones at
// --chatcore-max-sample (-1 = all), and the centered means are logged:
//   "  ARC-Easy: 25.00%" ... "Step 00200 | ChatCORE: 0.0123 | ChatCORE_cat: 0.0456".
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "nanochat/engine/decoder.h"
#include "nanochat/eval/tasks/task.h"
#include "nanochat/tokenizer/tokenizer.h"

namespace nanochat::train {

struct ChatCoreSettings {
  std::filesystem::path data_root;  // core-eval/, mmlu/data/test/, gsm8k/test.jsonl, humaneval/HumanEval.jsonl.gz
  std::filesystem::path word_list;  // unused by the five tasks; kept for the task factory
  int64_t max_cat = -1;             // problems per categorical task (-1 = all)
  int64_t max_sample = 24;          // problems per generative task (-1 = all)
  int64_t batch_size = 1;           // problems per forward for the categorical tasks
};

struct ChatCoreRecord {
  int64_t step = 0;
  std::map<std::string, double> accuracy;  // per task evaluated
  double chatcore = 0, chatcore_cat = 0;
  bool partial = false;  // some of the five tasks had no data (--skip-missing-tasks)
};

struct ChatCoreTask {
  std::string name;
  std::shared_ptr<const eval::tasks::Task> task;
};

// The five tasks, loaded once before training so that bad or missing data stops the run before it
// starts, not at its first evaluation. A task that fails to load is an Error naming it and why, unless
// skip_missing (then a warning, and the score is labelled partial).
std::vector<ChatCoreTask> load_chatcore_tasks(const ChatCoreSettings& settings, bool skip_missing);

// Evaluates `tasks` on the decoder's weights and logs the result.
ChatCoreRecord evaluate_chatcore(const engine::Decoder& decoder, const Tokenizer& tokenizer,
                                 const std::vector<ChatCoreTask>& tasks, const ChatCoreSettings& settings, int64_t step);

}  // namespace nanochat::train
