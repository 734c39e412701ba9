// Rotary embeddings and the QK norm of one head row, fused (spec §3.1.4-3.1.5, §3.2 step 5a): d/16
// lanes per (token, head) row of d = 64, 128 or 256 elements, in place, each element read and written
// once. The arithmetic is that of the separate ops (rotary.cu, norm.cu): rotation in fp32 rounded to
// bf16, then the norm of the rounded values, rounded once. Other head sizes run the separate ops.
#include "nanochat/kernels/cuda/check.h"
#include "nanochat/kernels/cuda/device_math.cuh"
#include "nanochat/kernels/cuda/ops.h"
#include "nanochat/kernels/ops.h"

namespace nanochat::kernels::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr float kEps = static_cast<float>(kernels::cpu::kRmsNormEps);

// A row's two halves are read as 16-byte vectors: lane `sub` of the row's kLanes = d/16 lanes holds
// elements [8 sub, 8 sub + 8) of each half, so the rotation partner is in the same lane, and a warp
// holds 32/kLanes rows at once. Each warp takes kPasses such groups of rows and requests everything it
// reads (rows, then angles and rstd) before any arithmetic. With 2- to 8-byte accesses, one row per warp
// at a time and the angles read inside the per-row loop, ncu measured the forward at 1.4 TB/s and the
// backward at 2.0 (H100, d12 step).
constexpr int kPasses = 2;

template <int D>
struct RowLayout {
  static constexpr int half = D / 2, lanes = half / detail::kVec, rows_per_pass = 32 / lanes;
  static constexpr int rows_per_warp = rows_per_pass * kPasses;
};

// The 8 cos and sin values of position `pos` for elements [j0, j0 + 8) of a half.
__device__ __forceinline__ void load_angles(const float* cos, const float* sin, int64_t pos, int half, int j0,
                                            float (&c)[detail::kVec], float (&s)[detail::kVec]) {
  detail::load8(cos + pos * half + j0, c);
  detail::load8(sin + pos * half + j0, s);
}

