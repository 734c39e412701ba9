// The residual stream's lambda blends (spec §3.2 step 5.1, §4.4; also the backout of block L/2) and
// the small elementwise helpers. Scalar gradients go through the deterministic two-pass reduction.
#include "nanochat/kernels/cuda/check.h"
#include "nanochat/kernels/cuda/device_math.cuh"
#include "nanochat/kernels/cuda/ops.h"
#include "nanochat/kernels/cuda/reduce.h"

namespace nanochat::kernels::cuda {

namespace {

constexpr int kThreads = 256;

using detail::value_of;
__device__ __forceinline__ float widen(float x) { return x; }
__device__ __forceinline__ float widen(const bf16& x) { return detail::load(x); }
__device__ __forceinline__ void store(float& dst, float v) { dst = v; }
__device__ __forceinline__ void store(bf16& dst, float v) { dst = detail::to_bf16(v); }

#define NC_GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < (n); i += int64_t{gridDim.x} * blockDim.x)

__global__ void residual_mix_forward_kernel(bf16* z, const bf16* x, const bf16* x0, ScalarParam alpha,
                                            ScalarParam beta, int64_t n, int64_t nvec) {
  const float a = value_of(alpha), b = value_of(beta);
  detail::vec_loops(
      n, nvec,
      [&](int64_t e) {
        float xv[detail::kVec], x0v[detail::kVec];
        detail::load8(x + e, xv);
        detail::load8(x0 + e, x0v);
#pragma unroll
        for (int j = 0; j < detail::kVec; ++j) xv[j] = a * xv[j] + b * x0v[j];
        detail::store8(z + e, xv);
      },
      [&](int64_t i) { z[i] = detail::to_bf16(a * detail::load(x[i]) + b * detail::load(x0[i])); });
}

// Grid of exactly kPartials blocks: block b's partial sums cover the same elements on every run.
__global__ void residual_mix_backward_kernel(bf16* gx, float* gx0, float* partials, const bf16* gz, const bf16* x,
                                             const bf16* x0, ScalarParam alpha, ScalarParam beta, int64_t n,
                                             int64_t nvec) {
  __shared__ float scratch[32];
  const float a = value_of(alpha), b = value_of(beta);
  float sa = 0.0f, sb = 0.0f;
  // Every element of gz is read before gx (which may alias it) is written, by the same thread.
  detail::vec_loops(
      n, nvec,
      [&](int64_t e) {
        float g[detail::kVec], xv[detail::kVec], x0v[detail::kVec], acc[detail::kVec];
        detail::load8(gz + e, g);
        detail::load8(x + e, xv);
        detail::load8(x0 + e, x0v);
        detail::load8(gx0 + e, acc);
#pragma unroll
        for (int j = 0; j < detail::kVec; ++j) {
          sa += g[j] * xv[j];
          sb += g[j] * x0v[j];
          acc[j] += b * g[j];
          g[j] *= a;
        }
        detail::store8(gx0 + e, acc);
        detail::store8(gx + e, g);
      },
      [&](int64_t i) {
        const float g = detail::load(gz[i]);
        sa += g * detail::load(x[i]);
        sb += g * detail::load(x0[i]);
        gx0[i] += b * g;
        gx[i] = detail::to_bf16(a * g);
      });
  sa = detail::block_sum(sa, scratch);
  sb = detail::block_sum(sb, scratch);
  if (threadIdx.x == 0) {
    partials[blockIdx.x] = sa;
    partials[detail::kPartials + blockIdx.x] = sb;
  }
}

template <class Y, class X>
__global__ void axpy_kernel(Y* y, float a, const X* x, int64_t n, int64_t nvec) {
  detail::vec_loops(
      n, nvec,
      [&](int64_t e) {
        float yv[detail::kVec], xv[detail::kVec];
        detail::load8(y + e, yv);
        detail::load8(x + e, xv);
#pragma unroll
        for (int j = 0; j < detail::kVec; ++j) yv[j] += a * xv[j];
        detail::store8(y + e, yv);
      },
      [&](int64_t i) { store(y[i], widen(y[i]) + a * widen(x[i])); });
}

__global__ void scale_kernel(bf16* y, const bf16* x, float a, int64_t n, int64_t nvec) {
  detail::vec_loops(
      n, nvec,
      [&](int64_t e) {
        float v[detail::kVec];
        detail::load8(x + e, v);
#pragma unroll
        for (int j = 0; j < detail::kVec; ++j) v[j] *= a;
        detail::store8(y + e, v);
      },
      [&](int64_t i) { y[i] = detail::to_bf16(a * detail::load(x[i])); });
}

__global__ void cast_kernel(bf16* y, const float* x, int64_t n, int64_t nvec) {
  detail::vec_loops(
      n, nvec,
      [&](int64_t e) {
        float v[detail::kVec];
        detail::load8(x + e, v);
        detail::store8(y + e, v);
      },
      [&](int64_t i) { y[i] = detail::to_bf16(x[i]); });
}

unsigned grid_for_vectors(int64_t n, int64_t nvec) { return detail::grid_for(nvec > 0 ? nvec : n, kThreads); }

__global__ void count_non_finite_kernel(int* count, const float* x, int64_t n) {
  int local = 0;
  NC_GRID_STRIDE(i, n) local += isfinite(x[i]) ? 0 : 1;
  local = __reduce_add_sync(0xffffffffu, local);
  if ((threadIdx.x & 31) == 0 && local != 0) atomicAdd(count, local);  // an integer count: order-free
}

#undef NC_GRID_STRIDE

constexpr int kSumThreads = 1024;
__global__ void scaled_sum_kernel(float* out, const float* x, int64_t n, float scale) {
  __shared__ float scratch[32];
  float s = 0.0f;
  for (int64_t i = threadIdx.x; i < n; i += kSumThreads) s += x[i];
  s = detail::block_sum(s, scratch);
  if (threadIdx.x == 0) *out = scale * s;
}

template <class Y, class X>
void launch_axpy(Y* y, float a, const X* x, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  const int64_t nvec = detail::vectors_for(n, {y, x});
  axpy_kernel<<<grid_for_vectors(n, nvec), kThreads, 0, stream>>>(y, a, x, n, nvec);
  NC_CUDA_CHECK_LAUNCH();
}

}  // namespace

void residual_mix_forward(bf16* z, const bf16* x, const bf16* x0, ScalarParam alpha, ScalarParam beta, int64_t n,
                          cudaStream_t stream) {
  if (n <= 0) return;
  const int64_t nvec = detail::vectors_for(n, {z, x, x0});
  residual_mix_forward_kernel<<<grid_for_vectors(n, nvec), kThreads, 0, stream>>>(z, x, x0, alpha, beta, n, nvec);
  NC_CUDA_CHECK_LAUNCH();
}

void residual_mix_backward(bf16* gx, float* gx0, float* g_alpha, float* g_beta, const bf16* gz, const bf16* x,
                           const bf16* x0, ScalarParam alpha, ScalarParam beta, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  detail::StreamScratch partials(2 * detail::kPartials * sizeof(float), stream);
  const int64_t nvec = detail::vectors_for(n, {gx, gx0, gz, x, x0});
  residual_mix_backward_kernel<<<detail::kPartials, kThreads, 0, stream>>>(gx, gx0, partials.floats(), gz, x, x0,
                                                                           alpha, beta, n, nvec);
  NC_CUDA_CHECK_LAUNCH();
  // d/d(*alpha.ptr) = alpha.scale * sum(gz*x): the gradient of the stored parameter.
  if (g_alpha != nullptr) detail::finish_partials(g_alpha, partials.floats(), 1, alpha.scale, stream);
  if (g_beta != nullptr) detail::finish_partials(g_beta, partials.floats(detail::kPartials), 1, beta.scale, stream);
}

void add_inplace(bf16* y, const bf16* x, int64_t n, cudaStream_t stream) { launch_axpy(y, 1.0f, x, n, stream); }
void add_inplace(float* y, const bf16* x, int64_t n, cudaStream_t stream) { launch_axpy(y, 1.0f, x, n, stream); }
void add_inplace(bf16* y, const float* x, int64_t n, cudaStream_t stream) { launch_axpy(y, 1.0f, x, n, stream); }
void axpy(float* y, float a, const float* x, int64_t n, cudaStream_t stream) { launch_axpy(y, a, x, n, stream); }

void scale(bf16* y, const bf16* x, float a, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  const int64_t nvec = detail::vectors_for(n, {y, x});
  scale_kernel<<<grid_for_vectors(n, nvec), kThreads, 0, stream>>>(y, x, a, n, nvec);
  NC_CUDA_CHECK_LAUNCH();
}

void cast_to_bf16(bf16* y, const float* x, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  const int64_t nvec = detail::vectors_for(n, {y, x});
  cast_kernel<<<grid_for_vectors(n, nvec), kThreads, 0, stream>>>(y, x, n, nvec);
  NC_CUDA_CHECK_LAUNCH();
}

void count_non_finite(int* count, const float* x, int64_t n, cudaStream_t stream) {
  NC_CUDA_CHECK(cudaMemsetAsync(count, 0, sizeof(int), stream));
  if (n <= 0) return;
  count_non_finite_kernel<<<detail::grid_for(n, kThreads, 4096), kThreads, 0, stream>>>(count, x, n);
  NC_CUDA_CHECK_LAUNCH();
}

void scaled_sum(float* out, const float* x, int64_t n, float scale, cudaStream_t stream) {
  scaled_sum_kernel<<<1, kSumThreads, 0, stream>>>(out, x, n, scale);
  NC_CUDA_CHECK_LAUNCH();
}

}  // namespace nanochat::kernels::cuda
