// The nanochat GPT on one GPU (DESIGN.md "GPU performance"): the same forward and hand-written
// backward as model::GPT<float> (gpt.h, the reference it is tested against), with the original's
// dtypes for CD = bf16 (spec model-and-training.md §3.3): bf16 activations and weight copies, fp32
// accumulation inside every kernel, fp32 logits only in registers (softcap + cross-entropy fused),
// fp32 master weights and fp32 gradients. Every op is enqueued on the context's stream and nothing
// in a step synchronises with the host or allocates outside the stream-ordered pool, so a whole step
// can later be captured as one CUDA graph.
//
// Parameters live in three device slabs laid out by the ParamLayout: fp32 master values (what the
// optimizer updates and checkpoints hold), fp32 gradients (+= across micro-steps), and the bf16
// shadow the forward and backward read (refreshed by the optimizer, or by refresh_shadow()).
#pragma once
#include <cuda_bf16.h>

#include <cstdint>
#include <span>
#include <vector>

#include "nanochat/kernels/cuda/context.h"
#include "nanochat/kernels/cuda/device_buffer.h"
#include "nanochat/kernels/cuda/phase_profiler.h"
#include "nanochat/model/config.h"
#include "nanochat/model/param_layout.h"

namespace nanochat::model {

using bf16_t = __nv_bfloat16;

// Per-layer activations kept for the backward (bf16 unless noted). The MLP's relu² output is not
// kept: the backward recomputes it from u (cheap, and 4C values per row saved per layer).
struct CudaLayerActivations {
  bf16_t* h = nullptr;        // norm(block input)            (BT, C)
  float* rstd_h = nullptr;    //                              (BT)
  bf16_t* q = nullptr;        // 1.2*norm(rope(c_q(h)))       (BT, H, d)
  float* rstd_q = nullptr;    //                              (BT*H)
  bf16_t* k = nullptr;        //                              (BT, Hk, d)
  float* rstd_k = nullptr;    //                              (BT*Hk)
  bf16_t* v = nullptr;        // c_v(h) + gate*ve             (BT, Hk, d)
  float* ve_gate = nullptr;   // 3*sigmoid(...), VE layers    (BT, Hk)
  bf16_t* y = nullptr;        // attention output             (BT, C)
  float* lse = nullptr;       // softmax log-sum-exp          (B, H, T)
  bf16_t* h2 = nullptr;       // norm(x + attn)               (BT, C)
  float* rstd_h2 = nullptr;   //                              (BT)
  bf16_t* u = nullptr;        // c_fc(h2), before relu²       (BT, 4C); the backward overwrites it with relu²(u)
  bf16_t* out = nullptr;      // block output                 (BT, C)
};

// One planned device allocation for a fixed (B, T), plus pinned host staging for the token ids.
class CudaActivations {
 public:
  // logits_chunk_rows: rows of logits formed at a time (0: about 256M values' worth, at most B*T).
  CudaActivations(const GPTConfig& config, int64_t B, int64_t T, int64_t logits_chunk_rows = 0);
  ~CudaActivations();
  CudaActivations(const CudaActivations&) = delete;
  CudaActivations& operator=(const CudaActivations&) = delete;
  int64_t B() const { return B_; }
  int64_t T() const { return T_; }
  int64_t rows() const { return B_ * T_; }
  int64_t logits_chunk_rows() const { return chunk_rows_; }
  size_t bytes() const { return arena_.size(); }

  int64_t* idx = nullptr;       // device (BT)
  int64_t* targets = nullptr;   // device (BT)
  int64_t* idx_host = nullptr;  // pinned staging (BT), then targets_host
  int64_t* targets_host = nullptr;
  int64_t num_valid_targets = 0;
  bool has_targets = false;

