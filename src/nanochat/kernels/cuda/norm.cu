// RMSNorm without a weight (spec §3.1.1, backward §4.2): one block per row, fp32 sums.
#include "nanochat/kernels/cuda/check.h"
#include "nanochat/kernels/cuda/device_math.cuh"
#include "nanochat/kernels/cuda/ops.h"
#include "nanochat/kernels/ops.h"

namespace nanochat::kernels::cuda {

namespace {

constexpr int kThreads = 256;
constexpr float kEps = static_cast<float>(kernels::cpu::kRmsNormEps);

__global__ void rmsnorm_forward_kernel(bf16* y, float* rstd, const bf16* x, int64_t n) {
  __shared__ float scratch[32];
  const int64_t r = blockIdx.x;
  const bf16* xr = x + r * n;
  float ss = 0.0f;
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
    const float v = detail::load(xr[j]);
    ss += v * v;
  }
  ss = detail::block_sum(ss, scratch);
  const float rs = 1.0f / sqrtf(ss / static_cast<float>(n) + kEps);
  if (rstd != nullptr && threadIdx.x == 0) rstd[r] = rs;
  // y may alias x: each element is read and written by the same thread, after the reduction.
  bf16* yr = y + r * n;
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) yr[j] = detail::to_bf16(detail::load(xr[j]) * rs);
}

__global__ void rmsnorm_backward_kernel(bf16* gx, const bf16* gy, const bf16* y, const float* rstd, int64_t n,
                                        bool accumulate) {
  __shared__ float scratch[32];
  const int64_t r = blockIdx.x;
  const bf16* gyr = gy + r * n;
  const bf16* yr = y + r * n;
  float dot = 0.0f;
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) dot += detail::load(gyr[j]) * detail::load(yr[j]);
  const float mean = detail::block_sum(dot, scratch) / static_cast<float>(n);
  const float rs = rstd[r];
  bf16* gxr = gx + r * n;
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
    float g = rs * (detail::load(gyr[j]) - detail::load(yr[j]) * mean);
    if (accumulate) g += detail::load(gxr[j]);
    gxr[j] = detail::to_bf16(g);
  }
}

// QK norm: rows are single heads (n = head_dim, 128), too short for a block each, so one warp per
// row. In place; the result (x * rstd) * scale is computed in fp32 and rounded once.
__global__ void scaled_rmsnorm_forward_kernel(bf16* x, float* rstd, int64_t rows, int64_t n, float scale) {
  const int64_t r = blockIdx.x * int64_t{blockDim.x / 32} + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (r >= rows) return;  // whole warps leave together: no block-wide barrier follows
  bf16* xr = x + r * n;
  float ss = 0.0f;
  for (int64_t j = lane; j < n; j += 32) {
    const float v = detail::load(xr[j]);
    ss += v * v;
  }
  ss = detail::warp_sum(ss);
  const float rs = 1.0f / sqrtf(ss / static_cast<float>(n) + kEps);
  if (rstd != nullptr && lane == 0) rstd[r] = rs;
  for (int64_t j = lane; j < n; j += 32) xr[j] = detail::to_bf16((detail::load(xr[j]) * rs) * scale);
}

// In place on g, from the forward output out = scale*norm(x): g = rstd*(scale*g - out*mean(g*out)/scale).
__global__ void scaled_rmsnorm_backward_kernel(bf16* g, const bf16* out, const float* rstd, int64_t rows, int64_t n,
                                               float scale) {
  const int64_t r = blockIdx.x * int64_t{blockDim.x / 32} + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (r >= rows) return;
  bf16* gr = g + r * n;
  const bf16* outr = out + r * n;
  float dot = 0.0f;
  for (int64_t j = lane; j < n; j += 32) dot += detail::load(gr[j]) * detail::load(outr[j]);
  const float mean = detail::warp_sum(dot) / static_cast<float>(n) / scale;
  const float rs = rstd[r];
  for (int64_t j = lane; j < n; j += 32)
    gr[j] = detail::to_bf16(rs * (scale * detail::load(gr[j]) - detail::load(outr[j]) * mean));
}

constexpr int kRowsPerBlock = kThreads / 32;

}  // namespace

void scaled_rmsnorm_forward(bf16* x, float* rstd, int64_t rows, int64_t n, float scale, cudaStream_t stream) {
  if (rows <= 0 || n <= 0) return;
  scaled_rmsnorm_forward_kernel<<<detail::grid_for(rows, kRowsPerBlock, (int64_t{1} << 31) - 1), kThreads, 0, stream>>>(
      x, rstd, rows, n, scale);
  NC_CUDA_CHECK_LAUNCH();
}

void scaled_rmsnorm_backward(bf16* g, const bf16* out, const float* rstd, int64_t rows, int64_t n, float scale,
                             cudaStream_t stream) {
  if (rows <= 0 || n <= 0) return;
  scaled_rmsnorm_backward_kernel<<<detail::grid_for(rows, kRowsPerBlock, (int64_t{1} << 31) - 1), kThreads, 0, stream>>>(
      g, out, rstd, rows, n, scale);
  NC_CUDA_CHECK_LAUNCH();
}

void rmsnorm_forward(bf16* y, float* rstd, const bf16* x, int64_t rows, int64_t n, cudaStream_t stream) {
  if (rows <= 0 || n <= 0) return;
  rmsnorm_forward_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(y, rstd, x, n);
  NC_CUDA_CHECK_LAUNCH();
}

void rmsnorm_backward(bf16* gx, const bf16* gy, const bf16* y, const float* rstd, int64_t rows, int64_t n,
                      bool accumulate, cudaStream_t stream) {
  if (rows <= 0 || n <= 0) return;
  rmsnorm_backward_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(gx, gy, y, rstd, n, accumulate);
  NC_CUDA_CHECK_LAUNCH();
}

}  // namespace nanochat::kernels::cuda
