// Validation bits per byte (spec model-and-training.md §10): the summed cross-entropy of every target
// whose token has a byte length, over the summed byte lengths, in bits. Special-token targets (BOS at
// document starts) have length 0 and count neither nats nor bytes, so the figure does not depend on
// the tokenizer's vocabulary.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "nanochat/data/bos_packing_loader.h"
#include "nanochat/model/activations.h"
#include "nanochat/model/gpt.h"

namespace nanochat::train {

struct BpbResult {
  double bpb = 0;          // total_nats / (ln 2 * total_bytes); +inf when no byte was counted
  double total_nats = 0;   // summed in double (the original sums fp32 on the device)
  int64_t total_bytes = 0;
  int64_t tokens = 0;      // targets evaluated (including the zero-byte ones)
};

using BatchSource = std::function<PackedBatch()>;

// Runs `steps` batches from next_batch through the model (training-mode forward, no backward).
// acts fixes (B, T): every batch must have that shape. token_bytes is indexed by target id; an id
// outside it, or a negative length, is an error naming the id.
BpbResult evaluate_bpb(model::GPT<float>& model, model::Activations<float>& acts, const BatchSource& next_batch,
                       int64_t steps, std::span<const int32_t> token_bytes);

// The same over any model: row_losses(idx, targets, losses) fills the per-row cross-entropy of one
// (B, T) batch (0 where the target is -1). This is how the GPU backend evaluates.
using RowLossFn = std::function<void(const int64_t* idx, const int64_t* targets, std::vector<float>& losses)>;
BpbResult evaluate_bpb(const RowLossFn& row_losses, int64_t B, int64_t T, const BatchSource& next_batch, int64_t steps,
                       std::span<const int32_t> token_bytes);

// The int32 ids of a packed batch as the int64 the model takes.
void widen_ids(std::span<const int32_t> in, std::vector<int64_t>& out);

}  // namespace nanochat::train
