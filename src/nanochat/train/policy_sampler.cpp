#include "nanochat/train/policy_sampler.h"

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

}  // namespace

std::unique_ptr<PolicySampler> make_host_policy_sampler(TrainingBackend& backend, const Tokenizer& tokenizer) {
  return std::make_unique<HostPolicySampler>(backend, tokenizer);
}

}  // namespace nanochat::train
