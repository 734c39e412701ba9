// The policy-gradient loss of one chat_rl pass (spec tokenizer-inference-eval.md §10, "Update"):
//   loss = -sum_{b,t} logp[b,t] * advantage_b / (num_valid * divisor)
//        =  sum_{b,t} CE[b,t]   * advantage_b / (num_valid * divisor)
// with logp = -CE per target (0 where the target is -1), num_valid = max(1, #targets >= 0 in the pass)
// and divisor = num_passes * examples_per_rank; its gradient is accumulated into the backend.
//
// TrainingBackend::forward_backward only scales the batch's mean CE by one number, so rows are grouped
// by advantage: one forward_backward per distinct nonzero advantage a, over the pass with the other
// rows' targets set to -1, scaled by a * n_a / (num_valid * divisor) (n_a = that call's valid targets),
// which accumulates exactly a * d(sum of those rows' CE)/d(params) / (num_valid * divisor). Rows with a
// zero advantage contribute nothing to the gradient and are not computed. With 0/1 rewards a pass
// takes at most two forwards (none when every sample of the example got the same reward).
#pragma once
#include <cstdint>
#include <span>

#include "nanochat/train/rl_rollouts.h"
#include "nanochat/train/training_backend.h"

namespace nanochat::train {

struct PassLoss {
  double loss = 0;        // the pass's loss as defined above (NaN/inf when a forward diverged)
  int64_t num_valid = 0;  // max(1, valid targets)
  int forwards = 0;       // forward_backward calls made
};

// batch must have the backend's (B, T) shape; advantages has one entry per row.
PassLoss reinforce_backward(TrainingBackend& backend, const RolloutBatch& batch, std::span<const double> advantages,
                            double divisor);

}  // namespace nanochat::train
