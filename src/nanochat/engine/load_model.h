// Loading a trained model for inference, as the original's load_model(source, device, phase,
// model_tag, step): the checkpoint directory of the source (base|sft|rl), the largest d<N> tag unless
// one is given, the last step unless one is given, plus the tokenizer, whose vocabulary must match.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "nanochat/model/checkpoint.h"
#include "nanochat/model/gpt.h"
#include "nanochat/tokenizer/tokenizer.h"

namespace nanochat::engine {

struct LoadedModel {
  std::unique_ptr<model::GPT<float>> model;
  std::unique_ptr<Tokenizer> tokenizer;
  model::CheckpointMeta meta;
  std::filesystem::path checkpoint_dir;
  std::string model_tag;
  int64_t step = 0;
};

// Throws Error naming what is missing ("no checkpoints in ...", a missing step, a vocab mismatch).
LoadedModel load_model(const std::string& source, const std::optional<std::string>& model_tag,
                       const std::optional<int64_t>& step,
                       const std::optional<std::filesystem::path>& tokenizer_dir = std::nullopt);

}  // namespace nanochat::engine
