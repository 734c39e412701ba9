#include "nanochat/optim/muon_adamw_cuda.h"

#include <algorithm>
#include <cmath>

#include "nanochat/core/error.h"
#include "nanochat/kernels/cuda/check.h"

namespace nanochat::optim {

using model::OptimKind;
using model::ParamGroup;

namespace {

bool is_bf16_table(const ParamGroup& g) { return g.label == "embedding" || g.label == "value_embeds"; }

}  // namespace

// The host's fp32 scalar expressions of optim::adamw_step (this file is built with
// -ffp-contract=off, as the reference, so each operation rounds on its own).
kernels::cuda::AdamWScalars adamw_scalars(const GroupHyper& h, int64_t step) {
  const float lr = static_cast<float>(h.lr);
  const float beta1 = static_cast<float>(h.beta1);
  const float beta2 = static_cast<float>(h.beta2);
  const float step_f = static_cast<float>(step);
  kernels::cuda::AdamWScalars k;
  k.decay = 1.0f - lr * static_cast<float>(h.weight_decay);
  k.w1 = 1.0f - beta1;
  k.w2 = 1.0f - beta2;
  k.bias2 = 1.0f - std::pow(beta2, step_f);
  k.eps = static_cast<float>(h.eps);
  k.neg_step_size = -(lr / (1.0f - std::pow(beta1, step_f)));
  return k;
}

MuonAdamWCuda::MuonAdamWCuda(const model::ParamLayout& layout, const OptimizerSetup& setup, cuda::CudaContext& ctx,
                             MuonAdamWCudaOptions options)
    : MuonAdamWCuda(layout, default_param_groups(layout, setup), ctx, options) {}

MuonAdamWCuda::MuonAdamWCuda(const model::ParamLayout& layout, std::vector<GroupHyper> groups, cuda::CudaContext& ctx,
                             MuonAdamWCudaOptions options)
    : layout_(layout), groups_(std::move(groups)), options_(options), ctx_(ctx) {
  check_param_groups(layout_, groups_);
  size_t end = 0;
  second_offsets_ = second_moment_offsets(layout_, &end);  // the host class's layout
  for (const ParamGroup& g : layout_.groups())
    if (g.kind == OptimKind::Muon) scratch_.reserve(static_cast<int64_t>(g.params.size()), g.rows, g.cols);
  first_ = cuda::DeviceBuffer<float>(layout_.total_floats());
  second_ = cuda::DeviceBuffer<float>(end);
  first_.fill_bytes(0);
  second_.fill_bytes(0);
  adamw_steps_.assign(layout_.params().size(), 0);
  if (options_.overlap_adamw) side_ = std::make_unique<SideStream>();
}

MuonAdamWCuda::SideStream::SideStream() {
  int least = 0, greatest = 0;
  NC_CUDA_CHECK(cudaDeviceGetStreamPriorityRange(&least, &greatest));
  NC_CUDA_CHECK(cudaStreamCreateWithPriority(&stream, cudaStreamNonBlocking, least));
  NC_CUDA_CHECK(cudaEventCreateWithFlags(&fork, cudaEventDisableTiming));
  NC_CUDA_CHECK(cudaEventCreateWithFlags(&join, cudaEventDisableTiming));
}

MuonAdamWCuda::SideStream::~SideStream() {
  if (join != nullptr) cudaEventDestroy(join);
  if (fork != nullptr) cudaEventDestroy(fork);
  if (stream != nullptr) cudaStreamDestroy(stream);
}

size_t MuonAdamWCuda::second_moment_offset(int group) const {
  NC_CHECK(group >= 0 && static_cast<size_t>(group) < second_offsets_.size(), "cuda optimizer: no group {}", group);
  return second_offsets_[static_cast<size_t>(group)];
}

void MuonAdamWCuda::apply_schedule(double lr_multiplier, double muon_momentum, double muon_weight_decay) {
  optim::apply_schedule(groups_, lr_multiplier, muon_momentum, muon_weight_decay);
}

void MuonAdamWCuda::step(float* params, const float* grads, bf16* shadow) {
  NC_CHECK(params != nullptr && grads != nullptr && shadow != nullptr, "cuda optimizer step: null slab");
  check_param_groups(layout_, groups_);
  cudaStream_t stream = ctx_.stream();
  cudaStream_t adamw_stream = stream;
  if (side_ != nullptr) {
    NC_CUDA_CHECK(cudaEventRecord(side_->fork, stream));
    NC_CUDA_CHECK(cudaStreamWaitEvent(side_->stream, side_->fork, 0));
    adamw_stream = side_->stream;
  }
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    const ParamGroup& g = layout_.groups()[gi];
    const GroupHyper& h = groups_[gi];
    if (g.kind == OptimKind::AdamW) {
      const bool bf16_table = options_.bf16_embeddings && is_bf16_table(g);
      for (int pi : g.params) {
        const model::ParamEntry& e = layout_.params()[static_cast<size_t>(pi)];
        const int64_t count = ++adamw_steps_[static_cast<size_t>(pi)];
        kernels::cuda::adamw_step(params + e.offset, shadow + e.offset, grads + e.offset, first_.data() + e.offset,
                                  second_.data() + e.offset, static_cast<int64_t>(e.numel), adamw_scalars(h, count),
                                  bf16_table, adamw_stream, options_.vector_kernels);
      }
    } else {
      const float lr = static_cast<float>(h.lr * muon_lr_factor(g.rows, g.cols));
      kernels::cuda::MuonStackArgs a;
      a.params = params + g.offset;
      a.shadow = shadow + g.offset;
      a.grads = grads + g.offset;
      a.momentum_buffer = first_.data() + g.offset;
      a.second_moment = second_.data() + second_offsets_[gi];
      a.K = static_cast<int64_t>(g.params.size());
      a.m = g.rows;
      a.n = g.cols;
      a.momentum = static_cast<float>(h.momentum);
      a.lr = lr;
      a.lr_wd = lr * static_cast<float>(h.weight_decay);
      a.beta2 = static_cast<float>(h.beta2);
      a.ns_steps = h.ns_steps;
      a.vector_kernels = options_.vector_kernels;
      kernels::cuda::muon_step(ctx_, a, scratch_);
    }
  }
  if (side_ != nullptr) {
    NC_CUDA_CHECK(cudaEventRecord(side_->join, side_->stream));
    NC_CUDA_CHECK(cudaStreamWaitEvent(stream, side_->join, 0));
  }
}

