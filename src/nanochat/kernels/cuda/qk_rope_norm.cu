// Rotary embeddings and the QK norm of one head row, fused (spec §3.1.4-3.1.5, §3.2 step 5a): one
// warp per (token, head) row of d = 64, 128 or 256 elements, in place. Lane l holds the pairs
// j in [P*l, P*l + P) of both halves (P = d/64), so the rotation's partner is in the same lane and
// each element is read and written once. The arithmetic is that of the separate ops (rotary.cu,
// norm.cu): rotation in fp32 rounded to bf16, then the norm of the rounded values, rounded once.
// Other head sizes run the separate ops.
#include "nanochat/kernels/cuda/check.h"
#include "nanochat/kernels/cuda/device_math.cuh"
#include "nanochat/kernels/cuda/ops.h"
#include "nanochat/kernels/ops.h"

namespace nanochat::kernels::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr float kEps = static_cast<float>(kernels::cpu::kRmsNormEps);

// P consecutive bf16 as one 2-, 4- or 8-byte access.
template <int P>
struct RawOf;
template <>
struct RawOf<1> {
  using type = uint16_t;
};
template <>
struct RawOf<2> {
  using type = uint32_t;
};
template <>
struct RawOf<4> {
  using type = uint2;
};

template <int P>
__device__ __forceinline__ void load_p(const bf16* p, float (&v)[P]) {
  const typename RawOf<P>::type raw = *reinterpret_cast<const typename RawOf<P>::type*>(p);
  const uint16_t* h = reinterpret_cast<const uint16_t*>(&raw);
#pragma unroll
  for (int i = 0; i < P; ++i) v[i] = ::nanochat::bf16::to_float(h[i]);
}

template <int P>
__device__ __forceinline__ void store_p(bf16* p, const float (&v)[P]) {
  typename RawOf<P>::type raw;
  uint16_t* h = reinterpret_cast<uint16_t*>(&raw);
#pragma unroll
  for (int i = 0; i < P; ++i) h[i] = ::nanochat::bf16::from_float(v[i]);
  *reinterpret_cast<typename RawOf<P>::type*>(p) = raw;
}

// Each warp takes kRowsPerWarp consecutive rows and issues all their loads before any arithmetic,
// so enough bytes are in flight per SM (a row is only 256 bytes at d = 128).
constexpr int kRowsPerWarp = 4;

// x = (norm(bf16(rotate(x))) * rstd) * scale, rotation by -theta: (x1 c + x2 s, x2 c - x1 s).
template <int P>
__global__ void __launch_bounds__(kThreads) rope_norm_forward_kernel(bf16* x, float* rstd, const float* cos,
                                                                     const float* sin, int64_t rows, int64_t T,
                                                                     int64_t heads, int64_t pos0, float scale) {
  constexpr int half = 32 * P, d = 2 * half;
  const int64_t r0 = (blockIdx.x * int64_t{kWarps} + (threadIdx.x >> 5)) * kRowsPerWarp;
  const int lane = threadIdx.x & 31;
  const int j0 = lane * P;
  float x1[kRowsPerWarp][P], x2[kRowsPerWarp][P];
#pragma unroll
  for (int q = 0; q < kRowsPerWarp; ++q) {
    if (r0 + q >= rows) break;  // uniform across the warp
    load_p<P>(x + (r0 + q) * d + j0, x1[q]);
    load_p<P>(x + (r0 + q) * d + half + j0, x2[q]);
  }
#pragma unroll
  for (int q = 0; q < kRowsPerWarp; ++q) {
    const int64_t r = r0 + q;
    if (r >= rows) break;
    const int64_t t = (r / heads) % T;
    const float* cr = cos + (pos0 + t) * half + j0;
    const float* sr = sin + (pos0 + t) * half + j0;
    float ss = 0.0f;
#pragma unroll
    for (int i = 0; i < P; ++i) {
      const float c = cr[i], s = sr[i];
      const float a = ::nanochat::bf16::round(x1[q][i] * c + x2[q][i] * s);
      const float b = ::nanochat::bf16::round(x2[q][i] * c - x1[q][i] * s);
      x1[q][i] = a;
      x2[q][i] = b;
      ss += a * a + b * b;
    }
    ss = detail::warp_sum(ss);
    const float rs = 1.0f / sqrtf(ss / static_cast<float>(d) + kEps);
    if (rstd != nullptr && lane == 0) rstd[r] = rs;
#pragma unroll
    for (int i = 0; i < P; ++i) {
      x1[q][i] = (x1[q][i] * rs) * scale;
      x2[q][i] = (x2[q][i] * rs) * scale;
    }
    store_p<P>(x + r * d + j0, x1[q]);
    store_p<P>(x + r * d + half + j0, x2[q]);
  }
}

