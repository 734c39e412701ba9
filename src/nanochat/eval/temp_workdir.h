// A fresh private directory (mode 0700) the sandboxed code runs in; removed with everything in it when
// the owner goes out of scope, including files the code made unreadable or undeletable for its owner.
#pragma once
#include <string>

namespace nanochat::eval {

class TempWorkdir {
 public:
  TempWorkdir();  // throws nanochat::Error naming the temp directory when it cannot be created
  ~TempWorkdir();
  TempWorkdir(const TempWorkdir&) = delete;
  TempWorkdir& operator=(const TempWorkdir&) = delete;

  // Canonical (symlink-free) path: the sandbox bind-mounts it, which needs the real path.
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace nanochat::eval
