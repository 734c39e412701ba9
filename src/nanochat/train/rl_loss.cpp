#include "nanochat/train/rl_loss.h"

#include <algorithm>
#include <vector>

#include "nanochat/core/error.h"

namespace nanochat::train {

PassLoss reinforce_backward(TrainingBackend& backend, const RolloutBatch& batch, std::span<const double> advantages,
                            double divisor) {
  NC_CHECK(static_cast<int64_t>(advantages.size()) == batch.rows, "reinforce_backward: {} advantages for {} rows",
           advantages.size(), batch.rows);
  NC_CHECK(divisor > 0, "reinforce_backward: divisor must be positive, got {}", divisor);
  PassLoss out;
  out.num_valid = std::max<int64_t>(1, batch.num_valid());
  const double denominator = static_cast<double>(out.num_valid) * divisor;

  std::vector<double> distinct;
  for (const double a : advantages)
    if (a != 0 && std::find(distinct.begin(), distinct.end(), a) == distinct.end()) distinct.push_back(a);

  const size_t W = static_cast<size_t>(batch.width);
  std::vector<int64_t> targets(batch.targets.size());
  for (const double a : distinct) {
    int64_t n_valid = 0;
    for (size_t r = 0; r < advantages.size(); ++r) {
      const bool mine = advantages[r] == a;
      for (size_t t = 0; t < W; ++t) {
        const int64_t v = mine ? batch.targets[r * W + t] : -1;
        targets[r * W + t] = v;
        n_valid += v >= 0 ? 1 : 0;
      }
    }
    if (n_valid == 0) continue;  // these rows sampled nothing trainable
    const double scale = a * static_cast<double>(n_valid) / denominator;
    backend.forward_backward(batch.inputs.data(), targets.data(), static_cast<float>(scale));
    ++out.forwards;
    out.loss += scale * backend.last_loss();
  }
  return out;
}

}  // namespace nanochat::train
