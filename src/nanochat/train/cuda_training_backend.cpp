// The CUDA backend: weights, gradients and optimizer state on one GPU; host mirrors for checkpoints,
// samples and the tests' hooks.
#include <cuda_runtime.h>

#include <cmath>

#include "nanochat/core/bf16.h"
#include "nanochat/core/error.h"
#include "nanochat/core/log.h"
#include "nanochat/kernels/cuda/check.h"
#include "nanochat/kernels/cuda/context.h"
#include "nanochat/kernels/cuda/ops.h"
#include "nanochat/model/gpt_cuda.h"
#include "nanochat/optim/muon_adamw_cuda.h"
#include "nanochat/train/training_backend.h"

namespace nanochat::train {

namespace {

// The original keeps wte and the value embeddings in bf16 on CUDA (spec §2): a table uploaded from
// fp32 (fresh init, a CPU checkpoint) takes the values it would have there.
void round_embedding_tables(model::GPT<float>& m) {
  for (const model::ParamEntry& e : m.layout().params()) {
    const bool table = e.name == "transformer.wte.weight" || e.name.rfind("value_embeds.", 0) == 0;
    if (!table) continue;
    float* p = m.params().data() + e.offset;
    for (size_t i = 0; i < e.numel; ++i) p[i] = bf16::round(p[i]);
  }
}

class CudaTrainingBackend final : public TrainingBackend {
 public:
  CudaTrainingBackend(const model::GPTConfig& config, int64_t B, int64_t T, const optim::OptimizerSetup& setup,
                      const CudaBackendOptions& options)
      : options_(options),
        ctx_(0),
        host_model_(config),
        host_optimizer_(host_model_.layout(), setup,
                        optim::MuonAdamWOptions{optim::OrthoPrecision::Float, options.bf16_embeddings}),
        gpu_(config, ctx_),
        optimizer_(gpu_.layout(), setup, ctx_, optim::MuonAdamWCudaOptions{options.bf16_embeddings}),
        acts_(config, B, T),
        non_finite_(1) {
    cudaDeviceProp prop{};
    NC_CUDA_CHECK(cudaGetDeviceProperties(&prop, ctx_.device()));
    name_ = prop.name;
    log_info("CUDA device 0: {} ({} SMs, {:.1f} GiB); activations {:.2f} GiB", name_, prop.multiProcessorCount,
             static_cast<double>(prop.totalGlobalMem) / (1 << 30), static_cast<double>(acts_.bytes()) / (1 << 30));
  }
  std::string device_type() const override { return "cuda"; }
  std::string device_name() const override { return name_; }
  model::GPT<float>& host_model() override { return host_model_; }
  optim::MuonAdamW& host_optimizer() override { return host_optimizer_; }

  void sync_to_host(bool with_optimizer_state) override {
    gpu_.download_params(host_model_.params());
    if (with_optimizer_state) optimizer_.download_state(host_optimizer_);
  }
  void sync_from_host() override {
    if (options_.bf16_embeddings) round_embedding_tables(host_model_);
    gpu_.upload_params(host_model_.params());
    optimizer_.upload_state(host_optimizer_);
    gpu_.zero_grads();
  }

  void sync_params_from_host() override {
    if (options_.bf16_embeddings) round_embedding_tables(host_model_);
    gpu_.upload_params(host_model_.params());
    gpu_.zero_grads();
  }

  void forward_backward(const int64_t* idx, const int64_t* targets, float loss_scale) override {
    gpu_.forward_backward(acts_, idx, targets, loss_scale);
  }
  double last_loss() override { return gpu_.read_loss(acts_); }
  std::vector<float> download_grads() override { return gpu_.download_grads(); }
  void upload_grads(std::span<const float> grads) override {
    NC_CHECK(grads.size() == gpu_.layout().total_floats(), "upload_grads: {} floats for a slab of {}", grads.size(),
             gpu_.layout().total_floats());
    NC_CUDA_CHECK(cudaMemcpyAsync(gpu_.grads(), grads.data(), grads.size_bytes(), cudaMemcpyHostToDevice, ctx_.stream()));
    NC_CUDA_CHECK(cudaStreamSynchronize(ctx_.stream()));
  }
  void optimizer_step(double lrm, double momentum, double wd) override {
    if (options_.optimizer_on_host) {
      const std::vector<float> g = gpu_.download_grads();
      std::copy(g.begin(), g.end(), host_model_.grads().begin());
      gpu_.download_params(host_model_.params());
      host_optimizer_.apply_schedule(lrm, momentum, wd);
      host_optimizer_.step(host_model_.params(), host_model_.grads());
      gpu_.upload_params(host_model_.params());
      gpu_.zero_grads();
      return;
    }
    optimizer_.apply_schedule(lrm, momentum, wd);
    optimizer_.step(gpu_.params(), gpu_.grads(), gpu_.shadow());
    gpu_.zero_grads();
  }
  std::optional<std::pair<std::string, float>> first_non_finite_param() override {
    kernels::cuda::count_non_finite(non_finite_.data(), gpu_.params(), static_cast<int64_t>(gpu_.layout().total_floats()),
                                    ctx_.stream());
    int count = 0;
    NC_CUDA_CHECK(cudaMemcpyAsync(&count, non_finite_.data(), sizeof(int), cudaMemcpyDeviceToHost, ctx_.stream()));
    NC_CUDA_CHECK(cudaStreamSynchronize(ctx_.stream()));
    if (count == 0) return std::nullopt;
    // Rare path: find which parameter, on the host.
    gpu_.download_params(host_model_.params());
    const auto params = host_model_.params();
    for (const auto& e : host_model_.layout().params())
      for (size_t i = 0; i < e.numel; ++i)
        if (!std::isfinite(params[e.offset + i])) return std::pair{e.name, params[e.offset + i]};
    return std::pair{std::string("(alignment padding)"), std::nanf("")};
  }
  void eval_row_losses(const int64_t* idx, const int64_t* targets, std::vector<float>& losses) override {
    gpu_.forward_loss(acts_, idx, targets);
    losses = gpu_.read_row_losses(acts_);
  }

 private:
  CudaBackendOptions options_;
  cuda::CudaContext ctx_;
  model::GPT<float> host_model_;
  optim::MuonAdamW host_optimizer_;
  model::GptCuda gpu_;
  optim::MuonAdamWCuda optimizer_;
  model::CudaActivations acts_;
  cuda::DeviceBuffer<int> non_finite_;
  std::string name_;
};

}  // namespace

std::unique_ptr<TrainingBackend> make_cuda_backend(const model::GPTConfig& config, int64_t B, int64_t T,
                                                   const optim::OptimizerSetup& setup,
                                                   const CudaBackendOptions& options) {
  NC_CHECK(cuda_backend_available(), "--device-type cuda: no usable CUDA device ({})", "cudaGetDeviceCount found none");
  return std::make_unique<CudaTrainingBackend>(config, B, T, setup, options);
}

bool cuda_backend_available() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

}  // namespace nanochat::train
