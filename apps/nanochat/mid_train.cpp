// nanochat mid-train: mid-training of a base model on conversations (the original's
// scripts/mid_train.py of v0.1.0, removed at HEAD; spec tokenizer-inference-eval.md §9.2). The
// original's configurator keys become kebab-case flags (--device_batch_size=16 -> --device-batch-size=16;
// the parser points underscore spellings to them). Checkpoints go to
// $NANOCHAT_BASE_DIR/mid_checkpoints/<model-tag>/.
#include "commands.h"
#include "nanochat/core/cli.h"
#include "nanochat/core/log.h"
#include "nanochat/train/sft_trainer.h"

namespace nanochat::app {

void add_chat_stage_flags(ArgParser& p, train::ChatStageCommon& c, std::string& data_root, std::string& identity,
                          std::string& word_list);
void finish_chat_stage_flags(train::ChatStageCommon& c, const std::string& data_root, const std::string& identity,
                             const std::string& word_list);

int mid_train(const Args& args) {
  train::MidTrainOptions o;
  std::string data_root, identity, word_list;
  std::optional<std::string> model_tag;
  std::optional<int64_t> step;
  ArgParser p("nanochat mid-train", "Midtrain the model on conversations (v0.1.0's mid_train)");
  p.add("--run", &o.run, "wandb run name ('dummy' disables wandb logging; nanochat.cpp has no wandb)")
      .add("--device-type", &o.device_type, "cuda|cpu (empty = autodetect)")
      .add("--model-tag", &model_tag, "model tag to load the base model from")
      .add("--step", &step, "step to load the base model from")
      .add("--max-seq-len", &o.max_seq_len, "max context length")
      .add("--device-batch-size", &o.device_batch_size, "per-device batch size")
      .add("--total-batch-size", &o.total_batch_size, "total batch size in tokens")
      .add("--unembedding-lr", &o.unembedding_lr, "learning rate for unembedding parameters (Adam)")
      .add("--embedding-lr", &o.embedding_lr, "learning rate for embedding parameters (Adam)")
      .add("--matrix-lr", &o.matrix_lr, "learning rate for matrix parameters (Muon)")
      .add("--init-lr-frac", &o.init_lr_frac, "initial LR as fraction of base LR")
      .add("--weight-decay", &o.weight_decay, "weight decay of the Muon groups")
      .add("--eval-every", &o.eval_every, "evaluate val bpb every N steps")
      .add("--eval-tokens", &o.eval_tokens, "number of tokens to evaluate val loss on")
      .add("--num-iterations", &o.num_iterations, "number of optimization steps (-1 = one epoch)")
      .add("--dry-run", &o.dry_run, "1: train and evaluate but write no checkpoint");
  add_chat_stage_flags(p, o.common, data_root, identity, word_list);
  if (!p.parse(args)) return 0;
  o.model_tag = model_tag;
  o.model_step = step;
  finish_chat_stage_flags(o.common, data_root, identity, word_list);
  const auto r = train::run_mid_train(o);
  log_info("Checkpoints in {}", r.checkpoint_dir.string());
  return 0;
}

}  // namespace nanochat::app
