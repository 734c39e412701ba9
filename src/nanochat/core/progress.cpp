#include "nanochat/core/progress.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

namespace nanochat {

static bool progress_allowed() {
  const char* off = std::getenv("NANOCHAT_NO_PROGRESS");
  if (off != nullptr && *off != '\0') return false;
  return isatty(STDOUT_FILENO) != 0 && isatty(STDERR_FILENO) != 0;
}

ProgressBar::ProgressBar(std::string label, uint64_t total, std::string unit)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), enabled_(progress_allowed()) {
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::add(uint64_t n) {
  const uint64_t done = done_.fetch_add(n) + n;
  if (enabled_) draw(done, false);
}

void ProgressBar::set(uint64_t done) {
  done_.store(done);
  if (enabled_) draw(done, false);
}

void ProgressBar::draw(uint64_t done, bool force) {
  std::unique_lock<std::mutex> lock(mutex_, std::try_to_lock);
  if (!lock.owns_lock() || finished_) return;
  const auto now = std::chrono::steady_clock::now();
  if (!force && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  const double secs = std::chrono::duration<double>(now - start_).count();
  const double frac = total_ > 0 ? std::min(1.0, static_cast<double>(done) / static_cast<double>(total_)) : 0.0;
  constexpr int width = 30;
  const int filled = static_cast<int>(frac * width);
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(width, '.');
  const double rate = secs > 0 ? static_cast<double>(done) / secs : 0.0;
  std::string eta = "?";
  if (rate > 0 && total_ > done) eta = fmt::format("{:.0f}s", static_cast<double>(total_ - done) / rate);
  const std::string line = fmt::format("\r{} [{}] {:5.1f}% {}/{} {} {:.1f} {}/s eta {}\033[K", label_, bar, frac * 100, done,
                                       total_, unit_, rate, unit_.empty() ? "it" : unit_, eta);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

void ProgressBar::finish() {
  if (!enabled_) return;
  std::lock_guard<std::mutex> lock(mutex_);
  if (finished_) return;
  finished_ = true;
  std::fputs("\r\033[K", stderr);
  std::fflush(stderr);
}

}  // namespace nanochat
