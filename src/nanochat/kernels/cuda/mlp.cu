// The MLP's squared ReLU (spec §3.1.7), elementwise in fp32, one bf16 rounding per output.
#include "nanochat/kernels/cuda/check.h"
#include "nanochat/kernels/cuda/device_math.cuh"
#include "nanochat/kernels/cuda/ops.h"

namespace nanochat::kernels::cuda {

namespace {

constexpr int kThreads = 256;

__global__ void relu2_forward_kernel(bf16* a, const bf16* u, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const float r = fmaxf(detail::load(u[i]), 0.0f);
    a[i] = detail::to_bf16(r * r);
  }
}

__global__ void relu2_backward_kernel(bf16* gu, const bf16* ga, const bf16* u, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const float x = detail::load(u[i]);
    gu[i] = detail::to_bf16(x > 0.0f ? detail::load(ga[i]) * (2.0f * x) : 0.0f);
  }
}

}  // namespace

void relu2_forward(bf16* a, const bf16* u, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  relu2_forward_kernel<<<detail::grid_for(n, kThreads), kThreads, 0, stream>>>(a, u, n);
  NC_CUDA_CHECK_LAUNCH();
}

void relu2_backward(bf16* gu, const bf16* ga, const bf16* u, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  relu2_backward_kernel<<<detail::grid_for(n, kThreads), kThreads, 0, stream>>>(gu, ga, u, n);
  NC_CUDA_CHECK_LAUNCH();
}

}  // namespace nanochat::kernels::cuda
