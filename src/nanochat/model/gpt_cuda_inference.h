// The GPT's KV-cache forward on one GPU (spec model-and-training.md §3.4): the semantics of
// GPT<float>::forward_cached (gpt.h), including its chunked-prefill smear rule, with bf16 weights,
// activations and cache and fp32 accumulation. No master weights or gradients: inference only.
//
// Weights are repacked on upload: per layer c_q|c_k|c_v become one (C + 2*KV, C) matrix, so the three
// projections are one GEMM. A decode step (T = 1) reads the cache position from device memory
// (CudaKVCache::positions), so it can be captured once as a CUDA graph and replayed at every position:
// the token ids are staged into a fixed device buffer first, the logits land in a fixed one.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <span>
#include <vector>

#include "nanochat/kernels/cuda/context.h"
#include "nanochat/kernels/cuda/device_buffer.h"
#include "nanochat/kernels/cuda/inference_ops.h"
#include "nanochat/model/config.h"
#include "nanochat/model/gpt.h"

namespace nanochat::model {

class GptCudaInference;

// Which rows of logits a forward produces: every position (B, T, V), or each row's last (B, V).
enum class LogitsRows { kAll, kLast };

// The cache of B rows and Tmax positions: keys and values (L, B, Tmax, Hk, d) bf16, the position of
// each row (int32 on the device; all rows share it, mirrored on the host), the smear state (B, C), plus
// the fixed-size workspace of a decode step and its captured graph. Bound to one model.
class CudaKVCache {
 public:
  CudaKVCache(const GptCudaInference& model, int64_t batch, int64_t max_len);
  ~CudaKVCache();
  CudaKVCache(const CudaKVCache&) = delete;
  CudaKVCache& operator=(const CudaKVCache&) = delete;

  int64_t batch() const { return B_; }
  int64_t max_len() const { return Tmax_; }
  int64_t pos() const { return pos_; }
  bool has_prev_embedding() const { return has_prev_; }
  void reset();  // position 0, no smear state (enqueued)
  // Frees the buffers multi-token forwards grow on demand (all-position logits can be GiBs), keeping
  // what decode steps and their captured graph use. For caches that go idle.
  void trim();

  // Whether T = 1 steps replay a captured graph (default on). The first step runs eagerly (it warms the
  // GEMM plans), the second captures; results are bitwise those of eager steps.
  void set_use_graph(bool on) { use_graph_ = on; }
  bool graph_captured() const { return graph_exec_ != nullptr; }

  // Copies the first one.pos() positions of a batch-1 cache, its smear state and its last logits row
  // into every row of this empty cache (the engine's prefill broadcast).
  void broadcast_from(const CudaKVCache& one);

  // The (B, V) logits of every row's last position after the latest forward (or broadcast), on the device.
  const float* last_logits() const { return logits_.data(); }

 private:
  friend class GptCudaInference;
  using bf16 = __nv_bfloat16;
  bf16* keys(int64_t layer) { return k_.data() + layer * layer_elems_; }
  bf16* values(int64_t layer) { return v_.data() + layer * layer_elems_; }

  const GptCudaInference& model_;
  int64_t B_, Tmax_, layer_elems_;
  int64_t pos_ = 0;
  bool has_prev_ = false, use_graph_ = true;
  int64_t eager_decode_steps_ = 0;
  cuda::DeviceBuffer<bf16> k_, v_, prev_;
  cuda::DeviceBuffer<int32_t> positions_;
  std::vector<kernels::cuda::DecodeAttentionPlan> plans_;  // per layer, for T = 1
  cuda::DeviceBuffer<float> attn_scratch_;
  cuda::DeviceBuffer<std::byte> step_arena_;  // decode workspace (B rows), fixed: the graph points into it
  cuda::DeviceBuffer<std::byte> chunk_arena_; // workspace of multi-token forwards, grown on demand
  int64_t chunk_rows_ = 0;
  cuda::DeviceBuffer<float> logits_;          // (B, V): last-position logits of every forward
  cuda::DeviceBuffer<float> all_logits_;      // (B*T, V) of the last LogitsRows::kAll forward, grown on demand
  cuda::DeviceBuffer<int32_t> argmax_;
  cuda::PinnedHostBuffer<int64_t> idx_host_;  // (B) staging for a decode step's ids
  cuda::PinnedHostBuffer<int32_t> argmax_host_;  // (B)
  cuda::PinnedHostBuffer<float> logits_host_;    // (B, V), allocated on first use
  cudaGraph_t graph_ = nullptr;
  cudaGraphExec_t graph_exec_ = nullptr;
};

class GptCudaInference {
 public:
  // Uploads bf16 copies of the host model's weights (scalars stay fp32). ctx is not owned.
  GptCudaInference(const GPT<float>& host, cuda::CudaContext& ctx);
  GptCudaInference(const GptCudaInference&) = delete;
  GptCudaInference& operator=(const GptCudaInference&) = delete;
  const GPTConfig& config() const { return config_; }
  cuda::CudaContext& context() const { return ctx_; }
  // Bytes of the bf16 weights on the device.
  size_t weight_bytes() const { return weights_.bytes(); }

