#include "nanochat/model/model_stats.h"

#include <algorithm>
#include <string_view>

#include "nanochat/core/error.h"
#include "nanochat/model/param_layout.h"

namespace nanochat::model {

namespace {
bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }
}  // namespace

ParamCounts count_parameters(const model::GPTConfig& config) {
  // Classify the layout's parameters by their state_dict names, so the counts follow the model's
  // real shapes (padded vocab, GQA, VE layers) instead of re-deriving closed forms.
  const model::ParamLayout layout(config);
  ParamCounts c;
  for (const auto& p : layout.params()) {
    const auto n = static_cast<int64_t>(p.numel);
    const std::string_view name = p.name;
    if (name == "transformer.wte.weight") c.wte += n;
    else if (starts_with(name, "value_embeds.")) c.value_embeds += n;
    else if (name == "lm_head.weight") c.lm_head += n;
    else if (starts_with(name, "transformer.h.")) c.transformer_matrices += n;
    else if (name == "resid_lambdas" || name == "x0_lambdas" || name == "smear_gate.weight" ||
             name == "smear_lambda" || name == "backout_lambda")
      c.scalars += n;
    else fail("count_parameters: parameter '{}' belongs to no scaling group", p.name);
    c.total += n;
  }
  NC_CHECK(c.total == static_cast<int64_t>(layout.num_parameters()),
           "count_parameters: groups sum to {} but the model has {} parameters", c.total, layout.num_parameters());
  return c;
}

int64_t scaling_params(const model::GPTConfig& config) {
  const ParamCounts c = count_parameters(config);
  return c.transformer_matrices + c.lm_head;
}

int64_t num_matmul_params(const model::GPTConfig& config) {
  const ParamCounts c = count_parameters(config);
  return c.transformer_matrices + c.lm_head + model::kSmearGateChannels;
}

int64_t flops_per_token(const model::GPTConfig& config) {
  const int64_t T = config.sequence_len;
  int64_t attention = 0;
  for (int64_t i = 0; i < config.n_layer; ++i)
    attention += 12 * config.n_head * config.head_dim() * std::min(config.window(i), T);
  return 6 * num_matmul_params(config) + attention;
}

}  // namespace nanochat::model
