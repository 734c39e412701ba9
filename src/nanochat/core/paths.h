// The artifact directory: $NANOCHAT_BASE_DIR if set and non-empty, else ~/.cache/nanochat, created on
// first use; the same layout as the original (tokenizer/, base_data_climbmix/, base_checkpoints/<tag>/ ...).
#pragma once
#include <filesystem>
#include <string>

namespace nanochat {

// Creates dir (and parents) if missing; an Error naming the directory and the reason otherwise.
std::filesystem::path ensure_dir(const std::filesystem::path& dir);
std::filesystem::path base_dir();                       // created if missing
std::filesystem::path base_subdir(const std::string& name);  // base_dir()/name, created if missing
std::filesystem::path tokenizer_dir();                  // base_dir()/tokenizer (not created)

}  // namespace nanochat