void MuonAdamWCuda::refresh_shadow(const float* params, bf16* shadow) {
  kernels::cuda::round_to_bf16(shadow, params, static_cast<int64_t>(layout_.total_floats()), ctx_.stream());
}

void MuonAdamWCuda::check_host(const MuonAdamW& host) const {
  const model::ParamLayout& hl = host.layout();
  NC_CHECK(hl.total_floats() == layout_.total_floats() && hl.groups().size() == layout_.groups().size() &&
               hl.params().size() == layout_.params().size(),
           "cuda optimizer state transfer: the host optimizer's layout ({} floats, {} groups) differs from the "
           "device's ({} floats, {} groups)",
           hl.total_floats(), hl.groups().size(), layout_.total_floats(), layout_.groups().size());
  NC_CHECK(host.second_moment().size() == second_.size(),
           "cuda optimizer state transfer: second moment of {} floats on the host, {} on the device",
           host.second_moment().size(), second_.size());
  for (size_t gi = 0; gi < second_offsets_.size(); ++gi)
    NC_CHECK(host.second_moment_offset(static_cast<int>(gi)) == second_offsets_[gi],
             "cuda optimizer state transfer: group {} second-moment offset differs", gi);
}

void MuonAdamWCuda::download_state(MuonAdamW& host) const {
  check_host(host);
  cudaStream_t stream = ctx_.stream();
  NC_CUDA_CHECK(cudaMemcpyAsync(host.first_moment().data(), first_.data(), first_.bytes(), cudaMemcpyDeviceToHost,
                                stream));
  NC_CUDA_CHECK(cudaMemcpyAsync(host.second_moment().data(), second_.data(), second_.bytes(), cudaMemcpyDeviceToHost,
                                stream));
  NC_CUDA_CHECK(cudaStreamSynchronize(stream));
  for (size_t pi = 0; pi < adamw_steps_.size(); ++pi) host.set_adamw_step_count(static_cast<int>(pi), adamw_steps_[pi]);
  host.groups() = groups_;
}

void MuonAdamWCuda::upload_state(const MuonAdamW& host) {
  check_host(host);
  const std::vector<GroupHyper> saved = groups_;
  groups_ = host.groups();
  try {
    check_param_groups(layout_, groups_);
  } catch (...) {
    groups_ = saved;
    throw;
  }
  cudaStream_t stream = ctx_.stream();
  NC_CUDA_CHECK(cudaMemcpyAsync(first_.data(), host.first_moment().data(), first_.bytes(), cudaMemcpyHostToDevice,
                                stream));
  NC_CUDA_CHECK(cudaMemcpyAsync(second_.data(), host.second_moment().data(), second_.bytes(), cudaMemcpyHostToDevice,
                                stream));
  NC_CUDA_CHECK(cudaStreamSynchronize(stream));
  for (size_t pi = 0; pi < adamw_steps_.size(); ++pi) adamw_steps_[pi] = host.adamw_step_count(static_cast<int>(pi));
}

}  // namespace nanochat::optim
