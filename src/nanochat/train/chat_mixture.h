// The task mixtures of the chat stages (spec tokenizer-inference-eval.md §9.1 and §9.2), built from
// local data. Every task whose data is missing is reported by name; the caller decides whether
// that is an error (the default) or the task is skipped (--skip-missing-tasks).
//
// Layout under data_root (default $NANOCHAT_BASE_DIR/task_data):
//   smoltalk/                                SmolTalk: {train,test}.jsonl|.json, or HF's parquet shards
//                                            (data/{split}-*.parquet, ...; eval/tasks/smoltalk.h)
//   mmlu/data/test/*_test.csv                MMLU test (hendrycks CSVs)
//   mmlu/data/auxiliary_train/*.csv          MMLU auxiliary_train (hendrycks CSVs)
//   gsm8k/{train,test}.jsonl                 GSM8K
// plus the identity conversations (CustomJSON) and the word list (SpellingBee/SimpleSpelling).
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "nanochat/eval/tasks/task.h"

namespace nanochat::train {

struct ChatDataPaths {
  std::filesystem::path data_root;
  std::filesystem::path identity_conversations;  // JSONL in CustomJSON's format
  std::filesystem::path word_list;
  // Defaults: $NANOCHAT_BASE_DIR/task_data, $NANOCHAT_BASE_DIR/identity_conversations.jsonl,
  // /usr/share/dict/american-english; empty fields of `given` are filled in.
  static ChatDataPaths with_defaults(ChatDataPaths given);
};

struct ChatMixtures {
  eval::tasks::TaskPtr train, val;
  std::vector<std::string> train_parts, val_parts;  // names of the tasks in, in list order (with copies)
  std::vector<std::string> missing;                 // "Name (path)" of every task left out
};

// HEAD chat_sft: train SmolTalk(train), MMLU(auxiliary_train) x mmlu_epochs, GSM8K(train) x gsm8k_epochs;
// val SmolTalk(test), MMLU(test, stop=5200), GSM8K(test, stop=420).
ChatMixtures sft_mixtures(const ChatDataPaths& paths, int64_t mmlu_epochs, int64_t gsm8k_epochs,
                          bool skip_missing);
// v0.1.0 mid_train: train SmolTalk(train), MMLU(auxiliary_train), GSM8K(train), CustomJSON(identity) x 2,
// SimpleSpelling(200000, train), SpellingBee(80000, train); val as SFT's.
ChatMixtures mid_mixtures(const ChatDataPaths& paths, bool skip_missing);

}  // namespace nanochat::train
