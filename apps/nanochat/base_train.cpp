// nanochat base-train: pretrain the GPT (scripts/base_train.py). Same flags and defaults as the
// original (spec serving-report-pipelines.md §5.3); this build trains on the CPU. Checkpoints go to
// $NANOCHAT_BASE_DIR/base_checkpoints/<model-tag>/.
#include "commands.h"
#include "nanochat/core/cli.h"
#include "nanochat/core/log.h"
#include "nanochat/train/base_trainer.h"

namespace nanochat::app {

int base_train(const Args& args) {
  train::BaseTrainOptions o;
  std::optional<std::string> model_tag;
  ArgParser p("nanochat base-train", "Pretrain base model");
  p.add("--run", &o.run, "wandb run name ('dummy' disables wandb logging; nanochat.cpp has no wandb)")
      .add("--device-type", &o.device_type, "cuda|cpu|mps (empty = autodetect: cuda when a GPU is usable)")
      .add_switch("--fp8", &o.fp8, "enable FP8 training (requires the CUDA backend and an H100+ GPU)")
      .add("--fp8-recipe", &o.fp8_recipe, "FP8 scaling recipe: tensorwise or rowwise", {"rowwise", "tensorwise"})
      .add("--depth", &o.depth, "depth of the Transformer model")
      .add("--aspect-ratio", &o.aspect_ratio, "model_dim = depth * aspect_ratio")
      .add("--head-dim", &o.head_dim, "target head dimension for attention")
      .add("--max-seq-len", &o.max_seq_len, "max context length")
      .add("--window-pattern", &o.window_pattern,
           "sliding window pattern tiled across layers: L=full, S=short (a quarter of the context, rounded up to 128)")
      .add("--num-iterations", &o.num_iterations, "explicit number of optimization steps (-1 = disable)")
      .add("--target-flops", &o.target_flops, "calculate num_iterations to reach target_flops (-1 = disable)")
      .add("--target-param-data-ratio", &o.target_param_data_ratio,
           "calculate num_iterations to maintain data:param ratio (Chinchilla=20, -1 = disable)")
      .add("--device-batch-size", &o.device_batch_size, "per-device batch size (rows of max-seq-len tokens)")
      .add("--total-batch-size", &o.total_batch_size, "total batch size in tokens (-1 = auto-compute optimal)")
      .add("--embedding-lr", &o.embedding_lr, "learning rate for embedding parameters (Adam)")
      .add("--unembedding-lr", &o.unembedding_lr, "learning rate for unembedding parameters (Adam)")
      .add("--weight-decay", &o.weight_decay, "cautious weight decay for the Muon optimizer (for weights)")
      .add("--matrix-lr", &o.matrix_lr, "learning rate for matrix parameters (Muon)")
      .add("--scalar-lr", &o.scalar_lr, "learning rate for scalars (resid_lambdas, x0_lambdas)")
      .add("--warmup-steps", &o.warmup_steps, "number of steps for LR warmup")
      .add("--warmdown-ratio", &o.warmdown_ratio, "ratio of iterations for LR warmdown")
      .add("--final-lr-frac", &o.final_lr_frac, "final LR as fraction of initial LR")
      .add("--resume-from-step", &o.resume_from_step, "resume training from this step (-1 = disable)")
      .add("--eval-every", &o.eval_every, "evaluate val bpb every N steps (-1 = disable)")
      .add("--eval-tokens", &o.eval_tokens, "number of tokens to evaluate val loss on")
      .add("--core-metric-every", &o.core_metric_every, "evaluate CORE metric every N steps (-1 = disable; not yet available)")
      .add("--core-metric-max-per-task", &o.core_metric_max_per_task, "examples per task for CORE metric")
      .add("--sample-every", &o.sample_every, "sample from model every N steps (-1 = disable)")
      .add("--save-every", &o.save_every, "save checkpoints every N steps (-1 = only at end)")
      .add("--model-tag", &model_tag, "override model tag for checkpoint directory name (default: d<depth>)")
      .add("--data-dir", &o.data_dir,
           "parquet shards to train on; the last is the validation split (default: $NANOCHAT_BASE_DIR/base_data_climbmix)")
      .add("--tokenizer-dir", &o.tokenizer_dir, "tokenizer directory (default: $NANOCHAT_BASE_DIR/tokenizer)")
      .add("--loader-threads", &o.loader_threads, "tokenizer threads of each data loader");
  if (!p.parse(args)) return 0;
  o.model_tag = model_tag;
  const auto r = train::run_base_train(o);
  log_info("Checkpoints in {}", r.checkpoint_dir.string());
  return 0;
}

}  // namespace nanochat::app
