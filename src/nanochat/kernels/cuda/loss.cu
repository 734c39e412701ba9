// Logit softcap and cross-entropy with ignore_index -1 (spec §3.1.7, backward §4.1), reading bf16
// logits and keeping the softcapped values in registers only (see the memory plan in ops.h).
#include "nanochat/kernels/cuda/check.h"
#include "nanochat/kernels/cuda/device_math.cuh"
#include "nanochat/kernels/cuda/ops.h"

namespace nanochat::kernels::cuda {

namespace {

constexpr int kThreads = 512;
using detail::fast_exp2;
using detail::kLog2e;

// The softcap's tanh and the softmax's exp from one MUFU.EX2 each. tanhf and expf spend most of
// their instructions on accuracy the bf16 logits do not have: over (B*T, 32768) logits they made the
// fused kernel compute-bound (H100, d20 step: 7.0 ms for 8.6 GB, 1.2 TB/s). It stays issue-bound
// (ncu: 59% of issue slots busy, 38 instructions per logit): the bf16 packing (one CVT per pair since
// device_math's pack_bf16x2) and the target test (once per 8 logits) were the cheap cuts, 652 -> 544 us per
// 8192-row chunk. Folding the constants into the EX2 arguments (fewer instructions, other bits) then
// measured 537 us: what remains is memory latency, not instructions. tanh|x| = (1 - e)/(1 + e) with
// e = 2^(-2|x| log2 e) is within about 1e-7 of tanhf (absolute), and ex2.approx within 2 ulp.
__device__ __forceinline__ float fast_tanh(float x) {
  const float e = fast_exp2(-2.0f * kLog2e * fabsf(x));
  return copysignf(__fdividef(1.0f - e, 1.0f + e), x);
}
__device__ __forceinline__ float fast_exp(float x) { return fast_exp2(x * kLog2e); }

__device__ __forceinline__ float capped_exp_term(float l, float inv_cap, float cap) {
  return fast_exp(cap * fast_tanh(l * inv_cap) - cap);
}

// One block per row. |z| <= cap, so exp(z - cap) lies in [exp(-2 cap), 1]: no running max needed.
// nvec > 0: the row is read as nvec 16-byte vectors (V = 8 nvec, aligned rows).
__global__ void softcap_ce_forward_kernel(float* loss, float* lse, const bf16* logits, const int64_t* targets,
                                          int64_t V, int64_t nvec, float cap) {
  __shared__ float scratch[32];
  const int64_t r = blockIdx.x;
  const int64_t y = targets[r];
  if (y < 0) {  // uniform across the block: every thread returns before any barrier
    if (threadIdx.x == 0) {
      loss[r] = 0.0f;
      if (lse != nullptr) lse[r] = 0.0f;
    }
    return;
  }
  const bf16* lr = logits + r * V;
  const float inv_cap = 1.0f / cap;
  float s = 0.0f;
  if (nvec > 0) {
    for (int64_t v = threadIdx.x; v < nvec; v += blockDim.x) {
      float x[detail::kVec];
      detail::load8(lr + v * detail::kVec, x);
#pragma unroll
      for (int j = 0; j < detail::kVec; ++j) s += capped_exp_term(x[j], inv_cap, cap);
    }
  } else {
    for (int64_t c = threadIdx.x; c < V; c += blockDim.x) s += capped_exp_term(detail::load(lr[c]), inv_cap, cap);
  }
  s = detail::block_sum(s, scratch);
  if (threadIdx.x == 0) {
    const float l = cap + logf(s);
    if (lse != nullptr) lse[r] = l;
    loss[r] = l - cap * fast_tanh(detail::load(lr[y]) * inv_cap);
  }
}

// The target's position within the 8 columns from `first`, or -1 when it lies outside them.
__device__ __forceinline__ int lane_of(int64_t target, int64_t first) {
  const int64_t d = target - first;
  return d >= 0 && d < detail::kVec ? static_cast<int>(d) : -1;
}

__device__ __forceinline__ float ce_grad(float t, float l, float cap, float scale, bool is_target) {
  const float p = fast_exp(cap * t - l);
  return scale * (p - (is_target ? 1.0f : 0.0f)) * (1.0f - t * t);
}

__global__ void softcap_ce_backward_kernel(bf16* grad, const bf16* logits, const float* lse, const int64_t* targets,
                                           int64_t n, int64_t nvec, int64_t v0, float cap, float scale) {
  const int64_t r = blockIdx.x;
  const int64_t y = targets[r];
  const bf16* lr = logits + r * n;
  bf16* gr = grad + r * n;
  if (y < 0) {
    for (int64_t c = threadIdx.x; c < n; c += blockDim.x) gr[c] = detail::to_bf16(0.0f);
    return;
  }
  const float l = lse[r];
  const float inv_cap = 1.0f / cap;
  // grad may alias logits: each element is read, then written, by the same thread.
  if (nvec > 0) {
    for (int64_t v = threadIdx.x; v < nvec; v += blockDim.x) {
      float x[detail::kVec];
      detail::load8(lr + v * detail::kVec, x);
      const int target_lane = lane_of(y, v0 + v * detail::kVec);
#pragma unroll
      for (int j = 0; j < detail::kVec; ++j) x[j] = ce_grad(fast_tanh(x[j] * inv_cap), l, cap, scale, j == target_lane);
      detail::store8(gr + v * detail::kVec, x);
    }
    return;
  }
  for (int64_t c = threadIdx.x; c < n; c += blockDim.x)
    gr[c] = detail::to_bf16(ce_grad(fast_tanh(detail::load(lr[c]) * inv_cap), l, cap, scale, v0 + c == y));
}

// Forward and backward of whole rows of V <= kFusedThreads * kFusedVecs * 8 columns (V = 8 nvec,
// aligned), in place: each thread keeps its tanh values in registers between the lse reduction and
// the gradient, so the row is read once and written once and tanh is evaluated once per logit.
// kBackward = false is the forward alone over the same rows; it sums in the same order, so the eval
// loss equals the training loss bit for bit.
constexpr int kFusedThreads = 1024;
constexpr int kFusedVecs = 4;

template <bool kBackward>
__global__ void __launch_bounds__(kFusedThreads, 1)
    softcap_ce_fused_kernel(float* loss, float* lse, bf16* logits, const int64_t* targets, int64_t V, float cap,
                            float scale) {
  __shared__ float scratch[32];
  const int64_t r = blockIdx.x;
  const int64_t y = targets[r];
  bf16* lr = logits + r * V;
  const int nvec = static_cast<int>(V / detail::kVec);
  if (y < 0) {  // uniform across the block
    if constexpr (kBackward) {
      const float zeros[detail::kVec] = {};
      for (int v = threadIdx.x; v < nvec; v += kFusedThreads) detail::store8(lr + v * detail::kVec, zeros);
    }
    if (threadIdx.x == 0) {
      loss[r] = 0.0f;
      if (lse != nullptr) lse[r] = 0.0f;
    }
    return;
  }
  const float inv_cap = 1.0f / cap;
  // The target's capped logit, read before any thread overwrites the row (block_sum syncs first).
  const float z_target = threadIdx.x == 0 ? cap * fast_tanh(detail::load(lr[y]) * inv_cap) : 0.0f;
  uint4 raw[kFusedVecs];
#pragma unroll
  for (int k = 0; k < kFusedVecs; ++k) {
    const int v = threadIdx.x + k * kFusedThreads;
    raw[k] = v < nvec ? detail::load_raw8(lr + v * detail::kVec) : make_uint4(0, 0, 0, 0);
  }
  float t[kFusedVecs][detail::kVec];
  float s = 0.0f;
#pragma unroll
  for (int k = 0; k < kFusedVecs; ++k) {
    const int v = threadIdx.x + k * kFusedThreads;
    detail::unpack8(raw[k], t[k]);
#pragma unroll
    for (int j = 0; j < detail::kVec; ++j) {
      t[k][j] = fast_tanh(t[k][j] * inv_cap);
      if (v < nvec) s += fast_exp(cap * t[k][j] - cap);
    }
  }
  s = detail::block_sum(s, scratch);
  const float l = cap + logf(s);
  if (threadIdx.x == 0) {
    if (lse != nullptr) lse[r] = l;
    loss[r] = l - z_target;
  }
  if constexpr (kBackward) {
#pragma unroll
    for (int k = 0; k < kFusedVecs; ++k) {
      const int v = threadIdx.x + k * kFusedThreads;
      if (v >= nvec) continue;
      const int target_lane = lane_of(y, int64_t{v} * detail::kVec);  // one 64-bit compare per vector
#pragma unroll
      for (int j = 0; j < detail::kVec; ++j) t[k][j] = ce_grad(t[k][j], l, cap, scale, j == target_lane);
      detail::store8(lr + v * detail::kVec, t[k]);
    }
  }
}

int64_t row_vectors(int64_t n, std::initializer_list<const void*> ptrs) {
  return n % detail::kVec == 0 ? detail::vectors_for(n, ptrs) : 0;
}

bool fits_fused(int64_t nvec) { return nvec > 0 && nvec <= int64_t{kFusedThreads} * kFusedVecs; }

}  // namespace

void softcap_cross_entropy_forward(float* loss, float* lse, const bf16* logits, const int64_t* targets, int64_t rows,
                                   int64_t V, float cap, cudaStream_t stream) {
  if (rows <= 0 || V <= 0) return;
  const int64_t nvec = row_vectors(V, {logits});
  if (fits_fused(nvec)) {  // the training kernel's forward half, never writing the (const) logits
    softcap_ce_fused_kernel<false><<<static_cast<unsigned>(rows), kFusedThreads, 0, stream>>>(
        loss, lse, const_cast<bf16*>(logits), targets, V, cap, 1.0f);
  } else {
    softcap_ce_forward_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(loss, lse, logits, targets, V,
                                                                                    nvec, cap);
  }
  NC_CUDA_CHECK_LAUNCH();
}

void softcap_cross_entropy_backward(bf16* grad, const bf16* logits, const float* lse, const int64_t* targets,
                                    int64_t rows, int64_t n, int64_t v0, float cap, float scale, cudaStream_t stream) {
  if (rows <= 0 || n <= 0) return;
  softcap_ce_backward_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(
      grad, logits, lse, targets, n, row_vectors(n, {grad, logits}), v0, cap, scale);
  NC_CUDA_CHECK_LAUNCH();
}

void softcap_cross_entropy_forward_backward(float* loss, float* lse, bf16* logits, const int64_t* targets,
                                            int64_t rows, int64_t V, float cap, float scale, cudaStream_t stream) {
  if (rows <= 0 || V <= 0) return;
  ::nanochat::cuda::require(lse != nullptr, "softcap_cross_entropy_forward_backward", "needs the lse output");
  const int64_t nvec = row_vectors(V, {logits});
  if (!fits_fused(nvec)) {
    softcap_cross_entropy_forward(loss, lse, logits, targets, rows, V, cap, stream);
    softcap_cross_entropy_backward(logits, logits, lse, targets, rows, V, 0, cap, scale, stream);
    return;
  }
  softcap_ce_fused_kernel<true><<<static_cast<unsigned>(rows), kFusedThreads, 0, stream>>>(loss, lse, logits,
                                                                                           targets, V, cap, scale);
  NC_CUDA_CHECK_LAUNCH();
}

}  // namespace nanochat::kernels::cuda
