// The chat evaluation's task list (spec tokenizer-inference-eval.md §7.1), shared by `nanochat chat-eval`
// and ChatCORE during chat-sft: HEAD's five tasks with their random-guess baselines, v0.1.0's SpellingBee
// on request, where each reads its local data, and the ChatCORE means.
#pragma once
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>

#include "nanochat/eval/tasks/task.h"

namespace nanochat::eval::tasks {

struct ChatTaskSpec {
  const char* name;
  double baseline;  // accuracy of random guessing
  bool categorical;
};

// HEAD's ChatCORE tasks in the original's order: ARC-Easy, ARC-Challenge, MMLU, GSM8K, HumanEval.
std::span<const ChatTaskSpec> chatcore_tasks();
// v0.1.0's extra generative task; never part of the default list or of ChatCORE.
inline constexpr const char* kSpellingBeeTask = "SpellingBee";
bool is_chat_task(const std::string& name);  // one of the five, or SpellingBee

// Local data (the original downloads from HF): core-eval/ (ARC), mmlu/data/test/, gsm8k/test.jsonl,
// humaneval/HumanEval.jsonl.gz under data_root; SpellingBee reads the word list. Missing or bad data
// is an Error from the task's loader, naming the file.
std::unique_ptr<Task> make_chat_task(const std::string& name, const std::filesystem::path& data_root,
                                     const std::filesystem::path& word_list);

// ChatCORE: the mean over `names` of (accuracy - baseline) / (1 - baseline); names not among the five are
// ignored. `accuracy` must hold every name.
double chatcore_centered_mean(const std::map<std::string, double>& accuracy, std::span<const std::string> names);

}  // namespace nanochat::eval::tasks
