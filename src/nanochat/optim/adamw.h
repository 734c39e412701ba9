// The fused AdamW step of the original (spec model-and-training.md §7.2), on one contiguous range
// of fp32 values (a parameter, or a shard of one). The math is the original's fp32 arithmetic, op by
// op: every hyperparameter is rounded to fp32 first (the original keeps them in 0-d fp32 tensors),
// decoupled weight decay is applied first with the scheduled lr, the moments use PyTorch's lerp, and
// eps is added after the square root of the bias-corrected second moment.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace nanochat::optim {

struct AdamWHyper {
  double lr = 0;            // scheduled: initial_lr * lr multiplier
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-10;
  double weight_decay = 0;  // decoupled, multiplied by lr
};

// One step on n values. `step` is the per-parameter step count after increment (1 on the first step).
// p, exp_avg and exp_avg_sq are updated in place; grad is read only.
// bf16_storage: round the parameter and both moments to bf16 after the update, as the original does
// for wte and value_embeds when they are stored in bf16 (CUDA, CD = bf16). The CPU fp32 path keeps
// everything fp32 (false), as the golden files do.
void adamw_step(float* p, const float* grad, float* exp_avg, float* exp_avg_sq, size_t n, int64_t step,
                const AdamWHyper& h, bool bf16_storage = false);

// PyTorch's lerp on fp32 as its vectorized CPU kernel computes it: start + w*(end-start) for |w| < 0.5,
// else end + (w-1)*(end-start), each one fused multiply-add.
inline float lerp_f32(float start, float end, float weight) {
  const float diff = end - start;
  return std::fabs(weight) < 0.5f ? std::fma(weight, diff, start) : std::fma(weight - 1.0f, diff, end);
}

}  // namespace nanochat::optim
