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

// ga[r,j] = (gv[r,j,:] . table[idx[r], j]) * gate*(1 - gate/3), one warp per head; then
// gh[r][0:12] += sum_j ga[r,j] * wg[j].
__global__ void value_embed_backward_rows_kernel(bf16* gh, float* ga, const bf16* gv, const float* gate,
                                                 const bf16* wg, const bf16* table, const int64_t* idx, int64_t C,
                                                 int64_t Hk, int64_t d) {
  __shared__ float ga_shared[kMaxHeads];
  const int64_t r = blockIdx.x;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  const int64_t width = Hk * d;
  const bf16* ve = table + idx[r] * width;
  const bf16* g = gv + r * width;
  for (int64_t j = warp; j < Hk; j += warps) {
    float dot = 0.0f;
    for (int64_t c = lane; c < d; c += 32) dot += detail::load(g[j * d + c]) * detail::load(ve[j * d + c]);
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
  value_embed_forward_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(v, gate, h, wg, table, idx, C, Hk,
                                                                                   d);
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
  value_embed_backward_rows_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(gh, ga, gv, gate, wg, table,
                                                                                         idx, C, Hk, d);
  NC_CUDA_CHECK_LAUNCH();
  detail::weighted_column_partials(partials, ga, Hk, h, C, kGate, rows, stream);
  detail::finish_partials(gwg, partials, Hk * kGate, 1.0f, stream);
  embedding_backward_gated(gtable, gv, gate, d, idx, rows, Hk * d, num_embeddings, stream);
}

}  // namespace nanochat::kernels::cuda
