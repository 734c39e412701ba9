#include "nanochat/core/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <string>

#include "nanochat/core/error.h"

namespace nanochat {
namespace {

LogLevel initial_level() {
  const char* env = std::getenv("NANOCHAT_LOG_LEVEL");
  if (env == nullptr || *env == '\0') return LogLevel::info;
  try {
    return parse_log_level(env);
  } catch (const Error&) {
    std::fprintf(stderr, "warning: ignoring NANOCHAT_LOG_LEVEL=%s (expected debug|info|warn|error|off)\n", env);
    return LogLevel::info;
  }
}

std::atomic<LogLevel>& level_ref() {
  static std::atomic<LogLevel> level{initial_level()};
  return level;
}

std::mutex& log_mutex() {
  static std::mutex m;
  return m;
}

std::atomic<int> g_rank{0}, g_world_size{1};

}  // namespace

void set_log_rank(int rank, int world_size) {
  g_rank.store(rank);
  g_world_size.store(world_size);
}

void set_log_level(LogLevel level) { level_ref().store(level); }
LogLevel log_level() { return level_ref().load(std::memory_order_relaxed); }

LogLevel parse_log_level(std::string_view name) {
  if (name == "debug") return LogLevel::debug;
  if (name == "info") return LogLevel::info;
  if (name == "warn" || name == "warning") return LogLevel::warn;
  if (name == "error") return LogLevel::error;
  if (name == "off") return LogLevel::off;
  usage_fail("invalid log level '{}' (expected debug|info|warn|error|off)", name);
}

void log_message(LogLevel level, std::string_view message) {
  static const bool color = isatty(STDERR_FILENO) != 0;
  static constexpr const char* names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
  static constexpr const char* colors[] = {"\033[36m", "\033[32m", "\033[33m", "\033[31m"};
  const auto idx = static_cast<int>(level);
  if (idx < 0 || idx > 3) return;
  const int world = g_world_size.load(std::memory_order_relaxed), rank = g_rank.load(std::memory_order_relaxed);
  if (world > 1 && rank > 0 && level < LogLevel::warn) return;
  const std::string who = world > 1 ? fmt::format("[rank {}] ", rank) : std::string();
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  localtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%H:%M:%S", &tm);
  std::string line = color ? fmt::format("{} {}\033[1m{:<5}\033[0m {}{}\n", stamp, colors[idx], names[idx], who, message)
                           : fmt::format("{} {:<5} {}{}\n", stamp, names[idx], who, message);
  std::lock_guard<std::mutex> lock(log_mutex());
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace nanochat
