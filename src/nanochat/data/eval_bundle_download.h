// Fetching the CORE eval bundle (spec §6.1) the way the original does: when the bundle directory is
// missing, download eval_bundle.zip once (under a file lock, so concurrent ranks or processes share one
// download), extract it into a temporary directory beside the target, and rename its top-level
// eval_bundle/ folder into place, so a half-extracted bundle never appears under the final name.
#pragma once
#include <filesystem>
#include <string>

#include "nanochat/data/downloader.h"

namespace nanochat {

inline constexpr const char* kEvalBundleUrl = "https://karpathy-public.s3.us-west-2.amazonaws.com/eval_bundle.zip";

// $NANOCHAT_EVAL_BUNDLE_URL when set and non-empty (mirrors, file:// URLs for tests), else kEvalBundleUrl.
std::string eval_bundle_url();

// Where the archive is kept: "<bundle_dir>.zip" (base_dir/eval_bundle.zip for the default bundle path,
// as in the original, which also keeps it after extraction).
std::filesystem::path eval_bundle_zip_path(const std::filesystem::path& bundle_dir);

// Makes sure bundle_dir exists, downloading and placing the bundle when it does not. Returns true when
// it placed the bundle, false when the directory was already there. Throws Error naming the URL or
// archive on failure; nothing is left under bundle_dir then.
bool ensure_eval_bundle(const std::filesystem::path& bundle_dir, const DownloadOptions& download = {});

// Extracts zip into a temporary directory next to bundle_dir and renames its top-level eval_bundle/
// directory to bundle_dir (which must not exist yet).
void place_eval_bundle(const std::filesystem::path& zip, const std::filesystem::path& bundle_dir);

}  // namespace nanochat
