// KV-cache generation with tool use (spec §4.1-4.6, §4.8). The prompt is prefilled once with batch 1;
// its cache is then broadcast to num_samples rows and all rows decode together, one column per step.
// Each row runs the tool state machine: tokens between <|python_start|> and <|python_end|> are decoded
// and handed to the calculator, whose result is forced into the stream as
// <|output_start|> result <|output_end|> (forced tokens consume steps and carry mask 0).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "nanochat/engine/decoder.h"
#include "nanochat/engine/tool_state.h"
#include "nanochat/model/gpt.h"
#include "nanochat/tokenizer/tokenizer.h"

namespace nanochat::engine {

struct GenerateOptions {
  int64_t num_samples = 1;
  std::optional<int64_t> max_tokens;  // none: until the model's context is full
  double temperature = 1.0;
  int64_t top_k = 0;                  // <= 0: no truncation
  uint64_t seed = 42;
};

// One generation step: the token of every row and whether it was sampled (1) or forced (0).
using StepCallback = std::function<bool(std::span<const TokenId> tokens, std::span<const uint8_t> sampled)>;

class Engine {
 public:
  // tool: what a python block is evaluated with (default: the calculator). The first form runs the
  // model on the CPU (decoder.h's fp32 reference); the second on any decoder (e.g. the GPU), which
  // must outlive the engine.
  Engine(const model::GPT<float>& model, const Tokenizer& tokenizer, ToolStateMachine::Tool tool = {});
  Engine(const Decoder& decoder, const Tokenizer& tokenizer, ToolStateMachine::Tool tool = {});

  // Streams one column per step to on_step until every row has produced <|assistant_end|> or <|bos|>,
  // max_tokens steps have run, or on_step returns false. Throws Error on an empty or over-long prompt.
  void generate(std::span<const TokenId> prompt, const GenerateOptions& options, const StepCallback& on_step) const;

  struct Batch {
    std::vector<std::vector<TokenId>> tokens;  // prompt + generated, terminators excluded
    std::vector<std::vector<uint8_t>> masks;   // 0 over the prompt and forced tokens
  };
  // §4.6: every row until its terminator (not appended) or max_tokens.
  Batch generate_batch(std::span<const TokenId> prompt, const GenerateOptions& options) const;

  const Tokenizer& tokenizer() const { return tok_; }
  const Decoder& decoder() const { return *decoder_; }

 private:
  Engine(std::shared_ptr<const Decoder> owned, const Decoder* decoder, const Tokenizer& tokenizer,
         ToolStateMachine::Tool tool);
  std::shared_ptr<const Decoder> owned_;  // the CPU decoder of the first constructor
  const Decoder* decoder_;
  const Tokenizer& tok_;
  ToolStateMachine::Tool tool_;
  TokenId assistant_end_, bos_;
};

// §4.8: batch 1, the full sequence recomputed every step (no cache); the reference the cached engine
// must agree with at temperature 0. sample_vocab (> 0) restricts sampling to the first ids, as the
// engine does for a model whose vocabulary is larger than its tokenizer's.
std::vector<TokenId> generate_naive(model::GPT<float>& model, std::span<const TokenId> prompt, int64_t max_tokens,
                                    double temperature = 0.0, int64_t top_k = 0, uint64_t seed = 42,
                                    int64_t sample_vocab = 0);

}  // namespace nanochat::engine