// g = rotate_back(bf16(rstd*(scale*g - out*mean(g*out)/scale))), the transpose rotation (by +theta).
template <int P>
__global__ void __launch_bounds__(kThreads) norm_rope_backward_kernel(bf16* g, const bf16* out, const float* rstd,
                                                                      const float* cos, const float* sin,
                                                                      int64_t rows, int64_t T, int64_t heads,
                                                                      int64_t pos0, float scale) {
  constexpr int half = 32 * P, d = 2 * half;
  const int64_t r0 = (blockIdx.x * int64_t{kWarps} + (threadIdx.x >> 5)) * kRowsPerWarp;
  const int lane = threadIdx.x & 31;
  const int j0 = lane * P;
  float g1[kRowsPerWarp][P], g2[kRowsPerWarp][P], o1[kRowsPerWarp][P], o2[kRowsPerWarp][P];
#pragma unroll
  for (int q = 0; q < kRowsPerWarp; ++q) {
    if (r0 + q >= rows) break;
    const int64_t off = (r0 + q) * d + j0;
    load_p<P>(g + off, g1[q]);
    load_p<P>(g + off + half, g2[q]);
    load_p<P>(out + off, o1[q]);
    load_p<P>(out + off + half, o2[q]);
  }
#pragma unroll
  for (int q = 0; q < kRowsPerWarp; ++q) {
    const int64_t r = r0 + q;
    if (r >= rows) break;
    float dot = 0.0f;
#pragma unroll
    for (int i = 0; i < P; ++i) dot += g1[q][i] * o1[q][i] + g2[q][i] * o2[q][i];
    const float mean = detail::warp_sum(dot) / static_cast<float>(d) / scale;
    const float rs = rstd[r];
    const int64_t t = (r / heads) % T;
    const float* cr = cos + (pos0 + t) * half + j0;
    const float* sr = sin + (pos0 + t) * half + j0;
#pragma unroll
    for (int i = 0; i < P; ++i) {
      const float a = ::nanochat::bf16::round(rs * (scale * g1[q][i] - o1[q][i] * mean));
      const float b = ::nanochat::bf16::round(rs * (scale * g2[q][i] - o2[q][i] * mean));
      const float c = cr[i], s = -sr[i];
      g1[q][i] = a * c + b * s;
      g2[q][i] = b * c - a * s;
    }
    store_p<P>(g + r * d + j0, g1[q]);
    store_p<P>(g + r * d + half + j0, g2[q]);
  }
}

// Pairs per lane for the fused path, or 0 where it does not apply (head size, alignment).
int pairs_per_lane(int64_t d, std::initializer_list<const void*> ptrs) {
  for (const void* p : ptrs)
    if (p != nullptr && !detail::aligned16(p)) return 0;
  return d == 64 ? 1 : d == 128 ? 2 : d == 256 ? 4 : 0;
}

unsigned grid_for_rows(int64_t rows) {
  return detail::grid_for((rows + kRowsPerWarp - 1) / kRowsPerWarp, kWarps, (int64_t{1} << 31) - 1);
}

}  // namespace

void rotary_scaled_rmsnorm_forward(bf16* x, float* rstd, const float* cos, const float* sin, int64_t B, int64_t T,
                                   int64_t heads, int64_t d, int64_t pos0, float scale, cudaStream_t stream) {
  const int64_t rows = B * T * heads;
  if (rows <= 0 || d <= 0) return;
  const int p = pairs_per_lane(d, {x, cos, sin});
  if (p == 0) {
    rotary_forward(x, cos, sin, B, T, heads, d, pos0, stream);
    scaled_rmsnorm_forward(x, rstd, rows, d, scale, stream);
    return;
  }
  const unsigned grid = grid_for_rows(rows);
  if (p == 1) rope_norm_forward_kernel<1><<<grid, kThreads, 0, stream>>>(x, rstd, cos, sin, rows, T, heads, pos0, scale);
  if (p == 2) rope_norm_forward_kernel<2><<<grid, kThreads, 0, stream>>>(x, rstd, cos, sin, rows, T, heads, pos0, scale);
  if (p == 4) rope_norm_forward_kernel<4><<<grid, kThreads, 0, stream>>>(x, rstd, cos, sin, rows, T, heads, pos0, scale);
  NC_CUDA_CHECK_LAUNCH();
}

void scaled_rmsnorm_rotary_backward(bf16* g, const bf16* out, const float* rstd, const float* cos, const float* sin,
                                    int64_t B, int64_t T, int64_t heads, int64_t d, int64_t pos0, float scale,
                                    cudaStream_t stream) {
  const int64_t rows = B * T * heads;
  if (rows <= 0 || d <= 0) return;
  const int p = pairs_per_lane(d, {g, out, cos, sin});
  if (p == 0) {
    scaled_rmsnorm_backward(g, out, rstd, rows, d, scale, stream);
    rotary_backward(g, cos, sin, B, T, heads, d, pos0, stream);
    return;
  }
  const unsigned grid = grid_for_rows(rows);
  if (p == 1)
    norm_rope_backward_kernel<1><<<grid, kThreads, 0, stream>>>(g, out, rstd, cos, sin, rows, T, heads, pos0, scale);
  if (p == 2)
    norm_rope_backward_kernel<2><<<grid, kThreads, 0, stream>>>(g, out, rstd, cos, sin, rows, T, heads, pos0, scale);
  if (p == 4)
    norm_rope_backward_kernel<4><<<grid, kThreads, 0, stream>>>(g, out, rstd, cos, sin, rows, T, heads, pos0, scale);
  NC_CUDA_CHECK_LAUNCH();
}

}  // namespace nanochat::kernels::cuda