  // Feeds T new tokens per row (idx: host (cache.batch(), T)) at cache.pos(), writes their keys and
  // values, advances the cache. Returns the device fp32 softcapped logits: (B, T, V) for kAll,
  // (B, V) of each row's last position for kLast; valid until the next forward on this cache.
  // Enqueued only: read them with download() or logits_to_host().
  const float* forward_cached(CudaKVCache& cache, const int64_t* idx, int64_t T, LogitsRows rows) const;
  // Waits for the stream and copies n floats of device logits to the host.
  void download(const float* device_logits, std::span<float> out) const;
  // Waits for the stream and returns last_logits() copied to pinned host memory owned by the cache
  // (valid until the next call on it).
  std::span<const float> last_logits_to_host(CudaKVCache& cache) const;
  // Argmax of each row of the last kLast logits over the first `vocab` ids (first index on ties),
  // computed on the device; only B ids cross to the host.
  std::vector<int64_t> argmax_last(CudaKVCache& cache, int64_t vocab) const;

 private:
  friend class CudaKVCache;
  using bf16 = __nv_bfloat16;
  struct LayerWeights {
    const bf16* qkv = nullptr;       // (C + 2KV, C)
    const bf16* proj = nullptr;      // (C, C)
    const bf16* fc = nullptr;        // (4C, C)
    const bf16* mlp_proj = nullptr;  // (C, 4C)
    const bf16* ve_gate = nullptr;   // (Hk, 12) or null
    const bf16* value_embed = nullptr;  // (Vp, KV) or null
  };
  // Activations of R = B*T rows, carved from one arena.
  struct Workspace {
    int64_t* idx = nullptr;  // (R)
    bf16 *emb, *xn, *x0, *xs, *xb, *z, *h, *qkv, *q, *y, *xmid, *u, *a, *xlast, *xblast;
  };
  static size_t plan_workspace(const GPTConfig& c, int64_t R, int64_t B, std::byte* base, Workspace* ws);
  void run_forward(CudaKVCache& cache, const Workspace& ws, int64_t T, bool decode_kernels, float* logits,
                   LogitsRows rows) const;

  GPTConfig config_;
  cuda::CudaContext& ctx_;
  // Batch-1 decode steps use the fused decode_gemv products (kernels/cuda/decode_gemv.h) instead of
  // cuBLASLt plus the norm/relu² kernels; NANOCHAT_DECODE_GEMV=0 turns it off (for A/B measurements).
  bool decode_gemv_ = true;
  // ... each launched to overlap the kernel before it (programmatic dependent launch);
  // NANOCHAT_DECODE_PDL=0 turns that off.
  bool decode_pdl_ = true;
  // Decode steps fold the q/k/v post-processing into the attention kernel (decode_attention_with_post);
  // NANOCHAT_DECODE_FUSED_POST=0 keeps the two kernels.
  bool decode_fused_post_ = true;
  cuda::DeviceBuffer<bf16> weights_;
  cuda::DeviceBuffer<float> scalars_;  // resid_lambdas (L), x0_lambdas (L), smear_lambda, backout_lambda
  cuda::DeviceBuffer<float> cos_, sin_;
  const bf16* wte_ = nullptr;
  const bf16* lm_head_ = nullptr;
  const bf16* smear_gate_ = nullptr;
  std::vector<LayerWeights> layers_;
};

}  // namespace nanochat::model
