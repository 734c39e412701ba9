#include "nanochat/data/downloader.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>

#include "nanochat/core/error.h"
#include "nanochat/core/file_lock.h"
#include "nanochat/core/log.h"
#include "nanochat/core/progress.h"
#include "nanochat/core/thread_pool.h"

namespace nanochat {

namespace fs = std::filesystem;

namespace {

void ensure_curl_global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct WriteState {
  FILE* file;
  uint64_t written = 0;
  const std::function<void(uint64_t, uint64_t)>* on_bytes;
  long http_code_checked = 0;
  CURL* curl;
  bool truncate_on_200;
  bool truncated = false;
  bool write_error = false;
};

size_t write_body(char* data, size_t size, size_t n, void* user) {
  auto* st = static_cast<WriteState*>(user);
  if (!st->truncated && st->truncate_on_200) {
    // The server ignored our Range request and sent the whole file: start the .tmp over.
    long code = 0;
    curl_easy_getinfo(st->curl, CURLINFO_RESPONSE_CODE, &code);
    if (code == 200) {
      if (std::fflush(st->file) != 0 || ::ftruncate(fileno(st->file), 0) != 0 || std::fseek(st->file, 0, SEEK_SET) != 0) {
        st->write_error = true;
        return 0;
      }
    }
    st->truncated = true;
  }
  const size_t bytes = size * n;
  if (std::fwrite(data, 1, bytes, st->file) != bytes) {
    st->write_error = true;
    return 0;
  }
  st->written += bytes;
  if (st->on_bytes != nullptr && *st->on_bytes) (*st->on_bytes)(bytes, st->written);
  return bytes;
}

// Remembers the resource's total size from "Content-Range: bytes a-b/total" of a 206 response.
size_t read_header(char* data, size_t size, size_t n, void* user) {
  const size_t bytes = size * n;
  std::string_view h(data, bytes);
  auto* total = static_cast<int64_t*>(user);
  constexpr std::string_view key = "content-range:";
  if (h.size() > key.size()) {
    std::string lower(h.substr(0, key.size()));
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == key) {
      const size_t slash = h.rfind('/');
      if (slash != std::string_view::npos) {
        try {
          *total = std::stoll(std::string(h.substr(slash + 1)));
        } catch (const std::exception&) {
          *total = -1;  // "*" or garbage: unknown
        }
      }
    }
  }
  return bytes;
}

bool fsync_file(const fs::path& p) {
  const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

DownloadAttempt fetch_once(const std::string& url, const fs::path& tmp, const DownloadOptions& options,
                           const std::function<void(uint64_t, uint64_t)>& on_bytes) {
  ensure_curl_global_init();
  std::error_code ec;
  const uint64_t have = fs::exists(tmp, ec) ? fs::file_size(tmp, ec) : 0;
  FILE* f = std::fopen(tmp.c_str(), have > 0 ? "ab" : "wb");
  if (f == nullptr) return {false, true, fmt::format("cannot open {}: {}", tmp.string(), std::strerror(errno))};
  CURL* curl = curl_easy_init();
  if (curl == nullptr) {
    std::fclose(f);
    return {false, false, "curl_easy_init failed"};
  }
  WriteState st{f, 0, &on_bytes, 0, curl, have > 0};
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, options.connect_timeout_seconds);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1024L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, options.stall_timeout_seconds);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &st);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "nanochat.cpp/0.1");
  int64_t range_total = -1;
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, read_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &range_total);
  const std::string range = std::to_string(have) + "-";
  if (have > 0) curl_easy_setopt(curl, CURLOPT_RANGE, range.c_str());
  const CURLcode rc = curl_easy_perform(curl);
  long code = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_cleanup(curl);
  const bool closed = std::fclose(f) == 0;
  if (st.write_error || !closed) return {false, true, fmt::format("cannot write {}", tmp.string())};
  if (rc == CURLE_OK) {
    // curl checks a body against its Content-Length; a resumed file must also add up to the total
    // the server announced, or the pieces do not belong together.
    if (code == 206 && range_total >= 0) {
      const uint64_t size = fs::file_size(tmp, ec);
      if (ec || size != static_cast<uint64_t>(range_total)) {
        fs::remove(tmp, ec);
        return {false, false, fmt::format("resumed file has {} bytes but the server says {}; discarded it", size, range_total)};
      }
    }
    return {true, false, ""};
  }
  if (code == 416 && have > 0) {
    // Range not satisfiable: our partial file is not a prefix we can extend. Start over next time.
    fs::remove(tmp, ec);
    return {false, false, "HTTP 416 on resume; discarded the partial file"};
  }
  const bool permanent = code >= 400 && code < 500 && code != 408 && code != 429;
  std::string msg = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc);
  if (code >= 400) msg = fmt::format("HTTP {}: {}", code, msg);
  return {false, permanent, msg};
}

