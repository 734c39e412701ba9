#include "nanochat/engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "nanochat/core/error.h"

namespace nanochat::engine {

int64_t sample_token(std::span<const float> logits, double temperature, int64_t top_k, Philox& rng) {
  NC_CHECK(temperature >= 0, "temperature must be >= 0, got {}", temperature);
  NC_CHECK(!logits.empty(), "cannot sample from an empty vocabulary");
  const int64_t V = static_cast<int64_t>(logits.size());
  if (temperature == 0) {
    return std::max_element(logits.begin(), logits.end()) - logits.begin();  // first maximum
  }
  std::vector<int64_t> ids;
  if (top_k > 0 && top_k < V) {
    ids.resize(static_cast<size_t>(V));
    std::iota(ids.begin(), ids.end(), 0);
    auto larger = [&](int64_t a, int64_t b) {
      return logits[static_cast<size_t>(a)] != logits[static_cast<size_t>(b)] ? logits[static_cast<size_t>(a)] > logits[static_cast<size_t>(b)]
                                                                                : a < b;
    };
    std::partial_sort(ids.begin(), ids.begin() + top_k, ids.end(), larger);
    ids.resize(static_cast<size_t>(top_k));
  } else {
    ids.resize(static_cast<size_t>(V));
    std::iota(ids.begin(), ids.end(), 0);
  }
  // Softmax in double with the maximum subtracted; draw by inverting the cumulative distribution.
  double mx = -INFINITY;
  for (const int64_t i : ids) mx = std::max(mx, static_cast<double>(logits[static_cast<size_t>(i)]));
  std::vector<double> w(ids.size());
  double total = 0;
  for (size_t j = 0; j < ids.size(); ++j) {
    w[j] = std::exp((static_cast<double>(logits[static_cast<size_t>(ids[j])]) - mx) / temperature);
    total += w[j];
  }
  const double u = rng.next_double() * total;
  double acc = 0;
  for (size_t j = 0; j < ids.size(); ++j) {
    acc += w[j];
    if (u < acc) return ids[j];
  }
  // Rounding can leave u at the very top: take the last token with positive weight.
  for (size_t j = ids.size(); j-- > 0;)
    if (w[j] > 0) return ids[j];
  return ids.front();
}

std::vector<int64_t> sample_tokens(std::span<const float> logits, int64_t vocab, double temperature, int64_t top_k,
                                   Philox& rng) {
  NC_CHECK(vocab > 0 && logits.size() % static_cast<size_t>(vocab) == 0, "logits size {} is not a multiple of vocab {}",
           logits.size(), vocab);
  std::vector<int64_t> out;
  for (size_t r = 0; r < logits.size(); r += static_cast<size_t>(vocab)) {
    out.push_back(sample_token(logits.subspan(r, static_cast<size_t>(vocab)), temperature, top_k, rng));
  }
  return out;
}

}  // namespace nanochat::engine
