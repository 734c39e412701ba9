// RMSNorm without a weight (spec §3.1.1, backward §4.2), fp32 sums. Rows of n = 8k <= 2048 elements
// with 16-byte aligned data take the fast path: one warp per row holding the row in registers as
// 16-byte vectors (C = 1280: 5 per lane), so each input is read once. Other shapes use one block per
// row. The residual-blend fusions (the lambda mix before a norm, the mix's backward after a norm's)
// share the fast path; where it does not apply they run as the separate ops.
#include "nanochat/kernels/cuda/check.h"
#include "nanochat/kernels/cuda/device_math.cuh"
#include "nanochat/kernels/cuda/ops.h"
#include "nanochat/kernels/cuda/reduce.h"
#include "nanochat/kernels/ops.h"

#include <type_traits>

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

// ---- The warp-per-row fast path ----
constexpr int kMaxVecPerLane = 8;  // rows up to 32 lanes x 8 vectors x 8 = 2048 elements
constexpr int kWarps = kThreads / 32;

using detail::value_of;

// Lane `lane`'s vectors of a row: vector index lane + 32k for k < VPL; missing ones read as zeros
// (they add nothing to any sum and are never stored).
template <int VPL>
__device__ __forceinline__ void load_row(uint4 (&raw)[VPL], const bf16* row, int nvec, int lane) {
#pragma unroll
  for (int k = 0; k < VPL; ++k) {
    const int v = lane + 32 * k;
    raw[k] = v < nvec ? detail::load_raw8(row + v * detail::kVec) : make_uint4(0, 0, 0, 0);
  }
}

// y = bf16(z * rstd). kMix: z = bf16(alpha*x + beta*x0) is formed first (stored, then normalised
// from its rounded value, as residual_mix_forward followed by rmsnorm_forward). y may alias x.
template <int VPL, bool kMix>
__global__ void __launch_bounds__(kThreads) rmsnorm_forward_warp_kernel(bf16* z, bf16* y, float* rstd, const bf16* x,
                                                                        const bf16* x0, ScalarParam alpha,
                                                                        ScalarParam beta, int64_t rows, int n) {
  const int64_t r = blockIdx.x * int64_t{kWarps} + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (r >= rows) return;  // whole warps leave together; no block-wide barrier follows
  const int nvec = n / detail::kVec;
  uint4 raw[VPL];
  load_row<VPL>(raw, x + r * n, nvec, lane);
  if constexpr (kMix) {
    uint4 raw0[VPL];
    load_row<VPL>(raw0, x0 + r * n, nvec, lane);
    const float a = value_of(alpha), b = value_of(beta);
#pragma unroll
    for (int k = 0; k < VPL; ++k) {
      const int v = lane + 32 * k;
      if (v >= nvec) continue;
      float xv[detail::kVec], x0v[detail::kVec];
      detail::unpack8(raw[k], xv);
      detail::unpack8(raw0[k], x0v);
#pragma unroll
      for (int j = 0; j < detail::kVec; ++j) xv[j] = a * xv[j] + b * x0v[j];
      raw[k] = detail::pack8(xv);  // the rounded z: stored, and normalised below
      detail::store_raw8(z + r * n + v * detail::kVec, raw[k]);
    }
  }
  float ss = 0.0f;
#pragma unroll
  for (int k = 0; k < VPL; ++k) {
    float xv[detail::kVec];
    detail::unpack8(raw[k], xv);
#pragma unroll
    for (int j = 0; j < detail::kVec; ++j) ss += xv[j] * xv[j];
  }
  ss = detail::warp_sum(ss);
  const float rs = 1.0f / sqrtf(ss / static_cast<float>(n) + kEps);
  if (rstd != nullptr && lane == 0) rstd[r] = rs;
#pragma unroll
  for (int k = 0; k < VPL; ++k) {
    const int v = lane + 32 * k;
    if (v >= nvec) continue;
    float xv[detail::kVec];
    detail::unpack8(raw[k], xv);
#pragma unroll
    for (int j = 0; j < detail::kVec; ++j) xv[j] *= rs;
    detail::store8(y + r * n + v * detail::kVec, xv);
  }
}

