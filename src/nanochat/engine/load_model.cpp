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
  model::CheckpointSource src = model::locate_checkpoint(
      root, model_tag, step,
      fmt::format("train a model first: nanochat {}",
                  source == "base"  ? "base-train"
                  : source == "sft" ? "chat-sft"
                  : source == "mid" ? "mid-train"
                                    : "chat-rl"));
  out.model_tag = src.tag;
  out.checkpoint_dir = src.dir;
  out.step = src.step;
  out.meta = std::move(src.meta);
  out.tokenizer = std::make_unique<Tokenizer>(Tokenizer::load(tokenizer_path ? *tokenizer_path : tokenizer_dir()));
  NC_CHECK(static_cast<int64_t>(out.tokenizer->vocab_size()) == out.meta.model_config.vocab_size,
           "Tokenizer vocab size {} does not match model config vocab size {}", out.tokenizer->vocab_size(),
           out.meta.model_config.vocab_size);
  out.model = std::make_unique<model::GPT<float>>(out.meta.model_config);
  model::load_weights(model::model_file(out.checkpoint_dir, out.step), *out.model);
  log_info("loaded {} model {} step {} ({} parameters)", source, out.model_tag, out.step,
           out.model->layout().num_parameters());
  return out;
}

}  // namespace nanochat::engine