DownloadReport download_files(const std::vector<DownloadJob>& jobs, const DownloadOptions& options) {
  DownloadReport report;
  std::mutex report_mutex;
  std::atomic<uint64_t> total_bytes{0};
  ProgressBar bar("download", jobs.size(), "files");
  if (!options.show_progress) bar.finish();

  parallel_for_dynamic(jobs.size(), std::max(1, options.workers), 1, [&](size_t i, int) {
    const DownloadJob& job = jobs[i];
    auto record = [&](size_t DownloadReport::*field, const std::string& error = {}) {
      std::lock_guard<std::mutex> lock(report_mutex);
      ++(report.*field);
      if (!error.empty()) report.errors.push_back(job.url + ": " + error);
    };
    std::error_code ec;
    if (fs::exists(job.dest, ec)) {
      record(&DownloadReport::skipped);
      bar.add(1);
      return;
    }
    if (!job.dest.parent_path().empty()) fs::create_directories(job.dest.parent_path(), ec);
    const FileLock lock(job.dest.string() + ".lock");
    if (fs::exists(job.dest, ec)) {  // another process finished it while we waited
      record(&DownloadReport::skipped);
      bar.add(1);
      return;
    }
    const fs::path tmp = job.dest.string() + ".tmp";
    std::string last_error;
    bool done = false;
    for (int attempt = 1; attempt <= options.attempts && !done; ++attempt) {
      DownloadAttempt a = fetch_once(job.url, tmp, options, [&](uint64_t n, uint64_t) { total_bytes += n; });
      if (a.ok && options.verify) {
        try {
          options.verify(tmp);
        } catch (const Error& e) {
          a = {false, false, fmt::format("downloaded file failed verification: {}", e.what())};
          fs::remove(tmp, ec);  // a corrupt body must not be resumed
        }
      }
      if (a.ok) {
        if (!fsync_file(tmp)) {
          last_error = fmt::format("cannot flush {}", tmp.string());
          break;
        }
        fs::rename(tmp, job.dest, ec);
        if (ec) {
          last_error = fmt::format("cannot rename {} to {}: {}", tmp.string(), job.dest.string(), ec.message());
          break;
        }
        done = true;
        break;
      }
      last_error = a.error;
      if (a.permanent) {
        fs::remove(tmp, ec);  // nothing worth resuming
        break;
      }
      if (attempt < options.attempts) {
        const double wait = options.backoff_seconds * static_cast<double>(1u << (attempt - 1));
        log_warn("attempt {}/{} for {} failed: {}; retrying in {:.1f}s", attempt, options.attempts, job.url, a.error, wait);
        std::this_thread::sleep_for(std::chrono::duration<double>(wait));
      }
    }
    if (done) {
      record(&DownloadReport::downloaded);
    } else {
      record(&DownloadReport::failed, last_error);
    }
    bar.add(1);
  });
  bar.finish();
  return report;
}

}  // namespace nanochat
