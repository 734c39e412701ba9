// MuonAdamW on the GPU (spec model-and-training.md §7, one rank): the same groups, schedule and
// state layout as the host optim::MuonAdamW, with the parameters, gradients and all optimizer state
// on the device, so a training step never leaves it.
//
// Slabs (all laid out by the ParamLayout, device pointers):
//   params — fp32 master weights (total_floats()), updated in place;
//   grads  — fp32 gradients, read only;
//   shadow — bf16 copy of params (total_floats() elements, same offsets), what the forward GEMMs
//            read; every step rewrites the shadow of each parameter it updates (padding is left).
// State mirrors the host class: first moment = the slab (AdamW exp_avg, Muon momentum buffers),
// second moment = AdamW exp_avg_sq at the parameter offsets, then the NorMuon buffers at
// second_moment_offset(group). The AdamW step counters and the hyperparameters live on the host.
//
// Numerics, as the original on CUDA with CD = bf16: wte and value_embeds ("embedding",
// "value_embeds") are bf16 tables, so their gradients are rounded to bf16 and the parameters and
// both moments are re-rounded to bf16 after each step (bf16_embeddings); Muon's orthogonalization runs
// in bf16 (kernels/cuda/optimizer.h). Everything else is the host's fp32 arithmetic.
//
// Checkpoints go through the host class: download_state into a MuonAdamW, then its save_state;
// load_state, then upload_state.
#pragma once
#include <cuda_bf16.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "nanochat/kernels/cuda/context.h"
#include "nanochat/kernels/cuda/device_buffer.h"
#include "nanochat/kernels/cuda/optimizer.h"
#include "nanochat/model/param_layout.h"
#include "nanochat/optim/muon_adamw.h"

namespace nanochat::optim {

// The fp32 scalars of AdamW step `step` (1-based) of a group, rounded as optim::adamw_step rounds them.
kernels::cuda::AdamWScalars adamw_scalars(const GroupHyper& h, int64_t step);

struct MuonAdamWCudaOptions {
  bool bf16_embeddings = true;  // the original on CUDA; false keeps the embedding tables fp32
  bool vector_kernels = true;   // false: the elementwise passes element by element (same bits; tests, A/B)
  // The AdamW groups (memory-bound) run on a lower-priority side stream beside the Muon groups
  // (GEMM-bound) on the context's stream; step() joins them before returning. They touch disjoint parts
  // of every slab, so the results are the same bits either way.
  bool overlap_adamw = true;
};

class MuonAdamWCuda {
 public:
  using bf16 = __nv_bfloat16;

  MuonAdamWCuda(const model::ParamLayout& layout, const OptimizerSetup& setup, cuda::CudaContext& ctx,
                MuonAdamWCudaOptions options = {});
  MuonAdamWCuda(const model::ParamLayout& layout, std::vector<GroupHyper> groups, cuda::CudaContext& ctx,
                MuonAdamWCudaOptions options = {});

  const model::ParamLayout& layout() const { return layout_; }
  std::vector<GroupHyper>& groups() { return groups_; }
  const std::vector<GroupHyper>& groups() const { return groups_; }
  const MuonAdamWCudaOptions& options() const { return options_; }

  // lr = initial_lr * lr_multiplier on every group; momentum and weight_decay on the Muon groups.
  void apply_schedule(double lr_multiplier, double muon_momentum, double muon_weight_decay);

  // One step of every group, enqueued on the context's stream (no synchronisation; with overlap_adamw the
  // AdamW groups run on a side stream that the context's stream waits for before anything after step()).
  void step(float* params, const float* grads, bf16* shadow);

  // shadow = bf16(params) over the whole slab (after loading or initialising weights).
  void refresh_shadow(const float* params, bf16* shadow);

  // State transfer with a host optimizer built on an equal layout: moments, AdamW step counters and
  // every group's hyperparameters. Both synchronise the stream. Throws naming what does not match.
  void download_state(MuonAdamW& host) const;
  void upload_state(const MuonAdamW& host);

  // Device state (see the file comment).
  const float* first_moment() const { return first_.data(); }
  const float* second_moment() const { return second_.data(); }
  size_t second_moment_size() const { return second_.size(); }
  size_t second_moment_offset(int group) const;
  int64_t adamw_step_count(int param) const { return adamw_steps_.at(static_cast<size_t>(param)); }

 private:
  void check_host(const MuonAdamW& host) const;

  model::ParamLayout layout_;
  std::vector<GroupHyper> groups_;
  MuonAdamWCudaOptions options_;
  cuda::CudaContext& ctx_;
  cuda::DeviceBuffer<float> first_, second_;
  std::vector<size_t> second_offsets_;
  std::vector<int64_t> adamw_steps_;
  kernels::cuda::MuonScratch scratch_;
  // The AdamW groups' stream and the events that fork it from / join it to the context's stream.
  struct SideStream {
    cudaStream_t stream = nullptr;
    cudaEvent_t fork = nullptr, join = nullptr;
    SideStream();
    ~SideStream();
    SideStream(const SideStream&) = delete;
    SideStream& operator=(const SideStream&) = delete;
  };
  std::unique_ptr<SideStream> side_;
};

}  // namespace nanochat::optim
