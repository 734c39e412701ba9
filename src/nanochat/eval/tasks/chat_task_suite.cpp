#include "nanochat/eval/tasks/chat_task_suite.h"

#include <algorithm>
#include <iterator>

#include "nanochat/core/error.h"
#include "nanochat/eval/tasks/arc.h"
#include "nanochat/eval/tasks/gsm8k.h"
#include "nanochat/eval/tasks/humaneval.h"
#include "nanochat/eval/tasks/mmlu.h"
#include "nanochat/eval/tasks/spelling_bee.h"

namespace nanochat::eval::tasks {

namespace fs = std::filesystem;

namespace {

constexpr ChatTaskSpec kTasks[] = {{"ARC-Easy", 0.25, true},
                                   {"ARC-Challenge", 0.25, true},
                                   {"MMLU", 0.25, true},
                                   {"GSM8K", 0.0, false},
                                   {"HumanEval", 0.0, false}};

}  // namespace

std::span<const ChatTaskSpec> chatcore_tasks() { return kTasks; }

bool is_chat_task(const std::string& name) {
  return name == kSpellingBeeTask ||
         std::any_of(std::begin(kTasks), std::end(kTasks), [&](const ChatTaskSpec& s) { return name == s.name; });
}

std::unique_ptr<Task> make_chat_task(const std::string& name, const fs::path& data_root, const fs::path& word_list) {
  if (name == "ARC-Easy" || name == "ARC-Challenge") return std::make_unique<ARC>(data_root / "core-eval", name, "test");
  if (name == "MMLU") return std::make_unique<MMLU>(data_root / "mmlu" / "data", "test");
  if (name == "GSM8K") return std::make_unique<GSM8K>(data_root / "gsm8k", "test");
  if (name == "HumanEval") return std::make_unique<HumanEval>(data_root / "humaneval" / "HumanEval.jsonl.gz");
  if (name == kSpellingBeeTask)
    return std::make_unique<SpellingBee>(std::make_shared<const std::vector<std::string>>(load_word_list(word_list)),
                                         256, "test");
  fail("unknown chat task '{}'", name);
}

double chatcore_centered_mean(const std::map<std::string, double>& accuracy, std::span<const std::string> names) {
  double sum = 0;
  int64_t n = 0;
  for (const auto& name : names) {
    const auto spec = std::find_if(std::begin(kTasks), std::end(kTasks), [&](const ChatTaskSpec& s) { return name == s.name; });
    if (spec == std::end(kTasks)) continue;
    const auto it = accuracy.find(name);
    NC_CHECK(it != accuracy.end(), "ChatCORE: no accuracy for {}", name);
    sum += (it->second - spec->baseline) / (1.0 - spec->baseline);
    ++n;
  }
  return n > 0 ? sum / static_cast<double>(n) : 0.0;
}

}  // namespace nanochat::eval::tasks
