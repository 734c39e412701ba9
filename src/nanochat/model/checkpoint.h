// Model checkpoints in the original's layout (spec model-and-training.md §8.6, serving-report-
// pipelines.md §8.2-8.3): a checkpoint directory ($NANOCHAT_BASE_DIR/base_checkpoints/<tag>/) holds
// per step
//   model_NNNNNN.safetensors  the weights under the original's state_dict names (rank 0)
//   meta_NNNNNN.json          step, val_bpb, model_config, user_config, ... (rank 0)
//   optim_NNNNNN_rankR.safetensors  the optimizer state of rank R (optim/muon_adamw.h)
// The original writes .pt (pickle) files; we write safetensors with the same tensor names. Every
// file is written to a temporary name and renamed. Discovery keys on the model file, so writers put
// it last (optim/training_checkpoint.h): a crash mid-save leaves the previous step the latest.
#pragma once
#include <cstdint>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>

#include "nanochat/model/config.h"
#include "nanochat/model/gpt.h"

namespace nanochat::model {

// ---- file names ----
std::filesystem::path model_file(const std::filesystem::path& dir, int64_t step);   // model_000123.safetensors
std::filesystem::path meta_file(const std::filesystem::path& dir, int64_t step);    // meta_000123.json
std::filesystem::path optim_file(const std::filesystem::path& dir, int64_t step, int rank);  // optim_000123_rank0.safetensors

// ---- meta_NNNNNN.json ----
// The loader position yielded with the prefetched batch (the original's dataloader_state_dict;
// mirrors data/document_stream.h LoaderState).
// Where the data loader's tokenizer frontier is, as the original saves it.
struct LoaderPosition {
  int64_t pq_idx = 0;
  int64_t rg_idx = 0;
  int64_t epoch = 1;
};

// Ours, beside the original's fields (which it keeps): how to rebuild the loader exactly. The original
// resumes approximately (the next round of row groups, an empty packing buffer); with a replay record a
// resumed run reopens the loader where the interrupted run opened it and re-draws `batches` batches, so
// it trains on exactly the data an uninterrupted run would have. Stored under "nanochat_cpp_replay".
struct LoaderReplay {
  std::optional<LoaderPosition> start;  // none: the loader started at the beginning of the data
  int64_t batches = 0;                  // batches drawn from it, the one about to be trained on included
};

struct DataloaderPosition {
  int64_t pq_idx = 0;
  int64_t rg_idx = 0;
  int64_t epoch = 1;
  std::optional<LoaderReplay> replay;
};

struct LoopState {
  double min_val_bpb = std::numeric_limits<double>::infinity();  // written as Infinity, like Python
  double smooth_train_loss = 0;
  double total_training_time = 0;
};

// The fields only base_train writes (SFT/RL metas have just step, val_bpb, model_config, user_config).
struct TrainingProgress {
  int64_t device_batch_size = 0;
  int64_t max_seq_len = 0;
  int64_t total_batch_size = 0;  // the computed one, not the -1 of auto
  DataloaderPosition dataloader;
  LoopState loop;
};

struct CheckpointMeta {
  int64_t step = 0;
  std::optional<double> val_bpb;  // null before the first evaluation
  GPTConfig model_config;
  nlohmann::ordered_json user_config = nlohmann::ordered_json::object();  // every CLI flag, underscores
  std::optional<TrainingProgress> training;

  // JSON as the original writes it: keys in its order, indent 2, non-finite numbers as Infinity/NaN.
  std::string to_json() const;
  // Accepts the original's files (Infinity/NaN tokens; a model_config without window_pattern means
  // "L", as the original patches old checkpoints). `where` names the source in errors.
  static CheckpointMeta from_json(const std::string& text, const std::string& where = "meta");
};

void save_meta(const std::filesystem::path& path, const CheckpointMeta& meta);  // atomic
CheckpointMeta load_meta(const std::filesystem::path& path);

// ---- model_NNNNNN.safetensors ----
struct WeightsOptions {
  // Store wte and value_embeds as bf16, as the original's CUDA checkpoints do (lossy for fp32 weights).
  bool bf16_embeddings = false;
};
// Every parameter under its state_dict name; __metadata__ {"format": "pt", "model_config": ...}.
void save_weights(const std::filesystem::path& path, const GPT<float>& model, const WeightsOptions& options = {});
// Loads every parameter of `model` (strict: missing or unexpected tensors, wrong shapes and non-float
// dtypes are errors naming the tensor). As the original's loader: a "_orig_mod." prefix is stripped,
// bf16/f16 tensors are widened, and old checkpoints without resid_lambdas/x0_lambdas get 1 and 0.
void load_weights(const std::filesystem::path& path, GPT<float>& model);

// ---- discovery ----
// "base" -> base_checkpoints, "sft" -> chatsft_checkpoints, "rl" -> chatrl_checkpoints under
// base_dir(); any other source is an error.
std::filesystem::path checkpoints_dir(const std::string& source);
// The model tag to use when none is given: the largest N among subdirectories whose name starts
// with d<N> (ties: the smaller name), else the most recently modified subdirectory.
std::string find_largest_model(const std::filesystem::path& checkpoints_dir);
// The largest N among files named exactly model_<N>.safetensors.
int64_t find_last_step(const std::filesystem::path& checkpoint_dir);

// A checkpoint to load, as the original's load_model finds it: under a source's checkpoints
// directory `root`, the model tag (default find_largest_model) and the step (default
// find_last_step), whose weights must exist; plus its meta. `hint` completes the "no checkpoints in
// <root>" error (e.g. "train a base model first: nanochat base-train").
struct CheckpointSource {
  std::filesystem::path dir;
  std::string tag;
  int64_t step = 0;
  CheckpointMeta meta;
};
CheckpointSource locate_checkpoint(const std::filesystem::path& root, const std::optional<std::string>& tag,
                                   const std::optional<int64_t>& step, const std::string& hint);

}  // namespace nanochat::model
