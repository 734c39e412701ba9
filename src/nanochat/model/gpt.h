// The nanochat GPT on the CPU: fp32 master parameters in one slab (ParamLayout), a training forward
// that keeps what the backward needs (Activations), and the hand-written backward (spec §3-§4).
// F = float is the reference; F = double exists for finite-difference gradient checks.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "nanochat/core/safetensors.h"
#include "nanochat/model/activations.h"
#include "nanochat/model/config.h"
#include "nanochat/model/kv_cache.h"
#include "nanochat/model/param_layout.h"

namespace nanochat::model {

inline constexpr double kLogitSoftcap = 15.0;
inline constexpr double kQkScale = 1.2;

template <class F>
class GPT {
 public:
  explicit GPT(const GPTConfig& config);
  GPT(const GPT&) = delete;
  GPT& operator=(const GPT&) = delete;

  const GPTConfig& config() const { return config_; }
  const ParamLayout& layout() const { return layout_; }

  std::span<F> params() { return params_; }
  std::span<const F> params() const { return params_; }
  std::span<F> grads() { return grads_; }
  std::span<const F> grads() const { return grads_; }
  std::span<F> param(const std::string& name);  // one parameter's values, by state_dict name
  std::span<F> grad(const std::string& name);
  void zero_grads();

  // Loads every parameter from tensors named prefix + state_dict name (e.g. "param." in the golden
  // files). Shapes must match; a tensor with the prefix that the model lacks is an error too.
  void load(const SafetensorsReader& file, const std::string& prefix = "");

  // Training-mode forward of idx (B,T) (acts fixes B and T). With targets (B,T; -1 = ignore) it also
  // computes the per-position loss (acts.loss) and returns the mean over valid positions (NaN when
  // none is valid); without targets it returns NaN and stops after the final norm (see logits()).
  F forward(Activations<F>& acts, const int64_t* idx, const int64_t* targets) const;  // writes only acts
  // Softcapped logits (B*T, vocab_size) of the last forward.
  void logits(Activations<F>& acts, F* out) const;
  // Accumulates d(loss_scale * mean loss)/d(params) into grads() (call zero_grads() first for one
  // step; pass 1/A per micro-step for gradient accumulation). Needs a forward with targets.
  void backward(Activations<F>& acts, F loss_scale = F(1));

  // Inference with a KV cache (spec §3.4): feeds T new tokens per row (idx is (cache.batch(), T)) at
  // position cache.pos(), writes their keys/values, advances the cache and writes the softcapped
  // logits (batch, T, vocab_size) to logits (may be null). One difference from upstream, on purpose:
  // a multi-token chunk fed to a non-empty cache smears its first token with the cached previous
  // embedding (upstream skips that), so a chunked prefill equals the full forward.
  void forward_cached(KVCache<F>& cache, const int64_t* idx, int64_t T, F* logits) const;

  const F* rotary_cos() const { return cos_.data(); }
  const F* rotary_sin() const { return sin_.data(); }

 private:
  GPTConfig config_;
  ParamLayout layout_;
  std::vector<F> params_, grads_;
  ModelPtrs<F> p_, g_;
  std::vector<F> cos_, sin_;  // (10*sequence_len, d/2)
};

}  // namespace nanochat::model
