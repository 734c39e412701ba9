// Where chat_rl's rollouts and pass@k samples come from: the one seam between the training loop and
// generation. The engine runs on an engine::Decoder: the fp32 GPT<float> host copy of the backend's
// model for the CPU backend, a bf16 CUDA decoder for the CUDA backend (rollouts are most of an RL
// step, so they must not fall back to the host), both refreshed from the backend's weights.
#pragma once
#include <memory>
#include <span>

#include "nanochat/engine/engine.h"
#include "nanochat/train/training_backend.h"

namespace nanochat::train {

class PolicySampler {
 public:
  virtual ~PolicySampler() = default;
  // The policy's weights changed (an optimizer step, a checkpoint load): generate from the new ones.
  virtual void refresh() = 0;
  // engine::Engine::generate_batch semantics (spec §4.6): prompt + completion per row, terminators
  // dropped, masks 0 over the prompt and forced tool outputs.
  virtual engine::Engine::Batch generate_batch(std::span<const TokenId> prompt,
                                               const engine::GenerateOptions& options) = 0;
};

// The engine (with the calculator tool) on backend.host_model().
std::unique_ptr<PolicySampler> make_host_policy_sampler(TrainingBackend& backend, const Tokenizer& tokenizer);
// The engine on a CUDA decoder holding a bf16 copy of the backend's weights, re-copied on refresh().
std::unique_ptr<PolicySampler> make_cuda_policy_sampler(TrainingBackend& backend, const Tokenizer& tokenizer);
// The sampler for the backend's device: CUDA decoder for "cuda", host engine for "cpu".
std::unique_ptr<PolicySampler> make_policy_sampler(TrainingBackend& backend, const Tokenizer& tokenizer);

}  // namespace nanochat::train
