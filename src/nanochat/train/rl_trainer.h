// chat_rl (spec tokenizer-inference-eval.md §10): on-policy REINFORCE with a group-mean baseline on
// GSM8K, continuing from an SFT checkpoint. Every step takes examples_per_step train problems in order
// (cycling), samples num_samples completions of each (device_batch_size per generate_batch call, seed
// hash((step, example_idx, sampling_step)) & 0x7FFFFFFF, the calculator tool on), rewards each 0/1 by
// GSM8K's answer check, and accumulates the token-normalized policy gradient of every pass
// (rl_loss.h); the update uses a fresh MuonAdamW at init_lr_frac of the given LRs, decayed linearly to
// 1/num_steps. pass@1..device_batch_size on the first eval_examples test problems at every
// eval_every-th step (step 0 first); checkpoints to chatrl_checkpoints/<tag>/ at every save_every-th
// step and at the last step.
//
// Ours beyond the original: every checkpoint also holds the optimizer state and rl_state_NNNNNN.json,
// so --resume-from-step continues bit for bit as the uninterrupted run; --max-steps stops early
// (schedule unchanged, the last step run is saved); a non-finite loss or parameter stops the run with
// an Error naming the step.
//
// The training side runs on a TrainingBackend (CPU or CUDA); generation goes through PolicySampler
// (policy_sampler.h), today the engine on the host copy of the model.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "nanochat/eval/tasks/task.h"
#include "nanochat/model/gpt.h"
#include "nanochat/train/policy_sampler.h"
#include "nanochat/train/rl_rollouts.h"

namespace nanochat::train {

struct ChatRlOptions {
  // The original's flags and defaults.
  std::string run = "dummy";
  std::string device_type;  // "" = autodetect
  std::optional<std::string> model_tag;
  std::optional<int64_t> model_step;
  int64_t num_epochs = 1;
  int64_t device_batch_size = 8;
  int64_t examples_per_step = 16;
  int64_t num_samples = 16;
  int64_t max_new_tokens = 256;
  double temperature = 1.0;
  int64_t top_k = 50;
  double embedding_lr = 0.2;
  double unembedding_lr = 0.004;
  double matrix_lr = 0.02;
  double weight_decay = 0.0;
  double init_lr_frac = 0.05;
  int64_t eval_every = 60;  // <= 0: never (the original divides by it)
  int64_t eval_examples = 400;
  int64_t save_every = 60;  // <= 0: only the last step

  // Ours.
  int64_t resume_from_step = -1;  // continue from this step's chatrl checkpoint (-1 = start from the SFT one)
  int64_t max_steps = -1;         // stop after this many steps of the schedule (-1 = num_steps)
  std::string data_root;          // "" = $NANOCHAT_BASE_DIR/task_data (gsm8k/{train,test}.jsonl)
  std::string tokenizer_dir;      // "" = $NANOCHAT_BASE_DIR/tokenizer
  std::string source_root;        // "" = $NANOCHAT_BASE_DIR/chatsft_checkpoints
  std::string checkpoint_root;    // "" = $NANOCHAT_BASE_DIR/chatrl_checkpoints

  // ---- for tests and embedders ----
  eval::tasks::TaskPtr train_task, val_task;  // when both are set, used instead of GSM8K
  std::function<void(int64_t step, model::GPT<float>& model)> on_step_begin;
  // Replaces the sampler; default make_policy_sampler (the backend's device).
  std::function<std::unique_ptr<PolicySampler>(TrainingBackend&, const Tokenizer&)> make_sampler;
};

struct RlStepRecord {
  int64_t step = 0;
  double mean_reward = 0;           // mean of the examples' mean rewards
  double mean_sequence_length = 0;  // prompt + completion, over all samples
  double loss = 0;                  // sum of the passes' losses
  double lrm = 0;
  int64_t forwards = 0;  // forward_backward calls
  double seconds = 0;
};

struct RlEvalRecord {
  int64_t step = 0;
  int64_t records = 0;
  std::vector<double> pass_at_k;  // k = 1..device_batch_size
};

struct ChatRlResult {
  std::filesystem::path checkpoint_dir;
  int64_t num_steps = 0;   // of the schedule
  int64_t final_step = 0;  // one past the last step run
  int64_t train_width = 0;  // T of the training batches: longest prompt + max_new_tokens - 1
  std::vector<RlStepRecord> steps;
  std::vector<RlEvalRecord> evals;
  std::vector<int64_t> saved_steps;
};

nlohmann::ordered_json user_config_json(const ChatRlOptions& o);

ChatRlResult run_chat_rl(const ChatRlOptions& options);

// lrm = 1 - step / num_steps.
double rl_lr_multiplier(int64_t step, int64_t num_steps);

// One example's group: num_samples / device_batch_size generate_batch calls of device_batch_size rows
// with the rollout seeds of (step, example_idx, s), rewards float(task.evaluate(conversation,
// decode(completion))), group-mean advantages.
RolloutGroup collect_rollouts(PolicySampler& sampler, const Tokenizer& tok, const eval::tasks::Task& task,
                              int64_t example_idx, int64_t step, const ChatRlOptions& options);

// pass@1..num_samples over test problems 0..min(max_examples, size)-1, num_samples per problem at
// temperature 1, top_k 50, 256 new tokens, seed 42 (the original's run_gsm8k_eval call).
RlEvalRecord evaluate_pass_at_k(PolicySampler& sampler, const Tokenizer& tok, const eval::tasks::Task& task,
                                int64_t max_examples, int64_t num_samples);

}  // namespace nanochat::train
