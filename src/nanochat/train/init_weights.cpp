#include "nanochat/train/init_weights.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <span>
#include <string>

namespace nanochat::train {

namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// One tensor's stream of draws: a pure function of (seed, stream, counter).
class TensorRng {
 public:
  TensorRng(uint64_t seed, uint64_t stream) : key_(splitmix64(splitmix64(seed) ^ (stream * 0xD1B54A32D192ED03ULL))) {}
  // Uniform in (0, 1): 53 random bits, never exactly 0 (Box-Muller takes its log).
  double uniform(uint64_t counter) const {
    return (static_cast<double>(splitmix64(key_ ^ splitmix64(counter)) >> 11) + 0.5) * 0x1.0p-53;
  }
  double normal(uint64_t i) const {
    const double u1 = uniform(2 * i), u2 = uniform(2 * i + 1);
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }

 private:
  uint64_t key_;
};

// Each value is a pure function of its index, so the loops split across threads with identical results
// (a d20 model has 900M values: seconds on one core, a fraction of that on all).
void fill_normal(std::span<float> t, const TensorRng& rng, double std) {
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < t.size(); ++i) t[i] = static_cast<float>(std * rng.normal(i));
}

void fill_uniform(std::span<float> t, const TensorRng& rng, double lo, double hi) {
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < t.size(); ++i) t[i] = static_cast<float>(lo + (hi - lo) * rng.uniform(i));
}

}  // namespace

void init_weights(model::GPT<float>& model, uint64_t seed) {
  const model::GPTConfig& c = model.config();
  const double s = std::sqrt(3.0) / std::sqrt(static_cast<double>(c.n_embd));
  uint64_t stream = 0;  // the original's draw order numbers the streams
  auto next = [&] { return TensorRng(seed, stream++); };

  fill_normal(model.param("transformer.wte.weight"), next(), 0.8);
  fill_normal(model.param("lm_head.weight"), next(), 0.001);
  for (int64_t i = 0; i < c.n_layer; ++i) {
    const std::string h = "transformer.h." + std::to_string(i) + ".";
    for (const char* w : {"attn.c_q.weight", "attn.c_k.weight", "attn.c_v.weight"})
      fill_uniform(model.param(h + w), next(), -s, s);
    std::ranges::fill(model.param(h + "attn.c_proj.weight"), 0.0f);
    fill_uniform(model.param(h + "mlp.c_fc.weight"), next(), -0.4 * s, 0.4 * s);
    std::ranges::fill(model.param(h + "mlp.c_proj.weight"), 0.0f);
  }
  // Lambda ramps in double, stored as fp32 (as Python computes them).
  const double denom = static_cast<double>(std::max<int64_t>(c.n_layer - 1, 1));
  auto resid = model.param("resid_lambdas");
  auto x0 = model.param("x0_lambdas");
  for (int64_t i = 0; i < c.n_layer; ++i) {
    const auto k = static_cast<size_t>(i);
    resid[k] = static_cast<float>(1.15 - 0.10 * static_cast<double>(i) / denom);
    x0[k] = static_cast<float>(0.20 - 0.15 * static_cast<double>(i) / denom);
  }
  model.param("smear_lambda")[0] = 0.0f;
  model.param("backout_lambda")[0] = 0.2f;
  fill_uniform(model.param("smear_gate.weight"), next(), 0.0, 0.02);
  for (int64_t i : model::value_embed_layers(c))
    fill_uniform(model.param("value_embeds." + std::to_string(i) + ".weight"), next(), -s, s);
  for (int64_t i : model::value_embed_layers(c))
    fill_uniform(model.param("transformer.h." + std::to_string(i) + ".attn.ve_gate.weight"), next(), 0.0, 0.02);
}

}  // namespace nanochat::train
