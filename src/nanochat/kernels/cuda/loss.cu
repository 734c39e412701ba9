// Logit softcap and cross-entropy with ignore_index -1 (spec §3.1.7, backward §4.1), reading bf16
// logits and keeping the softcapped values in registers only (see the memory plan in ops.h).
#include "nanochat/kernels/cuda/check.h"
#include "nanochat/kernels/cuda/device_math.cuh"
#include "nanochat/kernels/cuda/ops.h"

namespace nanochat::kernels::cuda {

namespace {

constexpr int kThreads = 512;

// One block per row. |z| <= cap, so exp(z - cap) lies in [exp(-2 cap), 1]: no running max needed.
__global__ void softcap_ce_forward_kernel(float* loss, float* lse, const bf16* logits, const int64_t* targets,
                                          int64_t V, float cap) {
  __shared__ float scratch[32];
  const int64_t r = blockIdx.x;
  const int64_t y = targets[r];
  if (y < 0) {  // uniform across the block: every thread returns before any barrier
    if (threadIdx.x == 0) {
      loss[r] = 0.0f;
      if (lse != nullptr) lse[r] = 0.0f;
    }
    return;
  }
  const bf16* lr = logits + r * V;
  const float inv_cap = 1.0f / cap;
  float s = 0.0f;
  for (int64_t c = threadIdx.x; c < V; c += blockDim.x) s += expf(cap * tanhf(detail::load(lr[c]) * inv_cap) - cap);
  s = detail::block_sum(s, scratch);
  if (threadIdx.x == 0) {
    const float l = cap + logf(s);
    if (lse != nullptr) lse[r] = l;
    loss[r] = l - cap * tanhf(detail::load(lr[y]) * inv_cap);
  }
}

__global__ void softcap_ce_backward_kernel(bf16* grad, const bf16* logits, const float* lse, const int64_t* targets,
                                           int64_t n, int64_t v0, float cap, float scale) {
  const int64_t r = blockIdx.x;
  const int64_t y = targets[r];
  const bf16* lr = logits + r * n;
  bf16* gr = grad + r * n;
  if (y < 0) {
    for (int64_t c = threadIdx.x; c < n; c += blockDim.x) gr[c] = detail::to_bf16(0.0f);
    return;
  }
  const float l = lse[r];
  const float inv_cap = 1.0f / cap;
  // grad may alias logits: each element is read, then written, by the same thread.
  for (int64_t c = threadIdx.x; c < n; c += blockDim.x) {
    const float t = tanhf(detail::load(lr[c]) * inv_cap);
    const float p = expf(cap * t - l);
    const float onehot = (v0 + c == y) ? 1.0f : 0.0f;
    gr[c] = detail::to_bf16(scale * (p - onehot) * (1.0f - t * t));
  }
}

}  // namespace

void softcap_cross_entropy_forward(float* loss, float* lse, const bf16* logits, const int64_t* targets, int64_t rows,
                                   int64_t V, float cap, cudaStream_t stream) {
  if (rows <= 0 || V <= 0) return;
  softcap_ce_forward_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(loss, lse, logits, targets, V, cap);
  NC_CUDA_CHECK_LAUNCH();
}

void softcap_cross_entropy_backward(bf16* grad, const bf16* logits, const float* lse, const int64_t* targets,
                                    int64_t rows, int64_t n, int64_t v0, float cap, float scale, cudaStream_t stream) {
  if (rows <= 0 || n <= 0) return;
  softcap_ce_backward_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(grad, logits, lse, targets, n, v0,
                                                                                   cap, scale);
  NC_CUDA_CHECK_LAUNCH();
}

}  // namespace nanochat::kernels::cuda
