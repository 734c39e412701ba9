// Next-token sampling (spec §4.3): temperature 0 is argmax (first index on ties); otherwise softmax of
// logits/temperature over the top_k largest logits (top_k <= 0: the whole vocabulary) and one
// multinomial draw. Draws come from the project's Philox generator, so a seed fixes the stream;
// sampled streams match the original statistically, not bit for bit (it uses torch's generator).
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "nanochat/core/rng.h"

namespace nanochat::engine {

// One row of logits -> one token id. Throws Error for a negative temperature.
int64_t sample_token(std::span<const float> logits, double temperature, int64_t top_k, Philox& rng);

// Rows of a (B, V) logits matrix, drawing in row order from one generator.
std::vector<int64_t> sample_tokens(std::span<const float> logits, int64_t vocab, double temperature, int64_t top_k,
                                   Philox& rng);

}  // namespace nanochat::engine
