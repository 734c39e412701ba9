#include "nanochat/core/bf16.h"
#include "nanochat/optim/adamw.h"

#include <algorithm>
#include <cmath>

#include "nanochat/core/safetensors.h"
#include "nanochat/kernels/cpu/vec_math.h"

namespace nanochat::optim {

namespace {

float round_bf16(float x) { return bf16::to_float(bf16::from_float(x)); }

}  // namespace

namespace {

struct AdamWScalars {
  float decay, w1, w2, bias2, eps, neg_step_size;
};

// The update of values [0, n): one fused pass, compiled for several vector widths (with FMA
// hardware std::fma is an instruction, without it a libm call).
NC_SIMD_CLONES void adamw_span(float* p, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n,
                               AdamWScalars k, bool bf16_storage) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = grad[i];
    float param = p[i] * k.decay;
    const float m = lerp_f32(exp_avg[i], g, k.w1);
    const float v = lerp_f32(exp_avg_sq[i], g * g, k.w2);
    const float denom = std::sqrt(v / k.bias2) + k.eps;
    param = std::fma(m / denom, k.neg_step_size, param);  // add_(m/denom, alpha=-step_size)
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
  const AdamWScalars k{decay, w1, w2, bias2, eps, neg_step_size};

  constexpr int64_t kSpan = 16384;
  const auto count = static_cast<int64_t>(n);
  const int64_t spans = (count + kSpan - 1) / kSpan;
#pragma omp parallel for schedule(static) if (spans > 4)
  for (int64_t sp = 0; sp < spans; ++sp) {
    const int64_t i0 = sp * kSpan, len = std::min(kSpan, count - i0);
    adamw_span(p + i0, grad + i0, exp_avg + i0, exp_avg_sq + i0, len, k, bf16_storage);
  }
}

}  // namespace nanochat::optim
