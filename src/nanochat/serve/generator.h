// What a worker runs: token generation for one request. The server only needs this interface, so
// tests can script token streams (e.g. a character split across tokens) and the CUDA backend can
// plug in later; EngineGenerator (engine_generator.h) is the real one.
#pragma once
#include <cstdint>
#include <functional>
#include <span>

#include "nanochat/tokenizer/tokenizer.h"

namespace nanochat::serve {

struct SamplingParams {
  double temperature = 0.8;
  int64_t top_k = 50;       // 0: the full vocabulary
  int64_t max_tokens = 512; // new tokens at most
  uint64_t seed = 42;
};

class Generator {
 public:
  virtual ~Generator() = default;
  // Calls on_token with every new token (sampled or forced by the calculator tool) until on_token
  // returns false or max_tokens tokens were produced. Must be safe to call from several threads at
  // once when one Generator is shared by several workers.
  virtual void generate(std::span<const TokenId> prompt, const SamplingParams& params,
                        const std::function<bool(TokenId)>& on_token) const = 0;
};

}  // namespace nanochat::serve
