#include "nanochat/train/rl_rollouts.h"

#include <algorithm>
#include <bit>
#include <limits>

#include "nanochat/core/error.h"

namespace nanochat::train {

int64_t python_tuple_hash(std::span<const int64_t> items) {
  // CPython 3.8+ tuplehash (an xxHash64 variant) with hash(int x) = x for 0 <= x < 2^61 - 1.
  constexpr uint64_t kPrime1 = 11400714785074694791ULL, kPrime2 = 14029467366897019727ULL,
                     kPrime5 = 2870177450012600261ULL;
  constexpr uint64_t kMersenne61 = (uint64_t{1} << 61) - 1;
  uint64_t acc = kPrime5;
  for (const int64_t x : items) {
    NC_CHECK(x >= 0 && static_cast<uint64_t>(x) < kMersenne61,
             "python_tuple_hash: element {} is outside [0, 2^61 - 1), where hash(int) is the identity", x);
    acc += static_cast<uint64_t>(x) * kPrime2;
    acc = std::rotl(acc, 31);
    acc *= kPrime1;
  }
  acc += static_cast<uint64_t>(items.size()) ^ (kPrime5 ^ 3527539ULL);
  if (acc == std::numeric_limits<uint64_t>::max()) return 1546275796;
  return static_cast<int64_t>(acc);
}

uint64_t rollout_seed(int64_t step, int64_t example_idx, int64_t sampling_step) {
  const int64_t tuple[3] = {step, example_idx, sampling_step};
  return static_cast<uint64_t>(python_tuple_hash(tuple)) & 0x7FFFFFFFULL;
}

std::vector<double> group_advantages(std::span<const double> rewards) {
  NC_CHECK(!rewards.empty(), "group_advantages: a group needs at least one reward");
  double sum = 0;
  for (const double r : rewards) sum += r;
  const double mean = sum / static_cast<double>(rewards.size());
  std::vector<double> out;
  out.reserve(rewards.size());
  for (const double r : rewards) out.push_back(r - mean);
  return out;
}

double RolloutGroup::mean_reward() const {
  double sum = 0;
  for (const double r : rewards) sum += r;
  return rewards.empty() ? 0.0 : sum / static_cast<double>(rewards.size());
}

int64_t RolloutGroup::longest() const {
  size_t n = 0;
  for (const auto& s : sequences) n = std::max(n, s.size());
  return static_cast<int64_t>(n);
}

int64_t RolloutBatch::num_valid() const {
  return static_cast<int64_t>(std::count_if(targets.begin(), targets.end(), [](int64_t t) { return t >= 0; }));
}

RolloutBatch rollout_batch(const RolloutGroup& group, size_t row0, size_t rows, int64_t width, TokenId pad) {
  NC_CHECK(row0 + rows <= group.sequences.size() && group.masks.size() == group.sequences.size(),
           "rollout_batch: rows [{}, {}) of a group of {} sequences ({} masks)", row0, row0 + rows,
           group.sequences.size(), group.masks.size());
  NC_CHECK(width >= 1 && width >= group.longest() - 1, "rollout_batch: width {} is shorter than the longest rollout ({} tokens) - 1",
           width, group.longest());
  RolloutBatch b;
  b.rows = static_cast<int64_t>(rows);
  b.width = width;
  const size_t W = static_cast<size_t>(width);
  b.inputs.assign(rows * W, pad);
  b.targets.assign(rows * W, -1);
  for (size_t r = 0; r < rows; ++r) {
    const auto& ids = group.sequences[row0 + r];
    const auto& mask = group.masks[row0 + r];
    NC_CHECK(ids.size() == mask.size(), "rollout_batch: sequence {} has {} tokens but {} mask entries", row0 + r,
             ids.size(), mask.size());
    for (size_t t = 0; t < std::min(ids.size(), W); ++t) b.inputs[r * W + t] = ids[t];
    for (size_t t = 0; t + 1 < ids.size(); ++t)
      if (mask[t + 1] != 0) b.targets[r * W + t] = ids[t + 1];
  }
  return b;
}

std::vector<double> pass_at_k(const std::vector<std::vector<bool>>& outcomes, int64_t k_max) {
  std::vector<double> out;
  for (int64_t k = 1; k <= k_max; ++k) {
    int64_t passed = 0;
    for (const auto& record : outcomes) {
      const auto end = record.begin() + std::min<int64_t>(k, static_cast<int64_t>(record.size()));
      passed += std::any_of(record.begin(), end, [](bool ok) { return ok; }) ? 1 : 0;
    }
    out.push_back(outcomes.empty() ? std::numeric_limits<double>::quiet_NaN()
                                   : static_cast<double>(passed) / static_cast<double>(outcomes.size()));
  }
  return out;
}

}  // namespace nanochat::train
