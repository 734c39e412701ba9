// Rotary embeddings (spec §3.1.4-3.1.5), split halves, rotation by -theta, matching
// kernels/cpu/rotary.cpp: forward (x1, x2) -> (x1 c + x2 s, -x1 s + x2 c); backward the transpose.
#include "nanochat/kernels/cuda/check.h"
#include "nanochat/kernels/cuda/device_math.cuh"
#include "nanochat/kernels/cuda/ops.h"

namespace nanochat::kernels::cuda {

namespace {

constexpr int kThreads = 256;

// One thread per (row, head, j < d/2) pair; `sign` is +1 for the forward, -1 for the backward.
__global__ void rotary_kernel(bf16* x, const float* cos, const float* sin, int64_t T, int64_t heads, int64_t half,
                              int64_t pos0, int64_t pairs, float sign) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < pairs;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t j = i % half;
    const int64_t row_head = i / half;       // (b*T + t)*heads + h
    const int64_t t = (row_head / heads) % T;
    const float c = cos[(pos0 + t) * half + j];
    const float s = sign * sin[(pos0 + t) * half + j];
    bf16* xh = x + row_head * 2 * half;
    const float x1 = detail::load(xh[j]), x2 = detail::load(xh[j + half]);
    xh[j] = detail::to_bf16(x1 * c + x2 * s);
    xh[j + half] = detail::to_bf16(x2 * c - x1 * s);
  }
}

void launch(bf16* x, const float* cos, const float* sin, int64_t B, int64_t T, int64_t heads, int64_t d,
            int64_t pos0, float sign, cudaStream_t stream) {
  const int64_t half = d / 2;
  const int64_t pairs = B * T * heads * half;
  if (pairs <= 0) return;
  rotary_kernel<<<detail::grid_for(pairs, kThreads), kThreads, 0, stream>>>(x, cos, sin, T, heads, half, pos0, pairs,
                                                                             sign);
  NC_CUDA_CHECK_LAUNCH();
}

}  // namespace

void rotary_forward(bf16* x, const float* cos, const float* sin, int64_t B, int64_t T, int64_t heads, int64_t d,
                    int64_t pos0, cudaStream_t stream) {
  launch(x, cos, sin, B, T, heads, d, pos0, 1.0f, stream);
}

void rotary_backward(bf16* g, const float* cos, const float* sin, int64_t B, int64_t T, int64_t heads, int64_t d,
                     int64_t pos0, cudaStream_t stream) {
  launch(g, cos, sin, B, T, heads, d, pos0, -1.0f, stream);
}

}  // namespace nanochat::kernels::cuda
