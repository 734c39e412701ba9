// Pretraining (the original's scripts/base_train.py, spec model-and-training.md §8) on the CPU or one GPU
// (train/training_backend.h):
// setup in the original's order (tokenizer, model, optional resume, scaling-law plan, optimizer,
// loaders, schedules), then the loop of N_it + 1 passes: evaluate val bpb / sample / save when due,
// then one optimizer step of grad_accum_steps micro-steps. A non-finite loss (or weight: the weights
// are checked after every step) stops the run with an Error naming the step; the last good
// checkpoint is left untouched.
//
// Resume (--resume-from-step S) restores exactly the weights, the optimizer state (moments, step
// counters and the saved hyperparameters), step, val_bpb and the loop state (min_val_bpb, the loss
// EMA, the training time). The data position is restored as the original does it: approximately,
// from the next round of row groups after the saved loader state (data/document_stream.h), so a
// resumed run sees different batches than an uninterrupted one would have. `reopen_loader_at_step`
// makes an uninterrupted run take that same data path, which is how tests check the rest is exact.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "nanochat/model/gpt.h"
#include "nanochat/train/training_plan.h"

namespace nanochat::train {

// base_train's flags, with its defaults (spec §8.1), plus ours at the end.
struct BaseTrainOptions {
  std::string run = "dummy";
  std::string device_type;  // "" = autodetect (cuda when built in and a GPU is usable, else cpu)
  bool fp8 = false;
  std::string fp8_recipe = "tensorwise";
  int64_t depth = 20;
  int64_t aspect_ratio = 64;
  int64_t head_dim = 128;
  int64_t max_seq_len = 2048;
  std::string window_pattern = "SSSL";
  int64_t num_iterations = -1;
  double target_flops = -1;
  double target_param_data_ratio = 12;
  int64_t device_batch_size = 32;
  int64_t total_batch_size = -1;
  double embedding_lr = 0.3;
  double unembedding_lr = 0.008;
  double weight_decay = 0.28;
  double matrix_lr = 0.02;
  double scalar_lr = 0.5;
  int64_t warmup_steps = 40;
  double warmdown_ratio = 0.65;
  double final_lr_frac = 0.05;
  int64_t resume_from_step = -1;
  int64_t eval_every = 250;
  int64_t eval_tokens = 80 * 524288;
  int64_t core_metric_every = 2000;
  int64_t core_metric_max_per_task = 500;
  int64_t sample_every = 2000;
  int64_t save_every = -1;
  std::optional<std::string> model_tag;  // default d<depth>

  // ---- ours ----
  std::string data_dir;          // "" = default_data_dir(); train = all shards but the last, val = the last
  std::string tokenizer_dir;     // "" = $NANOCHAT_BASE_DIR/tokenizer
  std::string checkpoint_root;   // "" = $NANOCHAT_BASE_DIR/base_checkpoints (the tag directory goes under it)
  int loader_threads = 4;        // tokenizer threads of each data loader

  // ---- hooks for tests ----
  int64_t reopen_loader_at_step = -1;  // rebuild the train loader from its state at this step, as a resume does
  std::function<void(int64_t step, model::GPT<float>& model)> on_step_begin;  // before each training step
};

// user_config of the checkpoint meta: every option above except the hooks, underscores, in order.
nlohmann::ordered_json user_config_json(const BaseTrainOptions& o);

struct StepRecord {
  int64_t step = 0;
  double train_loss = 0;     // the last micro-step's loss
  double smooth_loss = 0;    // debiased EMA, as logged
  double lrm = 0;
  double dt_seconds = 0;
  int64_t tokens_per_second = 0;
};

struct EvalRecord {
  int64_t step = 0;
  double val_bpb = 0;
};

struct BaseTrainResult {
  TrainingPlan plan;
  std::filesystem::path checkpoint_dir;
  std::vector<StepRecord> steps;  // the steps this process ran (after the resume step, when resuming)
  std::vector<EvalRecord> evals;
  std::vector<std::string> last_samples;
  std::optional<double> val_bpb;  // latest
  double min_val_bpb = 0;
  double total_training_time = 0;
};

BaseTrainResult run_base_train(const BaseTrainOptions& options);

}  // namespace nanochat::train
