// Gated value embeddings (spec §3.2 5a.2, §4.5 step 5): gate[r,j] = 3*sigmoid(h[r][0:12] . wg[j]),
// v[r,j,:] += gate[r,j] * table[idx[r], j*d:(j+1)*d]. One block per row. The backward's gate weight
// gradient uses the deterministic two-pass reduction, and the table gradient the embedding's
// deterministic sorted scatter with the gates applied in fp32.
#include "nanochat/kernels/cuda/check.h"
#include "nanochat/kernels/cuda/device_math.cuh"
#include "nanochat/kernels/cuda/ops.h"
#include "nanochat/kernels/cuda/reduce.h"
#include "nanochat/kernels/ops.h"

namespace nanochat::kernels::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kMaxHeads = kThreads;  // one thread per head computes its gate
constexpr int kGate = static_cast<int>(kVeGateChannels);

__global__ void value_embed_forward_kernel(bf16* v, float* gate, const bf16* h, const bf16* wg, const bf16* table,
                                           const int64_t* idx, int64_t C, int64_t Hk, int64_t d) {
  __shared__ float gates[kMaxHeads];
  const int64_t r = blockIdx.x;
  if (threadIdx.x < Hk) {
    const int64_t j = threadIdx.x;
    const bf16* hr = h + r * C;
    float a = 0.0f;
    for (int c = 0; c < kGate; ++c) a += detail::load(hr[c]) * detail::load(wg[j * kGate + c]);
    const float g = 3.0f * (1.0f / (1.0f + expf(-a)));
    gates[j] = g;
    gate[r * Hk + j] = g;
  }
  __syncthreads();
  const int64_t width = Hk * d;
  const bf16* ve = table + idx[r] * width;
  bf16* vr = v + r * width;
  for (int64_t e = threadIdx.x; e < width; e += blockDim.x)
    vr[e] = detail::to_bf16(detail::load(vr[e]) + gates[e / d] * detail::load(ve[e]));
}

// The fast path (Hk <= 32, d = 8k, 16-byte aligned rows): one warp per row, lane j < Hk computes
// gate j and hands it to the lanes whose 16-byte vectors lie in head j.
constexpr int kWarps = kThreads / 32;
__global__ void __launch_bounds__(kThreads)
    value_embed_forward_warp_kernel(bf16* __restrict__ v, float* __restrict__ gate, const bf16* __restrict__ h,
                                    const bf16* __restrict__ wg, const bf16* __restrict__ table,
                                    const int64_t* __restrict__ idx, int64_t rows, int64_t C, int Hk, int d) {
  const int64_t r = blockIdx.x * int64_t{kWarps} + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (r >= rows) return;  // whole warps leave together; only warp shuffles follow
  float gj = 0.0f;
  if (lane < Hk) {
    const bf16* hr = h + r * C;
    float a = 0.0f;
    for (int c = 0; c < kGate; ++c) a += detail::load(hr[c]) * detail::load(wg[lane * kGate + c]);
    gj = 3.0f * (1.0f / (1.0f + expf(-a)));
    gate[r * Hk + lane] = gj;
  }
  const int nvec = Hk * d / detail::kVec;
  const bf16* ve = table + idx[r] * Hk * d;
  bf16* vr = v + r * Hk * d;
#pragma unroll 4
  for (int base = 0; base < nvec; base += 32) {
    const int e = base + lane;
    const float g = __shfl_sync(0xffffffffu, gj, e < nvec ? e * detail::kVec / d : 0);
    if (e >= nvec) continue;
    float x[detail::kVec], t[detail::kVec];
    detail::load8(vr + e * detail::kVec, x);
    detail::load8(ve + e * detail::kVec, t);
#pragma unroll
    for (int j = 0; j < detail::kVec; ++j) x[j] = x[j] + g * t[j];
    detail::store8(vr + e * detail::kVec, x);
  }
}

