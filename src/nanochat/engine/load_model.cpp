#include "nanochat/engine/load_model.h"

#include "nanochat/core/error.h"
#include "nanochat/core/log.h"
#include "nanochat/core/paths.h"

namespace nanochat::engine {

namespace fs = std::filesystem;

LoadedModel load_model(const std::string& source, const std::optional<std::string>& model_tag,
                       const std::optional<int64_t>& step, const std::optional<fs::path>& tokenizer_path) {
  LoadedModel out;
  const fs::path root = model::checkpoints_dir(source);
  NC_CHECK(fs::is_directory(root), "no checkpoints in {} (train a model first: nanochat {})", root.string(),
           source == "base" ? "base-train" : source == "sft" ? "chat-sft" : "chat-rl");
  out.model_tag = model_tag ? *model_tag : model::find_largest_model(root);
  out.checkpoint_dir = root / out.model_tag;
  NC_CHECK(fs::is_directory(out.checkpoint_dir), "no checkpoint directory {} (model tag '{}')",
           out.checkpoint_dir.string(), out.model_tag);
  out.step = step ? *step : model::find_last_step(out.checkpoint_dir);
  const fs::path weights = model::model_file(out.checkpoint_dir, out.step);
  const fs::path meta = model::meta_file(out.checkpoint_dir, out.step);
  NC_CHECK(fs::exists(weights), "no weights for step {} in {} (missing {})", out.step, out.checkpoint_dir.string(),
           weights.filename().string());
  out.meta = model::load_meta(meta);
  out.tokenizer = std::make_unique<Tokenizer>(Tokenizer::load(tokenizer_path ? *tokenizer_path : tokenizer_dir()));
  NC_CHECK(static_cast<int64_t>(out.tokenizer->vocab_size()) == out.meta.model_config.vocab_size,
           "Tokenizer vocab size {} does not match model config vocab size {}", out.tokenizer->vocab_size(),
           out.meta.model_config.vocab_size);
  out.model = std::make_unique<model::GPT<float>>(out.meta.model_config);
  model::load_weights(weights, *out.model);
  log_info("loaded {} model {} step {} ({} parameters)", source, out.model_tag, out.step,
           out.model->layout().num_parameters());
  return out;
}

}  // namespace nanochat::engine
