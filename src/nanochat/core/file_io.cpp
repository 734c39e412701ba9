#include "nanochat/core/file_io.h"

#include <fcntl.h>
#include <zlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "nanochat/core/error.h"

namespace nanochat {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  NC_CHECK(in.good(), "cannot open {}: {}", path.string(), std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  NC_CHECK(!in.bad(), "error reading {}", path.string());
  return std::move(ss).str();
}

std::string read_gzip_file(const std::filesystem::path& path) {
  gzFile gz = gzopen(path.c_str(), "rb");
  NC_CHECK(gz != nullptr, "cannot open {}", path.string());
  std::string out;
  char buf[1 << 16];
  int n = 0;
  while ((n = gzread(gz, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  int err = Z_OK;
  const char* msg = gzerror(gz, &err);
  const std::string message = msg != nullptr ? msg : "";
  gzclose(gz);
  NC_CHECK(n == 0 && (err == Z_OK || err == Z_STREAM_END), "{}: corrupt gzip data: {}", path.string(), message);
  return out;
}

int write_all(int fd, std::string_view data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n < 0 ? errno : EIO;
    done += static_cast<size_t>(n);
  }
  return 0;
}

void write_file_atomic(const std::filesystem::path& path, std::string_view data) {
  const std::string tmp = path.string() + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  NC_CHECK(fd >= 0, "cannot create {}: {}", tmp, std::strerror(errno));
  if (const int err = write_all(fd, data); err != 0) {
    ::close(fd);
    ::unlink(tmp.c_str());
    fail("cannot write {}: {}", tmp, std::strerror(err));
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fail("cannot flush {}: {}", tmp, std::strerror(err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fail("cannot rename {} to {}: {}", tmp, path.string(), std::strerror(err));
  }
}

}  // namespace nanochat
