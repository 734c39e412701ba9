// The chat stages on the CPU, continuing from a checkpoint:
//   run_chat_sft   — HEAD's chat_sft (spec tokenizer-inference-eval.md §9.1): base checkpoint in,
//                    BOS-aligned best-fit packing with assistant-only targets (sft_packing_loader.h),
//                    LR warmup/constant/warmdown over the epoch's progress, optimizer warm-started from
//                    the base run's state, checkpoints to chatsft_checkpoints/<tag>/.
//   run_mid_train  — v0.1.0's mid_train (§9.2): base checkpoint in, a token stream of rendered
//                    conversations trained on every token (mid_token_stream.h), LR 1 until 80% of the
//                    epoch then linear to 0, fresh optimizer, checkpoints to mid_checkpoints/<tag>/.
// Both: val bpb at step 0, every eval_every steps and at the end; Muon momentum 0.85 -> 0.95 over
// 300 steps; the step log line of the original; a non-finite loss stops the run with an Error naming
// the step (the last good checkpoint is untouched).
//
// Ours beyond the original: --save-every and --resume-from-step. A checkpoint then also holds
// chat_state_NNNNNN.json (the loader state before the prefetched batch, progress, loss EMA, clock),
// so a resumed run continues bit for bit as the uninterrupted run would have.
//
// The model is driven only through GPT<float>::forward/backward, Activations and MuonAdamW, as
// base_train does, so a device backend can take the same path.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "nanochat/eval/tasks/task.h"
#include "nanochat/model/gpt.h"
#include "nanochat/train/sft_chatcore.h"
#include "nanochat/train/base_trainer.h"
#include "nanochat/train/chat_mixture.h"

namespace nanochat::train {

// What both stages share beyond the original's flags.
struct ChatStageCommon {
  int64_t resume_from_step = -1;  // resume this stage's own checkpoint at this step (-1 = start from the source)
  int64_t save_every = -1;        // also save every N steps (-1 = only at the end, as the original)
  bool skip_missing_tasks = false;
  ChatDataPaths data;               // task data (chat_mixture.h); unused when datasets are given
  std::string tokenizer_dir;        // "" = $NANOCHAT_BASE_DIR/tokenizer
  std::string source_root;          // "" = $NANOCHAT_BASE_DIR/base_checkpoints (tags under it)
  std::string checkpoint_root;      // "" = $NANOCHAT_BASE_DIR/{chatsft|mid}_checkpoints (tags under it)

  // ---- for tests and embedders ----
  eval::tasks::TaskPtr train_dataset, val_dataset;  // when both are set, used instead of the mixture
  std::function<void(int64_t step, model::GPT<float>& model)> on_step_begin;
};

// chat_sft's flags and defaults (HEAD). Unset optionals inherit from the base checkpoint (§9.1).
struct ChatSftOptions {
  std::string run = "dummy";
  std::string device_type;
  std::optional<std::string> model_tag;
  std::optional<int64_t> model_step;
  int64_t load_optimizer = 1;
  int64_t num_iterations = -1;  // -1 = one full epoch
  std::optional<int64_t> max_seq_len, device_batch_size, total_batch_size;
  std::optional<double> embedding_lr, unembedding_lr, matrix_lr;
  double init_lr_frac = 0.8;
  double warmup_ratio = 0.0;
  double warmdown_ratio = 0.5;
  double final_lr_frac = 0.0;
  int64_t eval_every = 200;
  int64_t eval_tokens = 40 * 524288;
  int64_t chatcore_every = 200;
  int64_t chatcore_max_cat = -1;
  int64_t chatcore_max_sample = 24;
  int64_t mmlu_epochs = 3;
  int64_t gsm8k_epochs = 4;
  ChatStageCommon common;
};

// mid_train's configuration (v0.1.0 names and defaults).
struct MidTrainOptions {
  std::string run = "dummy";
  std::string device_type;
  std::optional<std::string> model_tag;
  std::optional<int64_t> model_step;
  int64_t max_seq_len = 2048;
  int64_t device_batch_size = 32;
  int64_t total_batch_size = 524288;
  double unembedding_lr = 0.004;
  double embedding_lr = 0.2;
  double matrix_lr = 0.02;
  double init_lr_frac = 1.0;
  double weight_decay = 0.0;
  int64_t eval_every = 150;
  int64_t eval_tokens = 20 * 524288;
  int64_t num_iterations = -1;
  int64_t dry_run = 0;  // 1: no checkpoint is written
  ChatStageCommon common;
};

struct ChatTrainResult {
  std::filesystem::path checkpoint_dir;
  int64_t final_step = 0;
  std::vector<StepRecord> steps;  // steps this process ran
  std::vector<EvalRecord> evals;
  std::optional<double> val_bpb;
  double min_val_bpb = 0;
  std::vector<std::string> train_parts, missing_tasks;
  std::vector<ChatCoreRecord> chatcore;  // chat_sft's ChatCORE evaluations (--chatcore-every)
};

nlohmann::ordered_json user_config_json(const ChatSftOptions& o);
nlohmann::ordered_json user_config_json(const MidTrainOptions& o);

ChatTrainResult run_chat_sft(const ChatSftOptions& options);
ChatTrainResult run_mid_train(const MidTrainOptions& options);

// The schedules, as pure functions (spec §9.1 / §9.2).
double sft_lr_multiplier(double progress, double warmup_ratio, double warmdown_ratio, double final_lr_frac);
double mid_lr_multiplier(double progress);
double chat_muon_momentum(int64_t step);  // 0.85 -> 0.95 linearly over the first 300 steps

}  // namespace nanochat::train
