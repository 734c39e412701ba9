// An exclusive flock(2) on a lock file, held for the lifetime of the object: serialises "check,
// fetch, place" across processes (concurrent ranks downloading the same shard or bundle). The lock
// file is created if missing and left behind.
#pragma once
#include <filesystem>

namespace nanochat {

class FileLock {
 public:
  explicit FileLock(const std::filesystem::path& path);  // blocks until the lock is held
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace nanochat
