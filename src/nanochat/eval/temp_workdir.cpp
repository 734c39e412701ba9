#include "nanochat/eval/temp_workdir.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "nanochat/core/error.h"
#include "nanochat/core/log.h"

namespace nanochat::eval {
namespace fs = std::filesystem;

TempWorkdir::TempWorkdir() {
  std::error_code ec;
  const fs::path base = fs::temp_directory_path(ec);
  NC_CHECK(!ec, "sandbox: no temporary directory ($TMPDIR): {}", ec.message());
  std::string tmpl = (base / "nanochat-sandbox-XXXXXX").string();
  NC_CHECK(::mkdtemp(tmpl.data()) != nullptr, "sandbox: cannot create a directory like {}: {}", tmpl,
           std::strerror(errno));
  char* real = ::realpath(tmpl.c_str(), nullptr);
  if (real == nullptr) {
    const int err = errno;
    ::rmdir(tmpl.c_str());
    fail("sandbox: cannot resolve {}: {}", tmpl, std::strerror(err));
  }
  path_ = real;
  std::free(real);
}

TempWorkdir::~TempWorkdir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
  if (!ec) return;
  // The code may have removed permissions from its own files (ctypes gets past the disabled chmod):
  // give the owner full access to every directory, then retry.
  for (auto it = fs::recursive_directory_iterator(path_, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec)) ::chmod(it->path().c_str(), 0700);
  }
  ::chmod(path_.c_str(), 0700);
  ec.clear();
  fs::remove_all(path_, ec);
  if (ec) log_warn("sandbox: could not remove {}: {}", path_, ec.message());
}

}  // namespace nanochat::eval
