// SFT batches at HEAD (spec tokenizer-inference-eval.md §9.1): conversations rendered with
// render_conversation (2048-token truncation) wait in a buffer of 100; each row of T+1 tokens is
// filled best-fit: repeatedly the largest buffered conversation that still fits whole (the first on
// ties), and when none fits the rest of the row is BOS padding. A conversation is never split.
// inputs = row[0..T-1]; targets = row[1..T] with -1 wherever the token is not supervised (mask 0:
// BOS, user turns, <|assistant_start|>, tool outputs, padding). Conversations sharing a row attend
// to each other (plain causal attention), as in the original.
//
// The loader is deterministic. Its state (cursor, consumed, epoch, iteration and the dataset indices
// of the buffered conversations) is small: restore() rebuilds the buffer by re-rendering those
// conversations, so a resumed run draws exactly the batches the uninterrupted one would have.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

#include "nanochat/data/bos_packing_loader.h"
#include "nanochat/eval/tasks/task.h"
#include "nanochat/tokenizer/chat_format.h"
#include "nanochat/tokenizer/tokenizer.h"

namespace nanochat::train {

// One micro-batch of the chat stages plus what the original's generators report through globals.
struct ChatBatch {
  PackedBatch batch;           // B x T; targets -1 = ignored
  bool last_step = false;      // train only: this batch ends the run (epoch consumed / num_iterations reached)
  double approx_progress = 0;  // train only: fraction of the run done after this batch
  int64_t epoch = 1;           // train only: the data epoch the loader is in
};

struct SftLoaderState {
  int64_t cursor = 0;    // next dataset index to render
  int64_t consumed = 0;  // conversations placed into rows (times world size)
  int64_t epoch = 1;
  int64_t it = 0;        // batches produced
  std::vector<int64_t> buffer;  // dataset indices of the buffered conversations, in buffer order

  nlohmann::json to_json() const;
  static SftLoaderState from_json(const nlohmann::json& j, const std::string& where);
  bool operator==(const SftLoaderState&) const = default;
};

struct SftLoaderOptions {
  int64_t device_batch_size = 32;  // B
  int64_t max_seq_len = 2048;      // T (rows hold T + 1 tokens)
  bool train = true;               // train updates last_step / progress / epoch; val does not
  int64_t num_iterations = -1;     // > 0: last_step after that many batches (train)
  int rank = 0, world_size = 1;
  size_t buffer_size = 100;
};

class SftPackingLoader {
 public:
  SftPackingLoader(const Tokenizer& tokenizer, eval::tasks::TaskPtr dataset, SftLoaderOptions options);

  ChatBatch next();
  SftLoaderState state() const;
  // Continues from a state() of a loader over the same dataset and options.
  void restore(const SftLoaderState& state);

 private:
  struct Buffered {
    int64_t index;
    RenderedConversation conv;
  };
  void refill();

  const Tokenizer& tok_;
  eval::tasks::TaskPtr dataset_;
  SftLoaderOptions o_;
  int64_t size_;
  std::vector<Buffered> buffer_;
  int64_t cursor_, consumed_, epoch_ = 1, it_ = 0;
};

}  // namespace nanochat::train
