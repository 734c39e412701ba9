#include "nanochat/train/bpb.h"

#include <cmath>
#include <limits>
#include <numbers>

#include "nanochat/core/error.h"

namespace nanochat::train {

void widen_ids(std::span<const int32_t> in, std::vector<int64_t>& out) {
  out.assign(in.begin(), in.end());
}

BpbResult evaluate_bpb(const RowLossFn& row_losses, int64_t B, int64_t T, const BatchSource& next_batch, int64_t steps,
                       std::span<const int32_t> token_bytes) {
  BpbResult r;
  std::vector<int64_t> idx, targets;
  std::vector<float> losses;
  for (int64_t s = 0; s < steps; ++s) {
    const PackedBatch batch = next_batch();
    NC_CHECK(batch.B == B && batch.T == T, "evaluate_bpb: batch {} is {}x{}, expected {}x{}", s, batch.B, batch.T, B,
             T);
    widen_ids(batch.inputs, idx);
    widen_ids(batch.targets, targets);
    row_losses(idx.data(), targets.data(), losses);
    NC_CHECK(static_cast<int64_t>(losses.size()) == B * T, "evaluate_bpb: {} row losses for a {}x{} batch",
             losses.size(), B, T);
    for (int64_t i = 0; i < B * T; ++i) {
      const int64_t y = targets[static_cast<size_t>(i)];
      if (y < 0) continue;  // ignored target: no nats, no bytes
      NC_CHECK(y < static_cast<int64_t>(token_bytes.size()),
               "evaluate_bpb: target id {} is outside token_bytes ({} entries): tokenizer and token_bytes differ", y,
               token_bytes.size());
      const int32_t nb = token_bytes[static_cast<size_t>(y)];
      NC_CHECK(nb >= 0, "evaluate_bpb: token_bytes[{}] is negative ({})", y, nb);
      ++r.tokens;
      if (nb == 0) continue;
      r.total_nats += static_cast<double>(losses[static_cast<size_t>(i)]);
      r.total_bytes += nb;
    }
  }
  r.bpb = r.total_bytes == 0 ? std::numeric_limits<double>::infinity()
                             : r.total_nats / (std::numbers::ln2 * static_cast<double>(r.total_bytes));
  return r;
}

BpbResult evaluate_bpb(model::GPT<float>& model, model::Activations<float>& acts, const BatchSource& next_batch,
                       int64_t steps, std::span<const int32_t> token_bytes) {
  return evaluate_bpb(
      [&](const int64_t* idx, const int64_t* targets, std::vector<float>& losses) {
        model.forward(acts, idx, targets);
        losses.assign(acts.loss, acts.loss + acts.rows());
      },
      acts.B(), acts.T(), next_batch, steps, token_bytes);
}

}  // namespace nanochat::train
