// CORE evaluation of a base model (spec tokenizer-inference-eval.md §6.3-§6.9): per task, the records
// shuffled with Python's Random(1337) and truncated, few-shot examples drawn with Random(1234 + idx),
// prompts scored by one forward each (MC/schema: lowest mean loss over the answer span; LM: all greedy
// predictions equal the continuation), accuracy centered by the random baseline, CORE = their mean.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "nanochat/core/error.h"
#include "nanochat/eval/core_bundle.h"
#include "nanochat/eval/core_prompts.h"
#include "nanochat/engine/decoder.h"
#include "nanochat/model/gpt.h"
#include "nanochat/tokenizer/tokenizer.h"

namespace nanochat {
class ProcessGroup;
}

namespace nanochat::eval {

// A task this model/pool cannot be evaluated on as configured: fewer records than shots + 1 (Python's
// sample raises), or a prompt longer than the model's rotary table. The original aborts on both;
// CoreEvalOptions::skip_unfit_tasks turns them into a skipped task of a partial CORE instead.
class CoreTaskUnfit : public Error {
 public:
  using Error::Error;
};

// §6.3: Random(1337).shuffle of all records, then the first max_per_task (all when <= 0).
std::vector<CoreExample> prepare_task_examples(std::vector<CoreExample> records, int64_t max_per_task);

// §6.4: indices of the few-shot examples of item idx among n records, in the order Python's
// Random(1234 + idx).sample returns them. Error when fewer than num_fewshot other records exist.
std::vector<size_t> select_fewshot(size_t n, size_t idx, int num_fewshot);

// (accuracy - b) / (1 - b) with b = baseline_percent / 100.
double centered_accuracy(double accuracy, double baseline_percent);

// Scores of one item's sequences, given per position the loss of predicting the next token and
// whether the argmax prediction equals it (positions beyond a row's end are never read).
struct SequenceScores {
  std::vector<double> loss;      // loss[t] = -log p(tokens[t+1] | tokens[..t])
  std::vector<uint8_t> correct;  // argmax(logits[t]) == tokens[t+1]
};
// One forward over an item's sequences (right-padded with BOS): loss and greedy agreement at the
// positions its spans read (start-1 .. end-2); other positions hold NaN / 0.
// The model runs wherever the decoder does (engine/decoder.h: CPU or one GPU); the GPT<float>
// overloads use the CPU decoder.
std::vector<SequenceScores> score_sequences(const engine::Decoder& model, TokenId bos, const ScoredSequences& seqs);
std::vector<SequenceScores> score_sequences(const model::GPT<float>& model, TokenId bos, const ScoredSequences& seqs);

// §6.8 decision: true when the item is answered correctly.
bool item_is_correct(CoreTaskType type, const ScoredSequences& seqs, std::span<const SequenceScores> scores,
                     int64_t gold);

struct CoreTaskResult {
  CoreTaskConfig task;
  bool evaluated = false;  // false when the task's data file is missing or the task was skipped
  std::string skipped_reason;  // set when skipped as unfit
  int64_t num_examples = 0;
  double accuracy = 0, centered = 0, seconds = 0;
};

struct CoreEvalOptions {
  int64_t max_per_task = -1;
  // Forwards take whole items, several at once, as long as rows * longest row stays within this many
  // tokens (one item always fits alone). The original runs one item per forward; right padding with
  // BOS under causal attention leaves the scored positions unchanged.
  int64_t max_batch_tokens = 8192;
  std::optional<int64_t> max_seq_len;  // nanochat's GPT has none (§6.7)
  bool skip_unfit_tasks = false;       // see CoreTaskUnfit
  // Several ranks (§6.9): rank r scores items r, r+W, ... and the correct counts are summed across
  // ranks, so every rank returns the same accuracy as one process would. A task unfit on any rank is
  // unfit on all. Null: this process is the only rank.
  ProcessGroup* group = nullptr;
  // Called after each task (for the per-task console line).
  std::function<void(const CoreTaskResult&)> on_task;
};

struct CoreResult {
  std::vector<CoreTaskResult> tasks;  // core.yaml order, missing ones included (evaluated = false)
  std::vector<std::string> missing;   // labels of tasks whose data file is absent
  std::vector<std::string> skipped;   // labels of tasks skipped as unfit
  double core = 0;                    // mean centered accuracy over the evaluated tasks
  int evaluated = 0;
  bool partial() const { return !missing.empty() || !skipped.empty(); }
};

// Accuracy of one task on the model (examples already prepared).
double evaluate_task(const engine::Decoder& model, const Tokenizer& tokenizer, const CoreTaskConfig& task,
                     std::span<const CoreExample> examples, const CoreEvalOptions& options);
double evaluate_task(const model::GPT<float>& model, const Tokenizer& tokenizer, const CoreTaskConfig& task,
                     std::span<const CoreExample> examples, const CoreEvalOptions& options);

// Every task of the bundle; tasks whose data file is missing are reported, not evaluated (a partial
// CORE: the mean over the evaluated tasks only).
CoreResult evaluate_core(const engine::Decoder& model, const Tokenizer& tokenizer, const CoreBundle& bundle,
                         const CoreEvalOptions& options);
CoreResult evaluate_core(const model::GPT<float>& model, const Tokenizer& tokenizer, const CoreBundle& bundle,
                         const CoreEvalOptions& options);

}  // namespace nanochat::eval
