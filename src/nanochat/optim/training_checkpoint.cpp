#include "nanochat/optim/training_checkpoint.h"

#include "nanochat/core/error.h"
#include "nanochat/core/log.h"

namespace nanochat::optim {

namespace fs = std::filesystem;

namespace {

void make_dir(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  NC_CHECK(!ec && fs::is_directory(dir), "cannot create checkpoint directory {}: {}", dir.string(), ec.message());
}

}  // namespace

void save_optimizer_shard(const fs::path& dir, int64_t step, const MuonAdamW& optimizer, int rank) {
  make_dir(dir);
  const fs::path path = model::optim_file(dir, step, rank);
  optimizer.save_state(path);
  log_info("Saved optimizer state to: {}", path.string());
}

void save_model_and_meta(const fs::path& dir, const model::CheckpointMeta& meta, const model::GPT<float>& model,
                         const model::WeightsOptions& options) {
  NC_CHECK(meta.model_config.to_json() == model.config().to_json(),
           "checkpoint meta model_config {} does not describe the model {}", meta.model_config.to_json(),
           model.config().to_json());
  make_dir(dir);
  const fs::path meta_path = model::meta_file(dir, meta.step);
  model::save_meta(meta_path, meta);
  log_info("Saved metadata to: {}", meta_path.string());
  const fs::path model_path = model::model_file(dir, meta.step);
  model::save_weights(model_path, model, options);
  log_info("Saved model parameters to: {}", model_path.string());
}

void save_training_checkpoint(const fs::path& dir, const model::CheckpointMeta& meta, const model::GPT<float>& model,
                              const MuonAdamW* optimizer, int rank) {
  if (optimizer != nullptr) save_optimizer_shard(dir, meta.step, *optimizer, rank);
  if (rank == 0) save_model_and_meta(dir, meta, model);
}

model::CheckpointMeta load_training_checkpoint(const fs::path& dir, int64_t step, model::GPT<float>& model,
                                               MuonAdamW* optimizer, int rank) {
  const fs::path meta_path = model::meta_file(dir, step);
  model::CheckpointMeta meta = model::load_meta(meta_path);
  NC_CHECK(meta.step == step, "{}: holds step {}, expected {}", meta_path.string(), meta.step, step);
  NC_CHECK(meta.model_config.to_json() == model.config().to_json(), "{}: model_config {} differs from this model's {}",
           meta_path.string(), meta.model_config.to_json(), model.config().to_json());
  model::load_weights(model::model_file(dir, step), model);
  if (optimizer != nullptr) optimizer->load_state(model::optim_file(dir, step, rank));
  return meta;
}

}  // namespace nanochat::optim
