// nanochat chat-rl: reinforcement learning on GSM8K from an SFT checkpoint (the original's
// scripts/chat_rl.py; spec tokenizer-inference-eval.md §10): REINFORCE with a group-mean baseline,
// the calculator tool on during rollouts, pass@k on the test split. Same flags and defaults, plus
// --resume-from-step / --max-steps and data/checkpoint paths of ours. Checkpoints go to
// $NANOCHAT_BASE_DIR/chatrl_checkpoints/<model-tag>/.
#include "commands.h"
#include "nanochat/core/cli.h"
#include "nanochat/core/log.h"
#include "nanochat/train/rl_trainer.h"

namespace nanochat::app {

int chat_rl(const Args& args) {
  train::ChatRlOptions o;
  std::optional<std::string> model_tag;
  std::optional<int64_t> model_step;
  ArgParser p("nanochat chat-rl", "Reinforcement learning on GSM8K");
  p.add("--run", &o.run, "wandb run name ('dummy' disables wandb logging; nanochat.cpp has no wandb)")
      .add("--device-type", &o.device_type, "cuda|cpu|mps (empty = autodetect)")
      .add("--model-tag", &model_tag, "model tag to load from (default: the largest d<N> of the SFT checkpoints)")
      .add("--model-step", &model_step, "model step to load from (default: the last)")
      .add("--num-epochs", &o.num_epochs, "number of epochs over GSM8K train")
      .add("--device-batch-size", &o.device_batch_size, "max batch size per forward pass (rollouts per generate call)")
      .add("--examples-per-step", &o.examples_per_step, "total examples per optimization step across all ranks")
      .add("--num-samples", &o.num_samples, "number of samples per example/question")
      .add("--max-new-tokens", &o.max_new_tokens, "max tokens to generate per sample")
      .add("--temperature", &o.temperature, "sampling temperature")
      .add("--top-k", &o.top_k, "top-k sampling (0 = disabled)")
      .add("--embedding-lr", &o.embedding_lr, "learning rate for embedding parameters (Adam)")
      .add("--unembedding-lr", &o.unembedding_lr, "learning rate for unembedding parameters (Adam)")
      .add("--matrix-lr", &o.matrix_lr, "learning rate for matrix parameters (Muon)")
      .add("--weight-decay", &o.weight_decay, "weight decay for the Muon parameters")
      .add("--init-lr-frac", &o.init_lr_frac, "initial LR as fraction of base LR")
      .add("--eval-every", &o.eval_every, "evaluate pass@k every N steps (<= 0: never)")
      .add("--eval-examples", &o.eval_examples, "number of examples for pass@k evaluation")
      .add("--save-every", &o.save_every, "save checkpoint every N steps (<= 0: only at the end)")
      .add("--resume-from-step", &o.resume_from_step,
           "continue from this step's chat-rl checkpoint of this run (-1 = start from the SFT checkpoint)")
      .add("--max-steps", &o.max_steps, "stop after this many steps, keeping the schedule of the full run (-1 = all)")
      .add("--data-root", &o.data_root, "folder with gsm8k/{train,test}.jsonl (default: $NANOCHAT_BASE_DIR/task_data)")
      .add("--tokenizer-dir", &o.tokenizer_dir, "tokenizer directory (default: $NANOCHAT_BASE_DIR/tokenizer)")
      .add("--source-root", &o.source_root,
           "folder of the SFT checkpoint tags (default: $NANOCHAT_BASE_DIR/chatsft_checkpoints)")
      .add("--checkpoint-root", &o.checkpoint_root,
           "folder to write the <tag>/ checkpoints into (default: $NANOCHAT_BASE_DIR/chatrl_checkpoints)");
  if (!p.parse(args)) return 0;
  o.model_tag = model_tag;
  o.model_step = model_step;
  const auto r = train::run_chat_rl(o);
  log_info("Checkpoints in {}", r.checkpoint_dir.string());
  return 0;
}

}  // namespace nanochat::app
