#include "nanochat/serve/engine_generator.h"

#include <omp.h>

namespace nanochat::serve {

EngineGenerator::EngineGenerator(const model::GPT<float>& model, const Tokenizer& tokenizer, int threads)
    : engine_(model, tokenizer), threads_(threads) {}

EngineGenerator::EngineGenerator(const engine::Decoder& decoder, const Tokenizer& tokenizer, int threads)
    : engine_(decoder, tokenizer), threads_(threads) {}

void EngineGenerator::generate(std::span<const TokenId> prompt, const SamplingParams& params,
                               const std::function<bool(TokenId)>& on_token) const {
  // The OpenMP thread count is a per-thread setting: this only affects the calling HTTP thread.
  if (threads_ > 0) omp_set_num_threads(threads_);
  engine::GenerateOptions opt;
  opt.num_samples = 1;
  opt.max_tokens = params.max_tokens;
  opt.temperature = params.temperature;
  opt.top_k = params.top_k;
  opt.seed = params.seed;
  engine_.generate(prompt, opt, [&](std::span<const TokenId> tokens, std::span<const uint8_t>) {
    return on_token(tokens[0]);
  });
}

}  // namespace nanochat::serve
