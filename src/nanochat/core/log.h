// Levelled logging to stderr: "<time> <LEVEL> <message>", coloured when stderr is a terminal.
// The level comes from NANOCHAT_LOG_LEVEL (debug|info|warn|error) or set_log_level().
#pragma once
#include <fmt/format.h>

#include <string_view>
#include <utility>

namespace nanochat {

enum class LogLevel { debug = 0, info = 1, warn = 2, error = 3, off = 4 };

void set_log_level(LogLevel level);
LogLevel log_level();
// Parses "debug", "info", "warn", "error", "off"; throws UsageError naming the value otherwise.
LogLevel parse_log_level(std::string_view name);
void log_message(LogLevel level, std::string_view message);
// In a run of several ranks, each message starts with "[rank r] " and ranks > 0 drop debug and info
// messages (rank 0 speaks for all, as the original's print0); warnings and errors come from every rank.
void set_log_rank(int rank, int world_size);

template <class... Args>
void log_debug(fmt::format_string<Args...> f, Args&&... args) {
  if (log_level() <= LogLevel::debug) log_message(LogLevel::debug, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void log_info(fmt::format_string<Args...> f, Args&&... args) {
  if (log_level() <= LogLevel::info) log_message(LogLevel::info, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void log_warn(fmt::format_string<Args...> f, Args&&... args) {
  if (log_level() <= LogLevel::warn) log_message(LogLevel::warn, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void log_error(fmt::format_string<Args...> f, Args&&... args) {
  if (log_level() <= LogLevel::error) log_message(LogLevel::error, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace nanochat