// gx (=|+=) rstd*(gy - y*mean(gy*y)), rounded once. kMix: then residual_mix_backward on the rounded
// result in place: gx = bf16(alpha*g), gx0 += beta*g (fp32), and the sums of g*x and g*x0 go to
// per-block partials (a fixed grid of kPartials blocks striding over the rows, so every partial
// covers the same rows in the same order on every run).
template <int VPL, bool kMix>
__global__ void __launch_bounds__(kThreads) rmsnorm_backward_warp_kernel(
    bf16* gx, float* gx0, float* partials, const bf16* gy, const bf16* y, const float* rstd, bool accumulate,
    const bf16* x, const bf16* x0, ScalarParam alpha, ScalarParam beta, int64_t rows, int n) {
  const int lane = threadIdx.x & 31;
  const int nvec = n / detail::kVec;
  const int64_t first = blockIdx.x * int64_t{kWarps} + (threadIdx.x >> 5);
  const int64_t step = kMix ? int64_t{gridDim.x} * kWarps : rows;  // without the mix: one row per warp
  float sa = 0.0f, sb = 0.0f;
  const float a = kMix ? value_of(alpha) : 0.0f, b = kMix ? value_of(beta) : 0.0f;
  for (int64_t r = first; r < rows; r += step) {
    // Every load of the row is issued before the reduction: a row's whole traffic is in flight at once.
    uint4 rgy[VPL], ry[VPL], rold[VPL], rx[VPL], rx0[VPL];
    load_row<VPL>(rgy, gy + r * n, nvec, lane);
    load_row<VPL>(ry, y + r * n, nvec, lane);
    if (accumulate) load_row<VPL>(rold, gx + r * n, nvec, lane);
    if constexpr (kMix) {
      load_row<VPL>(rx, x + r * n, nvec, lane);
      load_row<VPL>(rx0, x0 + r * n, nvec, lane);
    }
    float dot = 0.0f;
#pragma unroll
    for (int k = 0; k < VPL; ++k) {
      float g[detail::kVec], yv[detail::kVec];
      detail::unpack8(rgy[k], g);
      detail::unpack8(ry[k], yv);
#pragma unroll
      for (int j = 0; j < detail::kVec; ++j) dot += g[j] * yv[j];
    }
    const float mean = detail::warp_sum(dot) / static_cast<float>(n);
    const float rs = rstd[r];
#pragma unroll
    for (int k = 0; k < VPL; ++k) {
      const int v = lane + 32 * k;
      if (v >= nvec) continue;
      const int64_t e = r * n + v * detail::kVec;
      float g[detail::kVec], yv[detail::kVec];
      detail::unpack8(rgy[k], g);
      detail::unpack8(ry[k], yv);
#pragma unroll
      for (int j = 0; j < detail::kVec; ++j) g[j] = rs * (g[j] - yv[j] * mean);
      if (accumulate) {
        float old[detail::kVec];
        detail::unpack8(rold[k], old);
#pragma unroll
        for (int j = 0; j < detail::kVec; ++j) g[j] += old[j];
      }
      if constexpr (kMix) {
        float xv[detail::kVec], x0v[detail::kVec], acc[detail::kVec];
        detail::unpack8(rx[k], xv);
        detail::unpack8(rx0[k], x0v);
        detail::load8(gx0 + e, acc);
#pragma unroll
        for (int j = 0; j < detail::kVec; ++j) {
          const float gr = ::nanochat::bf16::round(g[j]);  // the norm's bf16 output gradient
          sa += gr * xv[j];
          sb += gr * x0v[j];
          acc[j] += b * gr;
          g[j] = a * gr;
        }
        detail::store8(gx0 + e, acc);
      }
      detail::store8(gx + e, g);
    }
  }
  if constexpr (kMix) {
    __shared__ float scratch[32];
    sa = detail::block_sum(sa, scratch);
    sb = detail::block_sum(sb, scratch);
    if (threadIdx.x == 0) {
      partials[blockIdx.x] = sa;
      partials[detail::kPartials + blockIdx.x] = sb;
    }
  }
}

// Vectors per lane for the fast path, or 0 where it does not apply.
int vec_per_lane(int64_t n, std::initializer_list<const void*> ptrs) {
  if (n % detail::kVec != 0 || n > int64_t{32} * kMaxVecPerLane * detail::kVec) return 0;
  if (detail::vectors_for(n, ptrs) == 0) return 0;
  return static_cast<int>((n / detail::kVec + 31) / 32);
}

