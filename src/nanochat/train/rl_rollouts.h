// chat_rl's rollouts (spec tokenizer-inference-eval.md §10): the per-rollout seeds, one example's group
// of sampled completions with their rewards and group-mean advantages, and the padded (inputs,
// targets) rows the policy-gradient loss trains on.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "nanochat/tokenizer/tokenizer.h"

namespace nanochat::train {

// CPython's hash() of a tuple of ints, each in [0, 2^61 - 1) (where hash(x) == x), as a signed 64-bit
// value (spec Appendix A.5).
int64_t python_tuple_hash(std::span<const int64_t> items);

// hash((step, example_idx, sampling_step)) & 0x7FFFFFFF: the seed of one generate_batch call.
uint64_t rollout_seed(int64_t step, int64_t example_idx, int64_t sampling_step);

// reward_j - mean(rewards): the group mean is the baseline, no std normalization.
std::vector<double> group_advantages(std::span<const double> rewards);

// The num_samples completions of one example.
struct RolloutGroup {
  int64_t example_idx = 0;
  int64_t prompt_len = 0;
  std::vector<std::vector<TokenId>> sequences;  // prompt + generated, terminator excluded, unpadded
  std::vector<std::vector<uint8_t>> masks;      // 1 = sampled by the model; 0 = prompt or forced tool output
  std::vector<double> rewards, advantages;

  double mean_reward() const;
  int64_t longest() const;  // the longest sequence, in tokens
};

// Rows of a group right-padded to width + 1 tokens (pad id, mask 0), then shifted:
// inputs = ids[:, :-1], targets = ids[:, 1:] with -1 wherever mask[:, 1:] == 0. Only tokens the model
// sampled are targets: never the prompt, forced tool outputs or padding.
struct RolloutBatch {
  int64_t rows = 0, width = 0;
  std::vector<int64_t> inputs, targets;  // (rows, width) row-major
  int64_t num_valid() const;             // targets >= 0
};

// Rows [row0, row0 + rows) of the group; width must be at least longest() - 1.
RolloutBatch rollout_batch(const RolloutGroup& group, size_t row0, size_t rows, int64_t width, TokenId pad);

// pass@k for k = 1..k_max: the fraction of records with a correct sample among their first k
// (records with fewer samples count what they have). NaN for no records, as the original's 0/0.
std::vector<double> pass_at_k(const std::vector<std::vector<bool>>& outcomes, int64_t k_max);

}  // namespace nanochat::train
