// Mid-training batches (v0.1.0, spec tokenizer-inference-eval.md §9.2): conversations rendered with
// render_conversation are appended to one token FIFO (the mask is ignored: every token is trained
// on); each batch pops exactly B*T + 1 tokens, inputs = the first B*T as (B, T), targets = the same
// stream shifted by one. The extra last token is consumed, not carried to the next batch. The cursor
// starts at the rank and steps by the world size; for train, wrapping past the end of the dataset
// ends the run (last_step) and progress is cursor / dataset size (or it / num_iterations).
//
// State for an exact resume: cursor, batches produced, whether the data wrapped, and the tokens left
// in the FIFO.
#pragma once
#include <cstdint>
#include <deque>
#include <nlohmann/json.hpp>
#include <vector>

#include "nanochat/train/sft_packing_loader.h"

namespace nanochat::train {

struct MidStreamState {
  int64_t cursor = 0;
  int64_t it = 0;
  bool wrapped = false;
  std::vector<TokenId> pending;  // the FIFO, front first

  nlohmann::json to_json() const;
  static MidStreamState from_json(const nlohmann::json& j, const std::string& where);
  bool operator==(const MidStreamState&) const = default;
};

class MidTokenStream {
 public:
  // options.buffer_size is unused here.
  MidTokenStream(const Tokenizer& tokenizer, eval::tasks::TaskPtr dataset, SftLoaderOptions options);

  ChatBatch next();
  MidStreamState state() const;
  void restore(const MidStreamState& state);

 private:
  const Tokenizer& tok_;
  eval::tasks::TaskPtr dataset_;
  SftLoaderOptions o_;
  int64_t size_;
  std::deque<TokenId> fifo_;
  int64_t cursor_, it_ = 0;
  bool wrapped_ = false;
};

}  // namespace nanochat::train
