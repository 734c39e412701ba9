#include "nanochat/train/policy_sampler.h"
#include "nanochat/engine/decoder.h"

namespace nanochat::train {

namespace {

class HostPolicySampler final : public PolicySampler {
 public:
  HostPolicySampler(TrainingBackend& backend, const Tokenizer& tokenizer)
      : backend_(backend), engine_(backend.host_model(), tokenizer) {}
  // The host copy needs the weights, not the optimizer moments.
  void refresh() override { backend_.sync_to_host(/*with_optimizer_state=*/false); }
  engine::Engine::Batch generate_batch(std::span<const TokenId> prompt, const engine::GenerateOptions& options) override {
    return engine_.generate_batch(prompt, options);
  }

 private:
  TrainingBackend& backend_;
  engine::Engine engine_;
};

class CudaPolicySampler final : public PolicySampler {
 public:
  CudaPolicySampler(TrainingBackend& backend, const Tokenizer& tokenizer) : backend_(backend), tokenizer_(tokenizer) {}
  // A new decoder per refresh: one weight copy per optimizer step, small beside the step's rollouts.
  void refresh() override {
    backend_.sync_to_host(/*with_optimizer_state=*/false);
    engine_.reset();
    decoder_.reset();
    decoder_ = engine::make_cuda_decoder(backend_.host_model());
    engine_ = std::make_unique<engine::Engine>(*decoder_, tokenizer_);
  }
  engine::Engine::Batch generate_batch(std::span<const TokenId> prompt, const engine::GenerateOptions& options) override {
    if (!engine_) refresh();
    return engine_->generate_batch(prompt, options);
  }

 private:
  TrainingBackend& backend_;
  const Tokenizer& tokenizer_;
  std::unique_ptr<engine::Decoder> decoder_;
  std::unique_ptr<engine::Engine> engine_;
};

}  // namespace

std::unique_ptr<PolicySampler> make_cuda_policy_sampler(TrainingBackend& backend, const Tokenizer& tokenizer) {
  return std::make_unique<CudaPolicySampler>(backend, tokenizer);
}

std::unique_ptr<PolicySampler> make_policy_sampler(TrainingBackend& backend, const Tokenizer& tokenizer) {
  if (backend.device_type() == "cuda") return make_cuda_policy_sampler(backend, tokenizer);
  return make_host_policy_sampler(backend, tokenizer);
}

std::unique_ptr<PolicySampler> make_host_policy_sampler(TrainingBackend& backend, const Tokenizer& tokenizer) {
  return std::make_unique<HostPolicySampler>(backend, tokenizer);
}

}  // namespace nanochat::train
