// CORE prompts (spec tokenizer-inference-eval.md §6.5-§6.7): the exact strings the original's Jinja
// templates produce for each task type, their tokenization with BOS, the span of tokens that is
// scored in each sequence, and the (optional) left truncation.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nanochat/eval/core_bundle.h"
#include "nanochat/eval/python_str.h"
#include "nanochat/tokenizer/tokenizer.h"

namespace nanochat::eval {


// MC: one prompt per choice. Schema: one per context option. LM: {prompt_without, prompt_with}.
std::vector<std::string> render_prompts(const CoreTaskConfig& task, const CoreExample& item,
                                        std::span<const CoreExample* const> fewshot);

// Token sequences of one item with the half-open span [start, end) of tokens to score in each.
struct ScoredSequences {
  std::vector<std::vector<TokenId>> tokens;
  std::vector<int64_t> start, end;
};

// Encodes each prompt with BOS prepended and finds the answer spans (§6.6). LM checks that the prompt
// without the continuation tokenizes to a strict prefix of the one with it (Error otherwise).
ScoredSequences tokenize_prompts(CoreTaskType type, std::span<const std::string> prompts, const Tokenizer& tokenizer);

// Keeps the last max_seq_len tokens of longer sequences and shifts their spans (§6.7); an Error if a
// span would start before the kept window.
void truncate_sequences(ScoredSequences& seqs, int64_t max_seq_len);

}  // namespace nanochat::eval
