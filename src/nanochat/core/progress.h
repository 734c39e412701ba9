// A one-line progress bar on stderr for long work. It draws only when both stdout and stderr are
// terminals (so logs and pipes stay clean) and at most ~10 times a second; update() is thread-safe.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace nanochat {

class ProgressBar {
 public:
  ProgressBar(std::string label, uint64_t total, std::string unit = "");
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  void add(uint64_t n);  // progress by n units
  void set(uint64_t done);
  void finish();         // erase the bar
  bool enabled() const { return enabled_; }

 private:
  void draw(uint64_t done, bool force);

  std::string label_, unit_;
  uint64_t total_;
  std::atomic<uint64_t> done_{0};
  bool enabled_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
  std::mutex mutex_;
};

}  // namespace nanochat
