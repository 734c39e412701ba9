// Robust parallel downloads of dataset shards (and other artifacts), with libcurl.
//
// For each job: skip if the destination exists; take an exclusive lock "<dest>.lock" (flock, so
// several ranks or processes never fetch the same file twice; lock files are left behind, as the
// original's); re-check; download into "<dest>.tmp", resuming a partial .tmp with an HTTP Range
// request; verify (optional callback, e.g. "opens as parquet"); fsync and rename into place. Nothing
// incomplete ever appears under the final name.
//
// Failures are retried with exponential backoff (backoff_seconds * 2^(attempt-1)) except permanent
// ones (HTTP 4xx other than 408/429, and verification failures after a fresh download).
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace nanochat {

struct DownloadJob {
  std::string url;
  std::filesystem::path dest;
};

struct DownloadOptions {
  int workers = 4;
  int attempts = 5;
  double backoff_seconds = 2.0;          // first retry waits this long, then doubles
  long connect_timeout_seconds = 30;
  long stall_timeout_seconds = 30;       // abort when under 1 KB/s for this long
  bool show_progress = true;
  // Throws nanochat::Error when the downloaded file is unusable; the .tmp is then discarded.
  std::function<void(const std::filesystem::path&)> verify;
};

struct DownloadReport {
  size_t downloaded = 0, skipped = 0, failed = 0;
  std::vector<std::string> errors;  // one line per failed job: url and last error
};

DownloadReport download_files(const std::vector<DownloadJob>& jobs, const DownloadOptions& options = {});

// One attempt's outcome, exposed for tests.
struct DownloadAttempt {
  bool ok = false;
  bool permanent = false;  // retrying cannot help
  std::string error;
};

// Fetches url into tmp (appending from tmp's current size when the server honours Range).
DownloadAttempt fetch_once(const std::string& url, const std::filesystem::path& tmp, const DownloadOptions& options,
                           const std::function<void(uint64_t, uint64_t)>& on_bytes = {});

}  // namespace nanochat