// ga[r,j] = (gv[r,j,:] . table[idx[r], j]) * gate*(1 - gate/3), one warp per head; then
// gh[r][0:12] += sum_j ga[r,j] * wg[j].
__global__ void value_embed_backward_rows_kernel(bf16* gh, float* ga, const bf16* gv, const float* gate,
                                                 const bf16* wg, const bf16* table, const int64_t* idx, int64_t C,
                                                 int64_t Hk, int64_t d, bool vectorized) {
  __shared__ float ga_shared[kMaxHeads];
  const int64_t r = blockIdx.x;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  const int64_t width = Hk * d;
  const bf16* ve = table + idx[r] * width;
  const bf16* g = gv + r * width;
  for (int64_t j = warp; j < Hk; j += warps) {
    float dot = 0.0f;
    if (vectorized) {  // 16-byte vectors: 8 elements per lane per step
      for (int64_t c = lane * detail::kVec; c < d; c += 32 * detail::kVec) {
        float a[detail::kVec], b[detail::kVec];
        detail::load8(g + j * d + c, a);
        detail::load8(ve + j * d + c, b);
#pragma unroll
        for (int k = 0; k < detail::kVec; ++k) dot += a[k] * b[k];
      }
    } else {
      for (int64_t c = lane; c < d; c += 32) dot += detail::load(g[j * d + c]) * detail::load(ve[j * d + c]);
    }
    dot = detail::warp_sum(dot);
    if (lane == 0) {
      const float gj = gate[r * Hk + j];
      const float a = dot * gj * (1.0f - gj / 3.0f);
      ga_shared[j] = a;
      ga[r * Hk + j] = a;
    }
  }
  __syncthreads();
  if (threadIdx.x < kGate) {
    const int c = threadIdx.x;
    float s = 0.0f;
    for (int64_t j = 0; j < Hk; ++j) s += ga_shared[j] * detail::load(wg[j * kGate + c]);
    bf16& dst = gh[r * C + c];
    dst = detail::to_bf16(detail::load(dst) + s);
  }
}

// The fast path of the above (Hk <= 32, d = 64, 128 or 256, 16-byte aligned rows): one warp per row.
// A head's d/8 16-byte vectors sit in d/8 consecutive lanes, so its dot product is a shuffle reduction
// inside that lane group, in the same order as the block kernel's warp_sum (whose other lanes add
// zeros): the results are the same bits. One block per row left 7 of 8 warps (and half of each
// warp's lanes) idle and ran at 0.7 TB/s (ncu, H100, d12).
template <int D>
__global__ void __launch_bounds__(kThreads)
    value_embed_backward_warp_kernel(bf16* gh, float* ga, const bf16* __restrict__ gv, const float* __restrict__ gate,
                                     const bf16* __restrict__ wg, const bf16* __restrict__ table,
                                     const int64_t* __restrict__ idx, int64_t rows, int64_t C, int Hk) {
  constexpr int kLanesPerHead = D / detail::kVec, kHeadsPerStep = 32 / kLanesPerHead;
  const int64_t r = blockIdx.x * int64_t{kWarps} + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (r >= rows) return;  // whole warps leave together; only warp shuffles follow
  const int sub = lane % kLanesPerHead, head_in_step = lane / kLanesPerHead;
  const bf16* ve = table + idx[r] * Hk * D + sub * detail::kVec;
  const bf16* g = gv + r * Hk * D + sub * detail::kVec;
  float ga_mine = 0.0f;  // lane j < Hk ends with ga[r, j]
  for (int j0 = 0; j0 < Hk; j0 += kHeadsPerStep) {
    const int j = j0 + head_in_step;
    float dot = 0.0f;
    if (j < Hk) {
      float a[detail::kVec], b[detail::kVec];
      detail::load8(g + j * D, a);
      detail::load8(ve + j * D, b);
#pragma unroll
      for (int k = 0; k < detail::kVec; ++k) dot += a[k] * b[k];
    }
#pragma unroll
    for (int off = kLanesPerHead / 2; off > 0; off >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, off);
    // Lane j0 + k takes head j0 + k's sum from the first lane of its group.
    const float head_dot = __shfl_sync(0xffffffffu, dot, ((lane - j0) & (kHeadsPerStep - 1)) * kLanesPerHead);
    if (lane >= j0 && lane < j0 + kHeadsPerStep) ga_mine = head_dot;
  }
  if (lane < Hk) {
    const float gj = gate[r * Hk + lane];
    ga_mine = ga_mine * gj * (1.0f - gj / 3.0f);
    ga[r * Hk + lane] = ga_mine;
  }
  float s = 0.0f;
  for (int j = 0; j < Hk; ++j) {
    const float aj = __shfl_sync(0xffffffffu, ga_mine, j);
    if (lane < kGate) s += aj * detail::load(wg[j * kGate + lane]);
  }
  if (lane < kGate) {
    bf16& dst = gh[r * C + lane];
    dst = detail::to_bf16(detail::load(dst) + s);
  }
}