  bf16_t* xn_emb = nullptr;     // norm(wte[idx])              (BT, C)
  float* rstd_emb = nullptr;
  float* smear_sig = nullptr;   // (BT)
  bf16_t* x0 = nullptr;         // post-smear embedding        (BT, C)
  std::vector<CudaLayerActivations> layers;
  bf16_t* xf_n = nullptr;       // norm(x_L - lambda_b*x_b)    (BT, C)
  float* rstd_f = nullptr;
  float* loss = nullptr;        // per-row CE, 0 where ignored (BT)
  float* lse = nullptr;         // per-row lse of the capped logits (BT)
  float* mean_loss = nullptr;   // device scalar: scale * sum(loss) of the last forward
  // Scratch.
  bf16_t* buf_c0 = nullptr;
  bf16_t* buf_c1 = nullptr;
  bf16_t* buf_c2 = nullptr;
  bf16_t* buf_c3 = nullptr;     // also the final norm's input gradient (filled by the loss chunks)
  bf16_t* buf_q = nullptr;      // (BT, C)
  bf16_t* buf_k = nullptr;      // (BT, KV)
  bf16_t* buf_v = nullptr;      // (BT, KV)
  bf16_t* buf_4c = nullptr;     // (BT, 4C)
  float* g_x0 = nullptr;        // fp32 (BT, C): the x0 gradient sums every layer's share
  float* g_xb = nullptr;        // fp32 (BT, C): backout's share of block L/2's output gradient
  bf16_t* logits = nullptr;     // (chunk_rows, V)

 private:
  void plan(std::byte* base, size_t* total);
  GPTConfig config_;
  int64_t B_, T_, chunk_rows_;
  cuda::DeviceBuffer<std::byte> arena_;
};

class GptCuda {
 public:
  GptCuda(const GPTConfig& config, cuda::CudaContext& ctx);
  GptCuda(const GptCuda&) = delete;
  GptCuda& operator=(const GptCuda&) = delete;
  const GPTConfig& config() const { return config_; }
  const ParamLayout& layout() const { return layout_; }
  cuda::CudaContext& context() { return ctx_; }

  float* params() { return params_.data(); }
  float* grads() { return grads_.data(); }
  bf16_t* shadow() { return reinterpret_cast<bf16_t*>(shadow_.data()); }

  // Host <-> device copies of the master slab (layout().total_floats() floats). upload refreshes the
  // shadow. Both synchronise (setup, checkpoints, tests).
  void upload_params(std::span<const float> host);
  void download_params(std::span<float> host) const;
  std::vector<float> download_grads() const;
  void refresh_shadow();  // shadow = bf16(params), enqueued
  void zero_grads();      // enqueued

  // Training step half: forward of idx/targets (B, T; host arrays, -1 = ignored target) with the
  // loss, then the whole backward, accumulating d(loss_scale * mean loss)/d(params) into grads().
  // The mean loss lands in acts.mean_loss (device) and is returned only by read_loss().
  void forward_backward(CudaActivations& acts, const int64_t* idx, const int64_t* targets, float loss_scale);
  // Evaluation: forward with the loss only (acts.loss holds per-row losses, acts.mean_loss the mean).
  void forward_loss(CudaActivations& acts, const int64_t* idx, const int64_t* targets);
  // Synchronises and returns acts.mean_loss (NaN when no target was valid).
  float read_loss(const CudaActivations& acts) const;
  std::vector<float> read_row_losses(const CudaActivations& acts) const;

  // Charges each op's device time to a phase (benchmarks; null = off). Not owned.
  void set_profiler(cuda::PhaseProfiler* profiler) { prof_ = profiler; }

 private:
  void stage_inputs(CudaActivations& acts, const int64_t* idx, const int64_t* targets);
  void forward_trunk(CudaActivations& acts);
  void loss_chunks(CudaActivations& acts, bool with_backward, float loss_scale);
  void backward_trunk(CudaActivations& acts);

  GPTConfig config_;
  ParamLayout layout_;
  cuda::CudaContext& ctx_;
  cuda::DeviceBuffer<float> params_, grads_;
  cuda::DeviceBuffer<uint16_t> shadow_;
  cuda::DeviceBuffer<float> cos_, sin_;  // (10*sequence_len, d/2), bf16-rounded values as the original
  ModelPtrs<float> p_, g_;
  ModelPtrs<uint16_t> w_;  // the shadow
  cuda::PhaseProfiler* prof_ = nullptr;
};

}  // namespace nanochat::model
