#include "nanochat/data/eval_bundle_download.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "nanochat/core/error.h"
#include "nanochat/core/file_lock.h"
#include "nanochat/core/log.h"
#include "nanochat/data/zip_archive.h"

namespace nanochat {

namespace fs = std::filesystem;

namespace {

// An absolute path without a trailing separator, so that "<dir>.zip" and the parent are well defined.
fs::path normalized_dir(const fs::path& dir) {
  fs::path p = fs::absolute(dir).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  return p;
}

}  // namespace

std::string eval_bundle_url() {
  const char* env = std::getenv("NANOCHAT_EVAL_BUNDLE_URL");
  return env != nullptr && *env != '\0' ? std::string(env) : std::string(kEvalBundleUrl);
}

fs::path eval_bundle_zip_path(const fs::path& bundle_dir) {
  const fs::path dir = normalized_dir(bundle_dir);
  return dir.parent_path() / (dir.filename().string() + ".zip");
}

void place_eval_bundle(const fs::path& zip, const fs::path& bundle_dir) {
  const fs::path dir = normalized_dir(bundle_dir);
  std::string tmpl = (dir.parent_path() / ".eval_bundle.extract-XXXXXX").string();
  NC_CHECK(::mkdtemp(tmpl.data()) != nullptr, "cannot create a temporary directory next to {}: {}", dir.string(),
           std::strerror(errno));
  const fs::path tmp(tmpl);
  std::error_code ec;
  try {
    extract_zip(zip, tmp);
    const fs::path extracted = tmp / "eval_bundle";
    NC_CHECK(fs::is_directory(extracted), "zip archive {} has no top-level eval_bundle/ directory", zip.string());
    fs::rename(extracted, dir, ec);
    NC_CHECK(!ec, "cannot move the extracted bundle {} to {}: {}", extracted.string(), dir.string(), ec.message());
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  fs::remove_all(tmp, ec);
}

bool ensure_eval_bundle(const fs::path& bundle_dir, const DownloadOptions& download) {
  const fs::path dir = normalized_dir(bundle_dir);
  if (fs::is_directory(dir)) return false;
  std::error_code ec;
  fs::create_directories(dir.parent_path(), ec);
  NC_CHECK(!ec, "cannot create {} for the CORE eval bundle: {}", dir.parent_path().string(), ec.message());
  const FileLock lock(dir.string() + ".lock");
  if (fs::is_directory(dir)) return false;  // another process placed it while we waited

  const fs::path zip = eval_bundle_zip_path(dir);
  if (!fs::exists(zip)) {
    const std::string url = eval_bundle_url();
    log_info("CORE eval bundle {} not found; downloading {} to {}", dir.string(), url, zip.string());
    DownloadOptions options = download;
    options.workers = 1;
    // A local file (tests, mirrors on disk) is there or not; retrying with backoff only delays the error.
    if (url.rfind("file://", 0) == 0) options.attempts = 1;
    // A body that is not a readable zip (an HTML error page, a cut-off transfer) is discarded and retried.
    options.verify = [](const fs::path& p) { const ZipArchive check(p); };
    const DownloadReport report = download_files({{url, zip}}, options);
    NC_CHECK(report.failed == 0, "CORE eval bundle {} not found and cannot be downloaded: {}", dir.string(),
             report.errors.empty() ? url : report.errors.front());
  } else {
    log_info("CORE eval bundle {} not found; extracting the existing {}", dir.string(), zip.string());
  }
  try {
    place_eval_bundle(zip, dir);
  } catch (const Error& e) {
    fail("{} (delete {} to download the bundle again)", e.what(), zip.string());
  }
  log_info("Placed eval_bundle directory at {}", dir.string());
  return true;
}

}  // namespace nanochat
