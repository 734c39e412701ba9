// Greedy samples during pretraining (spec model-and-training.md §8.5): the seven fixed prompts, each
// prefixed with BOS, continued for 16 tokens at temperature 0 through the KV-cache forward.
#pragma once
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "nanochat/model/gpt.h"
#include "nanochat/tokenizer/tokenizer.h"

namespace nanochat::train {

inline constexpr std::array<const char*, 7> kSamplePrompts = {
    "The capital of France is",
    "The chemical symbol of gold is",
    "If yesterday was Friday, then tomorrow will be",
    "The opposite of hot is",
    "The planets of the solar system are:",
    "My favorite color is",
    "If 5*x + 3 = 13, then x is",
};
inline constexpr int64_t kSampleTokens = 16;

// The prompt followed by up to max_new_tokens argmax tokens (the first maximal logit on ties). Stops
// early, without appending it, at any id in stop_tokens (the original's engine stops at BOS and
// <|assistant_end|>). The prompt must be non-empty and fit the rotary table with the new tokens.
std::vector<TokenId> generate_greedy(const model::GPT<float>& model, std::span<const TokenId> prompt,
                                     int64_t max_new_tokens, std::span<const TokenId> stop_tokens = {});

// One decoded sample per kSamplePrompts entry: BOS + prompt, greedy, kSampleTokens new tokens.
std::vector<std::string> sample_prompts(const model::GPT<float>& model, const Tokenizer& tokenizer);

}  // namespace nanochat::train