// Sum over the kLanes lanes of a row (xor offsets below kLanes stay inside the lane group).
template <int kLanes>
__device__ __forceinline__ float row_sum(float v) {
#pragma unroll
  for (int off = kLanes / 2; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

// x = (norm(bf16(rotate(x))) * rstd) * scale, rotation by -theta: (x1 c + x2 s, x2 c - x1 s).
template <int D>
__global__ void __launch_bounds__(kThreads) rope_norm_forward_kernel(bf16* x, float* rstd, const float* cos,
                                                                     const float* sin, int64_t rows, int64_t T,
                                                                     int64_t heads, int64_t pos0, float scale) {
  using L = RowLayout<D>;
  constexpr int kV = detail::kVec;
  const int lane = threadIdx.x & 31, sub = lane % L::lanes, j0 = sub * kV;
  const int64_t base = (blockIdx.x * int64_t{kWarps} + (threadIdx.x >> 5)) * L::rows_per_warp + lane / L::lanes;
  float x1[kPasses][kV], x2[kPasses][kV], cs[kPasses][kV], sn[kPasses][kV];
#pragma unroll
  for (int q = 0; q < kPasses; ++q) {
    const int64_t r = base + q * L::rows_per_pass;
    if (r < rows) {
      detail::load8(x + r * D + j0, x1[q]);
      detail::load8(x + r * D + L::half + j0, x2[q]);
    }
  }
#pragma unroll
  for (int q = 0; q < kPasses; ++q) {
    const int64_t r = base + q * L::rows_per_pass;
    if (r < rows) load_angles(cos, sin, pos0 + (r / heads) % T, L::half, j0, cs[q], sn[q]);
  }
#pragma unroll
  for (int q = 0; q < kPasses; ++q) {
    const int64_t r = base + q * L::rows_per_pass;
    const bool valid = r < rows;  // lanes of a row agree; shuffles below need every lane
    float ss = 0.0f;
    if (valid) {
#pragma unroll
      for (int i = 0; i < kV; ++i) {
        const float a = ::nanochat::bf16::round(x1[q][i] * cs[q][i] + x2[q][i] * sn[q][i]);
        const float b = ::nanochat::bf16::round(x2[q][i] * cs[q][i] - x1[q][i] * sn[q][i]);
        x1[q][i] = a;
        x2[q][i] = b;
        ss += a * a + b * b;
      }
    }
    ss = row_sum<L::lanes>(ss);
    if (!valid) continue;
    const float rs = 1.0f / sqrtf(ss / static_cast<float>(D) + kEps);
    if (rstd != nullptr && sub == 0) rstd[r] = rs;
#pragma unroll
    for (int i = 0; i < kV; ++i) {
      x1[q][i] = (x1[q][i] * rs) * scale;
      x2[q][i] = (x2[q][i] * rs) * scale;
    }
    detail::store8(x + r * D + j0, x1[q]);
    detail::store8(x + r * D + L::half + j0, x2[q]);
  }
}

// g = rotate_back(bf16(rstd*(scale*g - out*mean(g*out)/scale))), the transpose rotation (by +theta).
template <int D>
__global__ void __launch_bounds__(kThreads) norm_rope_backward_kernel(bf16* g, const bf16* out, const float* rstd,
                                                                      const float* cos, const float* sin,
                                                                      int64_t rows, int64_t T, int64_t heads,
                                                                      int64_t pos0, float scale) {
  using L = RowLayout<D>;
  constexpr int kV = detail::kVec;
  const int lane = threadIdx.x & 31, sub = lane % L::lanes, j0 = sub * kV;
  const int64_t base = (blockIdx.x * int64_t{kWarps} + (threadIdx.x >> 5)) * L::rows_per_warp + lane / L::lanes;
  float g1[kPasses][kV], g2[kPasses][kV], o1[kPasses][kV], o2[kPasses][kV], cs[kPasses][kV], sn[kPasses][kV];
  float rs[kPasses];
#pragma unroll
  for (int q = 0; q < kPasses; ++q) {
    const int64_t r = base + q * L::rows_per_pass;
    if (r < rows) {
      detail::load8(g + r * D + j0, g1[q]);
      detail::load8(g + r * D + L::half + j0, g2[q]);
      detail::load8(out + r * D + j0, o1[q]);
      detail::load8(out + r * D + L::half + j0, o2[q]);
    }
  }
#pragma unroll
  for (int q = 0; q < kPasses; ++q) {
    const int64_t r = base + q * L::rows_per_pass;
    if (r < rows) {
      load_angles(cos, sin, pos0 + (r / heads) % T, L::half, j0, cs[q], sn[q]);
      rs[q] = rstd[r];
    }
  }
#pragma unroll
  for (int q = 0; q < kPasses; ++q) {
    const int64_t r = base + q * L::rows_per_pass;
    const bool valid = r < rows;
    float dot = 0.0f;
    if (valid) {
#pragma unroll
      for (int i = 0; i < kV; ++i) dot += g1[q][i] * o1[q][i] + g2[q][i] * o2[q][i];
    }
    const float mean = row_sum<L::lanes>(dot) / static_cast<float>(D) / scale;
    if (!valid) continue;
#pragma unroll
    for (int i = 0; i < kV; ++i) {
      const float a = ::nanochat::bf16::round(rs[q] * (scale * g1[q][i] - o1[q][i] * mean));
      const float b = ::nanochat::bf16::round(rs[q] * (scale * g2[q][i] - o2[q][i] * mean));
      const float c = cs[q][i], s = -sn[q][i];
      g1[q][i] = a * c + b * s;
      g2[q][i] = b * c - a * s;
    }
    detail::store8(g + r * D + j0, g1[q]);
    detail::store8(g + r * D + L::half + j0, g2[q]);
  }
}

// Whether the fused path applies (head size, 16-byte alignment of every operand).
bool fused_path(int64_t d, std::initializer_list<const void*> ptrs) {
  for (const void* p : ptrs)
    if (p != nullptr && !detail::aligned16(p)) return false;
  return d == 64 || d == 128 || d == 256;
}

template <int D>
unsigned grid_for_rows(int64_t rows) {
  constexpr int64_t per_warp = RowLayout<D>::rows_per_warp;
  return detail::grid_for((rows + per_warp - 1) / per_warp, kWarps, (int64_t{1} << 31) - 1);
}

}  // namespace

void rotary_scaled_rmsnorm_forward(bf16* x, float* rstd, const float* cos, const float* sin, int64_t B, int64_t T,
                                   int64_t heads, int64_t d, int64_t pos0, float scale, cudaStream_t stream) {
  const int64_t rows = B * T * heads;
  if (rows <= 0 || d <= 0) return;
  if (!fused_path(d, {x, cos, sin})) {
    rotary_forward(x, cos, sin, B, T, heads, d, pos0, stream);
    scaled_rmsnorm_forward(x, rstd, rows, d, scale, stream);
    return;
  }
  if (d == 64)
    rope_norm_forward_kernel<64><<<grid_for_rows<64>(rows), kThreads, 0, stream>>>(x, rstd, cos, sin, rows, T, heads,
                                                                                   pos0, scale);
  if (d == 128)
    rope_norm_forward_kernel<128><<<grid_for_rows<128>(rows), kThreads, 0, stream>>>(x, rstd, cos, sin, rows, T,
                                                                                     heads, pos0, scale);
  if (d == 256)
    rope_norm_forward_kernel<256><<<grid_for_rows<256>(rows), kThreads, 0, stream>>>(x, rstd, cos, sin, rows, T,
                                                                                     heads, pos0, scale);
  NC_CUDA_CHECK_LAUNCH();
}

void scaled_rmsnorm_rotary_backward(bf16* g, const bf16* out, const float* rstd, const float* cos, const float* sin,
                                    int64_t B, int64_t T, int64_t heads, int64_t d, int64_t pos0, float scale,
                                    cudaStream_t stream) {
  const int64_t rows = B * T * heads;
  if (rows <= 0 || d <= 0) return;
  if (!fused_path(d, {g, out, cos, sin})) {
    scaled_rmsnorm_backward(g, out, rstd, rows, d, scale, stream);
    rotary_backward(g, cos, sin, B, T, heads, d, pos0, stream);
    return;
  }
  if (d == 64)
    norm_rope_backward_kernel<64><<<grid_for_rows<64>(rows), kThreads, 0, stream>>>(g, out, rstd, cos, sin, rows, T,
                                                                                    heads, pos0, scale);
  if (d == 128)
    norm_rope_backward_kernel<128><<<grid_for_rows<128>(rows), kThreads, 0, stream>>>(g, out, rstd, cos, sin, rows, T,
                                                                                      heads, pos0, scale);
  if (d == 256)
    norm_rope_backward_kernel<256><<<grid_for_rows<256>(rows), kThreads, 0, stream>>>(g, out, rstd, cos, sin, rows, T,
                                                                                      heads, pos0, scale);
  NC_CUDA_CHECK_LAUNCH();
}

}  // namespace nanochat::kernels::cuda
