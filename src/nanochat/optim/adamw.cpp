#include "nanochat/optim/adamw.h"

#include <cmath>

#include "nanochat/core/safetensors.h"

namespace nanochat::optim {

namespace {

float round_bf16(float x) { return bf16_bits_to_f32(f32_to_bf16_bits(x)); }

}  // namespace

void adamw_step(float* p, const float* grad, float* exp_avg, float* exp_avg_sq, size_t n, int64_t step,
                const AdamWHyper& h, bool bf16_storage) {
  // Scalars as the original's 0-d fp32 tensors, and the scalar expressions it evaluates on them.
  const float lr = static_cast<float>(h.lr);
  const float beta1 = static_cast<float>(h.beta1);
  const float beta2 = static_cast<float>(h.beta2);
  const float eps = static_cast<float>(h.eps);
  const float wd = static_cast<float>(h.weight_decay);
  const float step_f = static_cast<float>(step);
  const float decay = 1.0f - lr * wd;
  const float w1 = 1.0f - beta1;
  const float w2 = 1.0f - beta2;
  const float bias1 = 1.0f - std::pow(beta1, step_f);
  const float bias2 = 1.0f - std::pow(beta2, step_f);
  const float neg_step_size = -(lr / bias1);

  const auto count = static_cast<int64_t>(n);
#pragma omp parallel for schedule(static) if (count > (1 << 16))
  for (int64_t i = 0; i < count; ++i) {
    const float g = grad[i];
    float param = p[i] * decay;
    const float m = lerp_f32(exp_avg[i], g, w1);
    const float v = lerp_f32(exp_avg_sq[i], g * g, w2);
    const float denom = std::sqrt(v / bias2) + eps;
    param = std::fma(m / denom, neg_step_size, param);  // add_(m/denom, alpha=-step_size)
    if (bf16_storage) {
      p[i] = round_bf16(param);
      exp_avg[i] = round_bf16(m);
      exp_avg_sq[i] = round_bf16(v);
    } else {
      p[i] = param;
      exp_avg[i] = m;
      exp_avg_sq[i] = v;
    }
  }
}

}  // namespace nanochat::optim
