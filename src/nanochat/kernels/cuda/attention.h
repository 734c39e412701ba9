// Flash attention on tensor cores (spec §3.1.6 forward, §4.5 step 2 backward): causal sliding-window
// attention with grouped KV heads, scale 1/sqrt(d), bf16 storage, fp32 accumulation (wgmma for
// head_dim 128 on Hopper, mma.sync m16n8k16 otherwise). Layouts and semantics are exactly those of
// kernels::cpu::attention_forward/backward (kernels/ops.h), which are the reference the GPU tests
// compare against:
//   q, y (B, Tq, H, d); k, v (B, kv_stride, Hk, d); lse (B, H, Tq) fp32, natural log of the sum of
//   exp(scaled scores). Query i sits at absolute position pos0 + i and sees the keys
//   [pos - window, pos] ∩ [0, Tk); query head h reads kv head h / (H / Hk).
// Key tiles outside every query's window are never loaded, so sliding windows cost proportionally
// less. head_dim must be 64 or 128; other values throw nanochat::Error.
#pragma once
#include <cuda_runtime.h>

#include "nanochat/kernels/cuda/ops.h"
#include "nanochat/kernels/ops.h"

namespace nanochat::kernels::cuda {

// Training (pos0 = 0, Tq = Tk = kv_stride) and KV-cache shapes (pos0 + Tq = Tk <= kv_stride). Keys at
// positions >= Tk are never read. lse may be null. Dispatches to the decode path when it fits, else
// to the tiled path (decode when it fits and B*H < 128, i.e. the tiled grid would leave SMs idle).
void attention_forward(bf16* y, float* lse, const bf16* q, const bf16* k, const bf16* v,
                       const cpu::AttentionShape& s, cudaStream_t stream);
// The two paths, public so that tests and benchmarks can pin one.
// Tiled (attention_forward.cu): tensor cores, one block per (128-query tile, head, batch row); head_dim
// 128 on Hopper warpgroup MMAs (a producer warpgroup and two consumer warpgroups of 64 rows),
// head_dim 64 on mma.sync.
void attention_forward_tiled(bf16* y, float* lse, const bf16* q, const bf16* k, const bf16* v,
                             const cpu::AttentionShape& s, cudaStream_t stream);
// The tiled path with its head_dim 128 Hopper kernel pinned, for tests and A/B timing (head_dim 64
// ignores the choice): kDefault is what attention_forward_tiled runs (NANOCHAT_ATTENTION_FORWARD_
// WGMMA_VARIANT may pick another), kWgmma the two-warpgroup kernel with a 3-stage cp.async ring,
// kWarpSpecialized (what kDefault runs unless the environment picks another) the producer-warpgroup
// kernel with pingpong consumers (3 stages), kWarpSpecializedPersistent the same with one block per SM
// taking work items from a counter.
enum class AttentionForwardKernel { kDefault, kWgmma, kWarpSpecialized, kWarpSpecializedPersistent };
void attention_forward_tiled_kernel(bf16* y, float* lse, const bf16* q, const bf16* k, const bf16* v,
                                    const cpu::AttentionShape& s, AttentionForwardKernel kernel,
                                    cudaStream_t stream);
// Decode (attention_decode.cu): a few queries (Tq <= 4 and Tq*H/Hk <= 16 rows per kv head) against a
// long cache. The keys are split into chunks of 64, one warp per (chunk, kv head, batch row) on CUDA
// cores, then a second pass merges the chunks' partial softmax sums: batch 1 with few heads still
// fills the GPU. Scratch is taken stream-ordered. Same results as the tiled path to bf16 tolerance.
bool attention_decode_fits(const cpu::AttentionShape& s);
void attention_forward_decode(bf16* y, float* lse, const bf16* q, const bf16* k, const bf16* v,
                              const cpu::AttentionShape& s, cudaStream_t stream);

// Training shapes only (pos0 = 0, Tq = Tk = kv_stride); overwrites gq, gk, gv. lse is the forward's.
// Deterministic (bitwise reproducible), no float atomics: gk/gv of a kv head accumulate over all
// query heads of its group inside one block per key tile, and the key tiles add their partial gq into
// an fp32 accumulator one after another in a fixed order (per-tile counters in global memory).
// Scratch (about B*H*Tq*(d+1) floats) is taken stream-ordered.
void attention_backward(bf16* gq, bf16* gk, bf16* gv, const bf16* gy, const bf16* q, const bf16* k, const bf16* v,
                        const bf16* y, const float* lse, const cpu::AttentionShape& s, cudaStream_t stream);
// The same with the key tile pinned (64: 4 warps, two blocks per SM; 128: 8 warps, one block per SM;
// attention_backward picks 64 for windows up to 512), for tests and benchmarks. Each is bitwise
// reproducible; the two agree to bf16 tolerance.
void attention_backward_key_tile(bf16* gq, bf16* gk, bf16* gv, const bf16* gy, const bf16* q, const bf16* k,
                                 const bf16* v, const bf16* y, const float* lse, const cpu::AttentionShape& s,
                                 int key_tile, cudaStream_t stream);

}  // namespace nanochat::kernels::cuda
