// The two chat-eval loops (spec §7.2, §7.3), on one rank or several: with a ProcessGroup of W ranks,
// rank r takes categorical batches r, r+W, ... and generative problems r, r+W, ..., and the returned
// tally is summed across ranks (the progress callback sees this rank's own running tally).
// Categorical: batches of consecutive problems, prompts right-padded with BOS, one forward each; the
// prediction is the argmax (first on ties) of the softcapped logits at the <|assistant_start|>
// position, restricted to the problem's letters — only those logits are computed from the final
// hidden state. Generative: engine.generate_batch per problem; a problem passes if any sample does.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "nanochat/engine/decoder.h"
#include "nanochat/engine/engine.h"
#include "nanochat/eval/tasks/task.h"
#include "nanochat/model/gpt.h"
#include "nanochat/tokenizer/tokenizer.h"

namespace nanochat {
class ProcessGroup;
}

namespace nanochat::eval::tasks {

struct ChatEvalTally {
  int64_t passed = 0, total = 0;
  double accuracy() const { return total > 0 ? static_cast<double>(passed) / static_cast<double>(total) : 0.0; }
};

// The letter the model picks for each conversation (each has a "letters" list of one-token strings),
// all in one forward, and how far its logit is above the runner-up's (0 with a single letter): a
// margin near the logits' rounding is a near-tie two implementations may break differently.
struct LetterPick {
  std::string letter;
  float margin = 0;
};
std::vector<LetterPick> pick_letters(const engine::Decoder& model, const Tokenizer& tok,
                                     std::span<const nlohmann::json> conversations);
std::vector<std::string> predict_letters(const engine::Decoder& model, const Tokenizer& tok,
                                         std::span<const nlohmann::json> conversations);

// Called once per judged answer (a predicted letter, or one sample's completion) with its problem index,
// in the order this rank judges them: per-problem records for comparing two evaluators.
// `margin`: the categorical pick's lead over the runner-up (LetterPick), NaN for generative answers.
using ChatEvalRecord = std::function<void(int64_t problem, const std::string& answer, bool correct, float margin)>;

// Problems 0..n-1 of a categorical task, batch_size per forward (group: see above; null = one rank).
ChatEvalTally run_categorical_eval(const engine::Decoder& model, const Tokenizer& tok, const Task& task, int64_t n,
                                   int64_t batch_size, ProcessGroup* group = nullptr,
                                   const ChatEvalRecord& record = {});

// Called after each generative problem with the running tally.
using ChatEvalProgress = std::function<void(const ChatEvalTally&)>;

// Problems 0..n-1 of a generative task; completions = decode(tokens after the prompt).
ChatEvalTally run_generative_eval(const engine::Engine& eng, const Task& task, int64_t n,
                                  const engine::GenerateOptions& options, const ChatEvalProgress& progress = {},
                                  ProcessGroup* group = nullptr, const ChatEvalRecord& record = {});

}  // namespace nanochat::eval::tasks
