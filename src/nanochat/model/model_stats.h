// Parameter counts and FLOPs bookkeeping of the GPT (spec model-and-training.md §6): the groups of
// num_scaling_params(), the Linear-weight count behind estimate_flops(), and the training FLOPs per
// token that MFU and --target-flops horizons are computed from.
#pragma once
#include <cstdint>

#include "nanochat/model/config.h"

namespace nanochat::model {

// num_scaling_params(): the groups sum to total (every parameter counted once).
struct ParamCounts {
  int64_t wte = 0;
  int64_t value_embeds = 0;
  int64_t lm_head = 0;
  int64_t transformer_matrices = 0;  // everything under transformer.h, ve_gates included
  int64_t scalars = 0;               // resid/x0 lambdas, smear_gate, smear_lambda, backout_lambda
  int64_t total = 0;
};

ParamCounts count_parameters(const model::GPTConfig& config);

// What the training horizon scales with: transformer_matrices + lm_head (dev/LOG.md, Jan 27).
int64_t scaling_params(const model::GPTConfig& config);

// Weights of every Linear: the block matrices and ve_gates, lm_head and smear_gate (§6.1). We count
// these whatever the matmul precision, so --fp8 does not undercount as upstream does (§6.2).
int64_t num_matmul_params(const model::GPTConfig& config);

// 6 * num_matmul_params + sum over layers of 12 * H * d * min(window, T), T = sequence_len (§6.2).
int64_t flops_per_token(const model::GPTConfig& config);

}  // namespace nanochat::model