void check_shape(const char* op, int64_t C, int64_t Hk, int64_t d) {
  ::nanochat::cuda::require(C >= kGate, op, "the row width must cover the 12 gate channels");
  ::nanochat::cuda::require(Hk > 0 && Hk <= kMaxHeads && Hk * kGate <= 1024, op,
                            "the number of kv heads must lie in [1, 85]");
  ::nanochat::cuda::require(d > 0, op, "the head dimension must be positive");
}

}  // namespace

void value_embed_forward(bf16* v, float* gate, const bf16* h, const bf16* wg, const bf16* table, const int64_t* idx,
                         int64_t rows, int64_t C, int64_t Hk, int64_t d, cudaStream_t stream) {
  if (rows <= 0) return;
  check_shape("value_embed_forward", C, Hk, d);
  if (Hk <= 32 && d % detail::kVec == 0 && detail::aligned16(v) && detail::aligned16(table)) {
    value_embed_forward_warp_kernel<<<detail::grid_for(rows, kWarps, (int64_t{1} << 31) - 1), kThreads, 0, stream>>>(
        v, gate, h, wg, table, idx, rows, C, static_cast<int>(Hk), static_cast<int>(d));
  } else {
    value_embed_forward_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(v, gate, h, wg, table, idx, C,
                                                                                     Hk, d);
  }
  NC_CUDA_CHECK_LAUNCH();
}

void value_embed_backward(bf16* gh, float* gwg, float* gtable, const bf16* gv, const float* gate, const bf16* h,
                          const bf16* wg, const bf16* table, const int64_t* idx, int64_t rows, int64_t C, int64_t Hk,
                          int64_t d, int64_t num_embeddings, cudaStream_t stream) {
  if (rows <= 0) return;
  check_shape("value_embed_backward", C, Hk, d);
  const size_t ga_floats = static_cast<size_t>(rows * Hk);
  detail::StreamScratch scratch((ga_floats + static_cast<size_t>(Hk * kGate) * detail::kPartials) * sizeof(float),
                                stream);
  float* ga = scratch.floats();
  float* partials = scratch.floats(ga_floats);
  const bool vectorized = d % detail::kVec == 0 && detail::aligned16(gv) && detail::aligned16(table);
  const unsigned warp_grid = detail::grid_for(rows, kWarps, (int64_t{1} << 31) - 1);
  const int hk = static_cast<int>(Hk);
  if (vectorized && Hk <= 32 && d == 64) {
    value_embed_backward_warp_kernel<64><<<warp_grid, kThreads, 0, stream>>>(gh, ga, gv, gate, wg, table, idx, rows, C, hk);
  } else if (vectorized && Hk <= 32 && d == 128) {
    value_embed_backward_warp_kernel<128><<<warp_grid, kThreads, 0, stream>>>(gh, ga, gv, gate, wg, table, idx, rows, C,
                                                                              hk);
  } else if (vectorized && Hk <= 32 && d == 256) {
    value_embed_backward_warp_kernel<256><<<warp_grid, kThreads, 0, stream>>>(gh, ga, gv, gate, wg, table, idx, rows, C,
                                                                              hk);
  } else {
    value_embed_backward_rows_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(gh, ga, gv, gate, wg, table,
                                                                                           idx, C, Hk, d, vectorized);
  }
  NC_CUDA_CHECK_LAUNCH();
  detail::weighted_column_partials(partials, ga, Hk, h, C, kGate, rows, stream);
  detail::finish_partials(gwg, partials, Hk * kGate, 1.0f, stream);
  embedding_backward_gated(gtable, gv, gate, d, idx, rows, Hk * d, num_embeddings, stream);
}

}  // namespace nanochat::kernels::cuda
