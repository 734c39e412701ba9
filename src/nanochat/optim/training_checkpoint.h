// The whole training state of one step, as base_train saves and resumes it (spec §8.6-8.7): the
// weights and meta (rank 0) and each rank's optimizer state, in one checkpoint directory.
//
// Write order: this rank's optimizer state, then (rank 0) the meta, then the weights last. Discovery
// (model/checkpoint.h find_last_step) keys on the weights file, so a crash mid-save leaves the
// previous step the latest. With several ranks, put a barrier between the ranks' optimizer saves and
// rank 0's save_model_and_meta (save_training_checkpoint does both for a single rank).
#pragma once
#include <cstdint>
#include <filesystem>

#include "nanochat/model/checkpoint.h"
#include "nanochat/model/gpt.h"
#include "nanochat/optim/muon_adamw.h"

namespace nanochat::optim {

// Creates dir if needed; writes optim_<step>_rank<rank> (when optimizer is not null).
void save_optimizer_shard(const std::filesystem::path& dir, int64_t step, const MuonAdamW& optimizer, int rank);
// Rank 0: meta_<step>.json then model_<step>.safetensors (step = meta.step).
void save_model_and_meta(const std::filesystem::path& dir, const model::CheckpointMeta& meta,
                         const model::GPT<float>& model, const model::WeightsOptions& options = {});
// Single-process save of everything above, in the safe order.
void save_training_checkpoint(const std::filesystem::path& dir, const model::CheckpointMeta& meta,
                              const model::GPT<float>& model, const MuonAdamW* optimizer, int rank = 0);

// Resume: loads meta_<step>, checks that its model_config equals model.config(), loads the weights
// into model and (when optimizer is not null) optim_<step>_rank<rank> into optimizer, restoring its
// saved hyperparameters. Returns the meta (step, val_bpb, loop and dataloader state).
model::CheckpointMeta load_training_checkpoint(const std::filesystem::path& dir, int64_t step, model::GPT<float>& model,
                                               MuonAdamW* optimizer, int rank = 0);

}  // namespace nanochat::optim
