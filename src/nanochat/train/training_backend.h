// Where a training loop's model runs. The loops (base_train, and the chat stages) are written once
// against this interface; the CPU backend is the fp32 reference (model::GPT<float> + MuonAdamW), the
// CUDA backend keeps weights, gradients and optimizer state on one GPU (model::GptCuda +
// optim::MuonAdamWCuda) and mirrors them into the host objects only for checkpoints and samples.
//
// A micro-step is forward_backward() then, once the host has prepared the next batch,
// last_loss(): on the GPU the two overlap, since forward_backward only enqueues work.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "nanochat/model/gpt.h"
#include "nanochat/optim/muon_adamw.h"

namespace nanochat::train {

class TrainingBackend {
 public:
  virtual ~TrainingBackend() = default;
  virtual std::string device_type() const = 0;  // "cpu" or "cuda"
  virtual std::string device_name() const = 0;  // for logs and the MFU peak (peak_flops.h)

  // The host copies. After sync_to_host() they equal the device state; after changing them (init,
  // checkpoint load) call sync_from_host(). On the CPU backend they are the live objects.
  virtual model::GPT<float>& host_model() = 0;
  virtual optim::MuonAdamW& host_optimizer() = 0;
  virtual void sync_to_host(bool with_optimizer_state = true) = 0;
  virtual void sync_from_host() = 0;  // weights and optimizer state
  // Weights only (the optimizer state on the device is kept): after a hook edited host_model().
  virtual void sync_params_from_host() = 0;

  // Accumulates d(loss_scale * mean loss)/d(params); idx/targets are (B, T) host arrays.
  virtual void forward_backward(const int64_t* idx, const int64_t* targets, float loss_scale) = 0;
  // The mean loss of the last forward_backward (waits for it on the GPU).
  virtual double last_loss() = 0;
  // apply_schedule + step + zero the gradients.
  virtual void optimizer_step(double lr_multiplier, double muon_momentum, double muon_weight_decay) = 0;
  // The first parameter holding a NaN or infinity, with that value (a diverged step does not always
  // show in the loss: a saturating softcap can hide a NaN logit).
  virtual std::optional<std::pair<std::string, float>> first_non_finite_param() = 0;
  // The gradients accumulated since the last optimizer step, as a host slab laid out like
  // host_model().grads() (diagnostics: parity_train compares them with the fp32 CPU reference).
  virtual std::vector<float> download_grads() = 0;
  // Replaces the accumulated gradients (diagnostics: parity_train's step-0 experiments).
  virtual void upload_grads(std::span<const float> grads) = 0;
  // Per-row cross-entropy (0 where the target is -1) of a forward without gradients.
  virtual void eval_row_losses(const int64_t* idx, const int64_t* targets, std::vector<float>& losses) = 0;
};

// fp32 reference on the CPU, for batches of B x T.
std::unique_ptr<TrainingBackend> make_cpu_backend(const model::GPTConfig& config, int64_t B, int64_t T,
                                                  const optim::OptimizerSetup& setup);
// Knobs of the CUDA backend for diagnosing numerics (parity_train); the defaults are the original's
// choices on CUDA.
struct CudaBackendOptions {
  bool bf16_embeddings = true;     // wte/value_embeds and their AdamW moments held at bf16 values
  bool optimizer_on_host = false;  // the fp32 CPU optimizer on the GPU's gradients (slow; isolates the model)
};
// One GPU (device 0). Throws nanochat::Error when the binary was built without CUDA or no device is
// usable, saying which.
std::unique_ptr<TrainingBackend> make_cuda_backend(const model::GPTConfig& config, int64_t B, int64_t T,
                                                   const optim::OptimizerSetup& setup,
                                                   const CudaBackendOptions& options = {});
// Whether this binary has the CUDA backend and a usable device (the autodetection of --device-type).
bool cuda_backend_available();

// --device-type of the training commands: "" picks cuda when cuda_backend_available(), else cpu
// (logged); "cpu"/"cuda" are taken as given; "mps" is an Error; anything else a UsageError.
std::string resolve_training_device(const std::string& requested);
// make_cuda_backend or make_cpu_backend, by the resolved device.
std::unique_ptr<TrainingBackend> make_backend(const std::string& device, const model::GPTConfig& config, int64_t B,
                                              int64_t T, const optim::OptimizerSetup& setup);

}  // namespace nanochat::train
