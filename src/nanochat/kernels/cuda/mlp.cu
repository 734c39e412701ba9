// The MLP's squared ReLU (spec §3.1.7), elementwise in fp32, one bf16 rounding per output. Pure
// streaming kernels: 16-byte vectors (8 bf16) per thread where every pointer is 16-byte aligned, the
// n % 8 tail (and unaligned data) element by element.
#include "nanochat/kernels/cuda/check.h"
#include "nanochat/kernels/cuda/device_math.cuh"
#include "nanochat/kernels/cuda/ops.h"

namespace nanochat::kernels::cuda {

namespace {

constexpr int kThreads = 256;

using detail::relu2;
using detail::relu2_grad;

__global__ void relu2_forward_kernel(bf16* a, const bf16* u, int64_t n, int64_t nvec) {
  detail::vec_loops(
      n, nvec,
      [&](int64_t e) {
        float x[detail::kVec];
        detail::load8(u + e, x);
#pragma unroll
        for (int k = 0; k < detail::kVec; ++k) x[k] = relu2(x[k]);
        detail::store8(a + e, x);
      },
      [&](int64_t i) { a[i] = detail::to_bf16(relu2(detail::load(u[i]))); });
}

// gu = ga * 2relu(u); with a != nullptr also a = relu(u)^2, from the same read of u. Each element is
// read before it is written by the same thread, so gu may alias ga and a may alias u.
__global__ void relu2_backward_kernel(bf16* gu, bf16* a, const bf16* ga, const bf16* u, int64_t n, int64_t nvec) {
  detail::vec_loops(
      n, nvec,
      [&](int64_t e) {
        float x[detail::kVec], g[detail::kVec];
        detail::load8(u + e, x);
        detail::load8(ga + e, g);
#pragma unroll
        for (int k = 0; k < detail::kVec; ++k) g[k] = relu2_grad(g[k], x[k]);
        if (a != nullptr) {
#pragma unroll
          for (int k = 0; k < detail::kVec; ++k) x[k] = relu2(x[k]);
          detail::store8(a + e, x);
        }
        detail::store8(gu + e, g);
      },
      [&](int64_t i) {
        const float x = detail::load(u[i]);
        const float g = relu2_grad(detail::load(ga[i]), x);
        if (a != nullptr) a[i] = detail::to_bf16(relu2(x));
        gu[i] = detail::to_bf16(g);
      });
}

unsigned grid_for_vectors(int64_t n, int64_t nvec) { return detail::grid_for(nvec > 0 ? nvec : n, kThreads); }

}  // namespace

void relu2_forward(bf16* a, const bf16* u, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  const int64_t nvec = detail::vectors_for(n, {a, u});
  relu2_forward_kernel<<<grid_for_vectors(n, nvec), kThreads, 0, stream>>>(a, u, n, nvec);
  NC_CUDA_CHECK_LAUNCH();
}

void relu2_backward(bf16* gu, const bf16* ga, const bf16* u, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  const int64_t nvec = detail::vectors_for(n, {gu, ga, u});
  relu2_backward_kernel<<<grid_for_vectors(n, nvec), kThreads, 0, stream>>>(gu, nullptr, ga, u, n, nvec);
  NC_CUDA_CHECK_LAUNCH();
}

void relu2_backward_with_forward(bf16* gu, bf16* a, const bf16* ga, const bf16* u, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  ::nanochat::cuda::require(a != nullptr, "relu2_backward_with_forward", "needs the relu^2 output buffer");
  const int64_t nvec = detail::vectors_for(n, {gu, a, ga, u});
  relu2_backward_kernel<<<grid_for_vectors(n, nvec), kThreads, 0, stream>>>(gu, a, ga, u, n, nvec);
  NC_CUDA_CHECK_LAUNCH();
}

}  // namespace nanochat::kernels::cuda
