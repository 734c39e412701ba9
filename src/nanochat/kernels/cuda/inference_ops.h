// Kernels of the KV-cache forward on the GPU (model/gpt_cuda_inference.h), beyond the training ops of
// ops.h. What sets them apart: the cache position is read from device memory (int32 per batch row),
// never passed by value, so one captured CUDA graph of a decode step stays valid at every position.
// Layouts: activations (rows, ...) with rows = B*T, row r = (b = r / T, t = r % T); a cache layer is
// (B, kv_stride, Hk, d) bf16 as in attention.h.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "nanochat/kernels/cuda/ops.h"

namespace nanochat::kernels::cuda {

// z = bf16(alpha*x + beta*x0), then h = bf16(z * rstd(z)): residual_mix_forward + rmsnorm_forward in one
// pass with the same roundings. C must be a multiple of 8 and every pointer 16-byte aligned.
void mix_rmsnorm(bf16* z, bf16* h, const bf16* x, const bf16* x0, ScalarParam alpha, ScalarParam beta, int64_t rows,
                 int64_t C, cudaStream_t stream);

// After the fused c_q|c_k|c_v product qkv (rows, H*d + 2*Hk*d): for row r at position p = pos[b] + t,
// q and k get rotary(p) then 1.2*norm (each rounded to bf16 as rotary_forward and
// scaled_rmsnorm_forward do); v gets the gated value embedding when `table` is set (value_embed_forward,
// gate from h[r][0:12] and wg (Hk, 12)); q goes to q_out (rows, H, d), k and v to the cache at p.
struct QkvPostArgs {
  const bf16* qkv = nullptr;
  const bf16* h = nullptr;      // (rows, C), for the value-embedding gate
  const bf16* wg = nullptr;     // (Hk, 12) or null
  const bf16* table = nullptr;  // (vocab, Hk*d) or null (no value embedding on this layer)
  const int64_t* idx = nullptr; // (rows)
  const int32_t* pos = nullptr; // (B) cache position of each row before this forward
  const float* cos = nullptr;   // (max_pos, d/2)
  const float* sin = nullptr;
  bf16* q_out = nullptr;
  bf16* k_cache = nullptr;      // this layer's (B, kv_stride, Hk, d)
  bf16* v_cache = nullptr;
  int64_t rows = 0, T = 0, C = 0, H = 0, Hk = 0, d = 0, kv_stride = 0;
  float qk_scale = 1.0f;
};
void qkv_post(const QkvPostArgs& a, cudaStream_t stream);

// One query per row (decode) against the cache: y (B, H, d) = softmax(q k^T / sqrt(d)) v over the keys
// [max(0, pos[b] - window), pos[b]] (pos[b] = the query's position; its own key is already cached).
// The keys are split into `splits` chunks of `chunk` keys counted from the row's first visible key,
// one block per (chunk, kv head, row); the last block of a (row, kv head) to finish merges the chunks
// in chunk order (deterministic). The grid depends only on (B, Hk, splits), not on positions: plan it
// once for the cache capacity.
struct DecodeAttentionPlan {
  int64_t chunk = 0, splits = 0;
};
DecodeAttentionPlan plan_decode_attention(int64_t B, int64_t Hk, int64_t max_keys);
// Scratch floats the plan needs: B*H counters, then the chunks' partials, B*H*splits*(d+2). Zero the
// scratch once before the first call (cudaMemset); every call leaves the counters at zero again, so
// calls with different plans (layers with different windows) may share one scratch of the largest size.
int64_t decode_attention_scratch_floats(int64_t B, int64_t H, int64_t d, const DecodeAttentionPlan& plan);
void decode_attention(bf16* y, const bf16* q, const bf16* k_cache, const bf16* v_cache, const int32_t* pos, int64_t B,
                      int64_t H, int64_t Hk, int64_t d, int64_t kv_stride, int64_t window,
                      const DecodeAttentionPlan& plan, float* scratch, cudaStream_t stream);
// qkv_post and decode_attention in one launch, for decode steps (post.T = 1, one row per batch row):
// each block forms its query heads from the c_q|c_k|c_v product itself, and the block whose chunk holds
// the new position appends that key and value to the cache before reading it. Bit for bit the results
// of qkv_post then decode_attention (cache included); post.q_out is not written.
void decode_attention_with_post(bf16* y, const QkvPostArgs& post, int64_t window, const DecodeAttentionPlan& plan,
                                float* scratch, cudaStream_t stream);

// x = cap*tanh(x/cap), in place, fp32.
void softcap_inplace(float* x, int64_t n, float cap, cudaStream_t stream);
// out[r] = the first index of the maximum of x[r*ld : r*ld + n].
void argmax_rows(int32_t* out, const float* x, int64_t rows, int64_t n, int64_t ld, cudaStream_t stream);
// pos[b] += T for b < B.
void advance_positions(int32_t* pos, int64_t B, int64_t T, cudaStream_t stream);
// pos[b] = value for b < B.
void fill_positions(int32_t* pos, int64_t B, int32_t value, cudaStream_t stream);
// For l < layers and b < rows: copy `bytes` from src + l*src_layer_bytes to dst + l*dst_layer_bytes +
// b*dst_row_bytes (broadcasting a batch-1 cache prefix, smear state or logits row to every row).
// Every size and pointer must be a multiple of 16 bytes.
void broadcast_rows(void* dst, const void* src, int64_t layers, int64_t rows, int64_t bytes, int64_t dst_layer_bytes,
                    int64_t dst_row_bytes, int64_t src_layer_bytes, cudaStream_t stream);

}  // namespace nanochat::kernels::cuda
