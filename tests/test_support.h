// Shared helpers for tests: locating ../shared (NANOCHAT_SHARED) and skipping when data is absent,
// temporary directories, and checking the messages of nanochat errors.
#pragma once
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <initializer_list>
#include <string>

#include "nanochat/core/error.h"

namespace nanochat::test {

inline std::filesystem::path shared_dir() {
  const char* env = std::getenv("NANOCHAT_SHARED");
  if (env != nullptr && *env != '\0') return env;
  return std::filesystem::path(NANOCHAT_SOURCE_DIR) / ".." / "shared";
}

// Path of a file under shared/, or empty when it is missing (the caller skips).
inline std::filesystem::path shared_path(const std::string& rel) {
  auto p = shared_dir() / rel;
  return std::filesystem::exists(p) ? p : std::filesystem::path();
}

// A fresh, empty temporary directory removed at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "nanochat-test-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data()) ? std::filesystem::path(tmpl) : std::filesystem::path();
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Asserts that `fn` throws nanochat::Error whose message contains every fragment.
template <class Fn>
void expect_error(Fn&& fn, std::initializer_list<std::string> fragments) {
  try {
    fn();
    ADD_FAILURE() << "expected nanochat::Error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const auto& f : fragments) EXPECT_NE(msg.find(f), std::string::npos) << "'" << f << "' not in: " << msg;
  }
}

}  // namespace nanochat::test

// Skips the current test, naming the missing shared file.
#define NC_REQUIRE_SHARED(var, rel)                                                              \
  const auto var = ::nanochat::test::shared_path(rel);                                       \
  if (var.empty()) GTEST_SKIP() << "missing " << (::nanochat::test::shared_dir() / (rel)).string() \
                                << " (set NANOCHAT_SHARED)"
