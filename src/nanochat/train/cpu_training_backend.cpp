// The CPU backend: the fp32 reference model and optimizer, live (no mirroring); and the device choice.
#include <cmath>

#include "nanochat/core/error.h"
#include "nanochat/core/log.h"
#include "nanochat/model/activations.h"
#include "nanochat/train/training_backend.h"

namespace nanochat::train {

namespace {

class CpuTrainingBackend final : public TrainingBackend {
 public:
  CpuTrainingBackend(const model::GPTConfig& config, int64_t B, int64_t T, const optim::OptimizerSetup& setup)
      : model_(config), optimizer_(model_.layout(), setup), acts_(config, B, T) {
    // Training forwards are always followed by backward: compute the lm_head gradients chunk by chunk
    // during the forward instead of recomputing the logits (about a quarter of the CPU step).
    acts_.fuse_lm_head_backward = true;
  }
  std::string device_type() const override { return "cpu"; }
  std::string device_name() const override { return "cpu"; }
  model::GPT<float>& host_model() override { return model_; }
  optim::MuonAdamW& host_optimizer() override { return optimizer_; }
  void sync_to_host(bool) override {}
  void sync_from_host() override {}
  void sync_params_from_host() override {}

  void forward_backward(const int64_t* idx, const int64_t* targets, float loss_scale) override {
    acts_.fuse_lm_head_backward = true;
    loss_ = model_.forward(acts_, idx, targets);
    if (std::isfinite(loss_)) model_.backward(acts_, loss_scale);
  }
  double last_loss() override { return loss_; }
  std::vector<float> download_grads() override { return {model_.grads().begin(), model_.grads().end()}; }
  void upload_grads(std::span<const float> grads) override {
    NC_CHECK(grads.size() == model_.grads().size(), "upload_grads: {} floats for a slab of {}", grads.size(),
             model_.grads().size());
    std::copy(grads.begin(), grads.end(), model_.grads().begin());
  }
  void optimizer_step(double lrm, double momentum, double wd) override {
    optimizer_.apply_schedule(lrm, momentum, wd);
    optimizer_.step(model_.params(), model_.grads());
    model_.zero_grads();
  }
  std::optional<std::pair<std::string, float>> first_non_finite_param() override {
    const auto params = model_.params();
    for (const auto& e : model_.layout().params()) {
      const float* p = params.data() + e.offset;
      bool finite = true;
      for (size_t i = 0; i < e.numel; ++i) finite &= std::isfinite(p[i]);
      if (finite) continue;
      for (size_t i = 0; i < e.numel; ++i)
        if (!std::isfinite(p[i])) return std::pair{e.name, p[i]};
    }
    return std::nullopt;
  }
  void eval_row_losses(const int64_t* idx, const int64_t* targets, std::vector<float>& losses) override {
    // Evaluation forwards need no gradients: skip the lm_head backward fused into training forwards.
    acts_.fuse_lm_head_backward = false;
    model_.forward(acts_, idx, targets);
    losses.assign(acts_.loss, acts_.loss + acts_.rows());
  }

 private:
  model::GPT<float> model_;
  optim::MuonAdamW optimizer_;
  model::Activations<float> acts_;
  double loss_ = 0;
};

}  // namespace

std::unique_ptr<TrainingBackend> make_cpu_backend(const model::GPTConfig& config, int64_t B, int64_t T,
                                                  const optim::OptimizerSetup& setup) {
  return std::make_unique<CpuTrainingBackend>(config, B, T, setup);
}

std::string resolve_training_device(const std::string& requested) {
  std::string device = requested;
  if (device.empty()) {
    device = cuda_backend_available() ? "cuda" : "cpu";
    log_info("Autodetected device type: {}", device);
  } else if (device == "mps") {
    fail("--device-type mps: Apple MPS is not supported by nanochat.cpp; use --device-type cpu or cuda");
  } else if (device != "cpu" && device != "cuda") {
    usage_fail("argument --device-type: expected cuda, cpu or mps (or empty to autodetect), got '{}'", device);
  }
  return device;
}

std::unique_ptr<TrainingBackend> make_backend(const std::string& device, const model::GPTConfig& config, int64_t B,
                                              int64_t T, const optim::OptimizerSetup& setup) {
  return device == "cuda" ? make_cuda_backend(config, B, T, setup) : make_cpu_backend(config, B, T, setup);
}

#ifndef NANOCHAT_HAVE_CUDA
std::unique_ptr<TrainingBackend> make_cuda_backend(const model::GPTConfig&, int64_t, int64_t,
                                                   const optim::OptimizerSetup&, const CudaBackendOptions&) {
  fail("--device-type cuda: this nanochat binary was built without the CUDA backend (configure with nvcc "
       "available, or -DNANOCHAT_CUDA=ON)");
}
bool cuda_backend_available() { return false; }
#endif

}  // namespace nanochat::train
