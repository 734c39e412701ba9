// The optimizer's device half (spec model-and-training.md §7.2-7.3): the fused AdamW step on an fp32
// range and the Muon step on a (K, m, n) stack, both on the fp32 master parameters, each also writing
// the bf16 shadow of what it updated (the copy the forward GEMMs read). optim::MuonAdamWCuda drives
// these per group; the CPU reference is optim::adamw_step / optim::muon_step.
//
// Muon runs as the original does with CD = bf16: the Nesterov update is cast to bf16, MuonEq,
// normalization and Polar Express work on bf16 (GEMMs bf16 in, fp32 accumulate, bf16 out, through
// cuda::gemm's strided batches with beta), and the renormalization, NorMuon and the update are fp32.
// Every reduction has a fixed order (warp shuffles, fixed block sizes; no float atomics), so two runs
// give bitwise equal results.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "nanochat/kernels/cuda/context.h"
#include "nanochat/kernels/cuda/device_buffer.h"

namespace nanochat::kernels::cuda {

using bf16 = __nv_bfloat16;

// The fp32 scalars of one AdamW step, computed on the host exactly as optim::adamw_step does:
// decay = 1 - lr*wd, w1 = 1 - beta1, w2 = 1 - beta2, bias2 = 1 - beta2^step, eps,
// neg_step_size = -(lr / (1 - beta1^step)).
struct AdamWScalars {
  float decay = 1, w1 = 0, w2 = 0, bias2 = 1, eps = 0, neg_step_size = 0;
};

// One AdamW step on n values (p, exp_avg, exp_avg_sq in place; grad read only), shadow = bf16(p).
// bf16_storage: the gradient is rounded to bf16 before use and p and both moments after the update,
// as the original's bf16 embedding tables (bf16 grads, bf16 moments).
// vector_kernels = false keeps every element on the scalar path (the same bits; for tests and A/B runs).
void adamw_step(float* p, bf16* shadow, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n,
                const AdamWScalars& k, bool bf16_storage, cudaStream_t stream, bool vector_kernels = true);

// out = bf16(in), n values (the shadow of freshly loaded parameters).
void round_to_bf16(bf16* out, const float* in, int64_t n, cudaStream_t stream);

// Device scratch of the Muon step, grown on demand to the largest stack seen (reserve it up front
// to keep allocations out of the training loop). One per stream: stacks run one after another.
struct MuonScratch {
  void reserve(int64_t K, int64_t m, int64_t n);

  // Used by muon_step only: (K,m,n) twice (Polar Express ping-pongs), (K,s,s) twice for s = min(m,n),
  // and fp32 statistics: K*m row sums, K per-matrix sums, K*max(m,n) NorMuon statistics.
  nanochat::cuda::DeviceBuffer<bf16> x, x_next, gram, poly;
  nanochat::cuda::DeviceBuffer<float> rows, mats, stats;
};

// One Muon group: K matrices (m, n) contiguous in each slab.
struct MuonStackArgs {
  float* params = nullptr;         // fp32 master (K, m, n), updated
  bf16* shadow = nullptr;          // bf16(params), written
  const float* grads = nullptr;    // (K, m, n)
  float* momentum_buffer = nullptr;  // (K, m, n)
  float* second_moment = nullptr;    // (K, m) when m >= n, else (K, n)
  int64_t K = 0, m = 0, n = 0;
  float momentum = 0.95f;  // Nesterov mu
  float lr = 0;            // effective: group lr * sqrt(max(1, m/n))
  float lr_wd = 0;         // lr * weight decay (cautious)
  float beta2 = 0.9f;      // NorMuon EMA
  int ns_steps = 5;
  // false: the elementwise passes go element by element (the same bits; for tests and A/B runs).
  bool vector_kernels = true;
};

// Steps 1-8 of §7.3 for one stack, enqueued on ctx.stream().
void muon_step(nanochat::cuda::CudaContext& ctx, const MuonStackArgs& args, MuonScratch& scratch);

// Steps 3-5 alone (MuonEq, normalization, Polar Express) on a bf16 stack x (K, m, n), in place.
void muon_orthogonalize(nanochat::cuda::CudaContext& ctx, bf16* x, int64_t K, int64_t m, int64_t n, int ns_steps,
                        MuonScratch& scratch);

}  // namespace nanochat::kernels::cuda
