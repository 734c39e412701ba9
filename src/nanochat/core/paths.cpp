#include "nanochat/core/paths.h"

#include <cstdlib>
#include <system_error>

#include "nanochat/core/error.h"

namespace nanochat {

namespace fs = std::filesystem;

fs::path ensure_dir(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  NC_CHECK(!ec, "cannot create directory {}: {}", dir.string(), ec.message());
  return dir;
}

fs::path base_dir() {
  const char* env = std::getenv("NANOCHAT_BASE_DIR");
  fs::path dir;
  if (env != nullptr && *env != '\0') {
    dir = env;
  } else {
    const char* home = std::getenv("HOME");
    NC_CHECK(home != nullptr && *home != '\0', "neither NANOCHAT_BASE_DIR nor HOME is set");
    dir = fs::path(home) / ".cache" / "nanochat";
  }
  return ensure_dir(dir);
}

fs::path base_subdir(const std::string& name) { return ensure_dir(base_dir() / name); }

fs::path tokenizer_dir() { return base_dir() / "tokenizer"; }

}  // namespace nanochat