// Calls f(std::integral_constant<int, VPL>) for VPL in [1, kMaxVecPerLane].
template <class F>
void with_vec_per_lane(int vpl, F&& f) {
  switch (vpl) {
    case 1: f(std::integral_constant<int, 1>{}); break;
    case 2: f(std::integral_constant<int, 2>{}); break;
    case 3: f(std::integral_constant<int, 3>{}); break;
    case 4: f(std::integral_constant<int, 4>{}); break;
    case 5: f(std::integral_constant<int, 5>{}); break;
    case 6: f(std::integral_constant<int, 6>{}); break;
    case 7: f(std::integral_constant<int, 7>{}); break;
    default: f(std::integral_constant<int, 8>{}); break;
  }
}

unsigned warp_rows_grid(int64_t rows) { return detail::grid_for(rows, kWarps, (int64_t{1} << 31) - 1); }

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
  if (const int vpl = vec_per_lane(n, {y, x}); vpl > 0) {
    with_vec_per_lane(vpl, [&](auto c) {
      rmsnorm_forward_warp_kernel<decltype(c)::value, false><<<warp_rows_grid(rows), kThreads, 0, stream>>>(
          nullptr, y, rstd, x, nullptr, ScalarParam{}, ScalarParam{}, rows, static_cast<int>(n));
    });
  } else {
    rmsnorm_forward_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(y, rstd, x, n);
  }
  NC_CUDA_CHECK_LAUNCH();
}

void rmsnorm_backward(bf16* gx, const bf16* gy, const bf16* y, const float* rstd, int64_t rows, int64_t n,
                      bool accumulate, cudaStream_t stream) {
  if (rows <= 0 || n <= 0) return;
  if (const int vpl = vec_per_lane(n, {gx, gy, y}); vpl > 0) {
    with_vec_per_lane(vpl, [&](auto c) {
      rmsnorm_backward_warp_kernel<decltype(c)::value, false><<<warp_rows_grid(rows), kThreads, 0, stream>>>(
          gx, nullptr, nullptr, gy, y, rstd, accumulate, nullptr, nullptr, ScalarParam{}, ScalarParam{}, rows,
          static_cast<int>(n));
    });
  } else {
    rmsnorm_backward_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(gx, gy, y, rstd, n, accumulate);
  }
  NC_CUDA_CHECK_LAUNCH();
}

void residual_mix_rmsnorm_forward(bf16* z, bf16* y, float* rstd, const bf16* x, const bf16* x0, ScalarParam alpha,
                                  ScalarParam beta, int64_t rows, int64_t n, cudaStream_t stream) {
  if (rows <= 0 || n <= 0) return;
  const int vpl = vec_per_lane(n, {z, y, x, x0});
  if (vpl == 0) {
    residual_mix_forward(z, x, x0, alpha, beta, rows * n, stream);
    rmsnorm_forward(y, rstd, z, rows, n, stream);
    return;
  }
  with_vec_per_lane(vpl, [&](auto c) {
    rmsnorm_forward_warp_kernel<decltype(c)::value, true><<<warp_rows_grid(rows), kThreads, 0, stream>>>(
        z, y, rstd, x, x0, alpha, beta, rows, static_cast<int>(n));
  });
  NC_CUDA_CHECK_LAUNCH();
}

void rmsnorm_residual_mix_backward(bf16* g, float* gx0, float* g_alpha, float* g_beta, const bf16* gy, const bf16* y,
                                   const float* rstd, bool accumulate, const bf16* x, const bf16* x0,
                                   ScalarParam alpha, ScalarParam beta, int64_t rows, int64_t n,
                                   cudaStream_t stream) {
  if (rows <= 0 || n <= 0) return;
  const int vpl = vec_per_lane(n, {g, gx0, gy, y, x, x0});
  if (vpl == 0) {
    rmsnorm_backward(g, gy, y, rstd, rows, n, accumulate, stream);
    residual_mix_backward(g, gx0, g_alpha, g_beta, g, x, x0, alpha, beta, rows * n, stream);
    return;
  }
  detail::StreamScratch partials(2 * detail::kPartials * sizeof(float), stream);
  with_vec_per_lane(vpl, [&](auto c) {
    rmsnorm_backward_warp_kernel<decltype(c)::value, true><<<detail::kPartials, kThreads, 0, stream>>>(
        g, gx0, partials.floats(), gy, y, rstd, accumulate, x, x0, alpha, beta, rows, static_cast<int>(n));
  });
  NC_CUDA_CHECK_LAUNCH();
  if (g_alpha != nullptr) detail::finish_partials(g_alpha, partials.floats(), 1, alpha.scale, stream);
  if (g_beta != nullptr) detail::finish_partials(g_beta, partials.floats(detail::kPartials), 1, beta.scale, stream);
}

}  // namespace nanochat::kernels::cuda
