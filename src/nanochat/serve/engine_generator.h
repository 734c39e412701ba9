// The inference engine as a Generator. Engine::generate only reads the model (GPT::forward_cached is
// const and keeps its scratch buffers on the stack of the call; each call owns its KV cache), so one
// model can serve several workers at once; tests/serve checks that concurrent greedy generations
// equal serial ones. threads: OpenMP threads for each generation (<= 0: leave the default), so that
// N workers on a CPU share the cores instead of each starting a full team.
#pragma once
#include "nanochat/engine/engine.h"
#include "nanochat/serve/generator.h"

namespace nanochat::serve {

class EngineGenerator : public Generator {
 public:
  EngineGenerator(const model::GPT<float>& model, const Tokenizer& tokenizer, int threads = 0);
  // Any decoder (engine/decoder.h), e.g. the GPU's; it must outlive the generator.
  EngineGenerator(const engine::Decoder& decoder, const Tokenizer& tokenizer, int threads = 0);
  void generate(std::span<const TokenId> prompt, const SamplingParams& params,
                const std::function<bool(TokenId)>& on_token) const override;

 private:
  engine::Engine engine_;
  int threads_;
};

}  // namespace nanochat::serve
