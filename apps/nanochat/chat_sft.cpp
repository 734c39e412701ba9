// nanochat chat-sft: supervised fine-tuning of a base model (the original's scripts/chat_sft.py at
// HEAD; spec tokenizer-inference-eval.md §9.1). Same flags and defaults; unset batch sizes and
// learning rates are inherited from the base checkpoint. Checkpoints go to
// $NANOCHAT_BASE_DIR/chatsft_checkpoints/<model-tag>/.
#include "commands.h"
#include "nanochat/core/cli.h"
#include "nanochat/core/log.h"
#include "nanochat/train/sft_trainer.h"

namespace nanochat::app {

// Flags of our own that both chat stages take (apps/nanochat/mid_train.cpp too).
void add_chat_stage_flags(ArgParser& p, train::ChatStageCommon& c, std::string& data_root, std::string& identity,
                          std::string& word_list) {
  p.add("--resume-from-step", &c.resume_from_step,
        "resume this stage from its own checkpoint at this step (needs --save-every checkpoints; -1 = disable)")
      .add("--save-every", &c.save_every, "also save a checkpoint every N steps (-1 = only at the end)")
      .add_switch("--skip-missing-tasks", &c.skip_missing_tasks,
                  "train without the mixture's tasks whose data is missing (they are listed), instead of stopping")
      .add("--data-root", &data_root,
           "task data: smoltalk/, mmlu/data/, gsm8k/ (default: $NANOCHAT_BASE_DIR/task_data)")
      .add("--identity-conversations", &identity,
           "identity conversations, CustomJSON JSONL (default: $NANOCHAT_BASE_DIR/identity_conversations.jsonl)")
      .add("--word-list", &word_list, "word list for SpellingBee/SimpleSpelling (default: /usr/share/dict/american-english)")
      .add("--tokenizer-dir", &c.tokenizer_dir, "tokenizer directory (default: $NANOCHAT_BASE_DIR/tokenizer)")
      .add("--source-root", &c.source_root,
           "folder of the checkpoint tags to start from (default: $NANOCHAT_BASE_DIR/base_checkpoints)")
      .add("--checkpoint-root", &c.checkpoint_root, "folder to write this stage's <tag>/ checkpoints into");
}

void finish_chat_stage_flags(train::ChatStageCommon& c, const std::string& data_root, const std::string& identity,
                             const std::string& word_list) {
  c.data.data_root = data_root;
  c.data.identity_conversations = identity;
  c.data.word_list = word_list;
}

int chat_sft(const Args& args) {
  train::ChatSftOptions o;
  std::string data_root, identity, word_list;
  std::optional<std::string> model_tag;
  std::optional<int64_t> model_step, max_seq_len, device_batch_size, total_batch_size;
  std::optional<std::string> embedding_lr, unembedding_lr, matrix_lr;
  ArgParser p("nanochat chat-sft", "Supervised fine-tuning (SFT) the model");
  p.add("--run", &o.run, "wandb run name ('dummy' disables wandb logging; nanochat.cpp has no wandb)")
      .add("--device-type", &o.device_type, "cuda|cpu|mps (empty = autodetect)")
      .add("--model-tag", &model_tag, "model tag to load from")
      .add("--model-step", &model_step, "model step to load from")
      .add("--load-optimizer", &o.load_optimizer, "warm-start optimizer from pretrained checkpoint (0=no, 1=yes)")
      .add("--num-iterations", &o.num_iterations, "number of optimization steps (-1 = full epoch)")
      .add("--max-seq-len", &max_seq_len, "max context length (default: inherit from pretrain)")
      .add("--device-batch-size", &device_batch_size, "per-device batch size (default: inherit from pretrain)")
      .add("--total-batch-size", &total_batch_size, "total batch size in tokens (default: inherit from pretrain)")
      .add("--embedding-lr", &embedding_lr, "learning rate for embedding parameters (Adam) (default: inherit)")
      .add("--unembedding-lr", &unembedding_lr, "learning rate for unembedding parameters (Adam) (default: inherit)")
      .add("--matrix-lr", &matrix_lr, "learning rate for matrix parameters (Muon) (default: inherit)")
      .add("--init-lr-frac", &o.init_lr_frac, "initial LR as fraction of base LR")
      .add("--warmup-ratio", &o.warmup_ratio, "ratio of iterations for LR warmup")
      .add("--warmdown-ratio", &o.warmdown_ratio, "ratio of iterations for LR warmdown")
      .add("--final-lr-frac", &o.final_lr_frac, "final LR as fraction of initial LR")
      .add("--eval-every", &o.eval_every, "evaluate val bpb every N steps (-1 = disable)")
      .add("--eval-tokens", &o.eval_tokens, "number of tokens to evaluate val loss on")
      .add("--chatcore-every", &o.chatcore_every, "evaluate ChatCORE metric every N steps (-1 = disable)")
      .add("--chatcore-max-cat", &o.chatcore_max_cat, "max problems per categorical task for ChatCORE")
      .add("--chatcore-max-sample", &o.chatcore_max_sample, "max problems per generative task for ChatCORE")
      .add("--mmlu-epochs", &o.mmlu_epochs, "number of epochs of MMLU in training mixture (teaches Multiple Choice)")
      .add("--gsm8k-epochs", &o.gsm8k_epochs, "number of epochs of GSM8K in training mixture (teaches Math and Tool Use)");
  add_chat_stage_flags(p, o.common, data_root, identity, word_list);
  if (!p.parse(args)) return 0;
  auto lr = [](const std::optional<std::string>& v, const char* flag) -> std::optional<double> {
    if (!v) return std::nullopt;
    return parse_double(*v, flag);
  };
  o.model_tag = model_tag;
  o.model_step = model_step;
  o.max_seq_len = max_seq_len;
  o.device_batch_size = device_batch_size;
  o.total_batch_size = total_batch_size;
  o.embedding_lr = lr(embedding_lr, "--embedding-lr");
  o.unembedding_lr = lr(unembedding_lr, "--unembedding-lr");
  o.matrix_lr = lr(matrix_lr, "--matrix-lr");
  finish_chat_stage_flags(o.common, data_root, identity, word_list);
  const auto r = train::run_chat_sft(o);
  log_info("Checkpoints in {}", r.checkpoint_dir.string());
  return 0;
}

}  // namespace nanochat::app
