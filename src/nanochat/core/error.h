// Errors: every failure the user can cause is an Error with a message that names the file, field or
// flag at fault. UsageError marks bad command-line input (the binary exits with code 2 for it).
#pragma once
#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace nanochat {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class UsageError : public Error {
 public:
  using Error::Error;
};

template <class... Args>
[[noreturn]] void fail(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(fmt::format(f, std::forward<Args>(args)...));
}

template <class... Args>
[[noreturn]] void usage_fail(fmt::format_string<Args...> f, Args&&... args) {
  throw UsageError(fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace nanochat

// NC_CHECK(cond, "format {}", args...): throw nanochat::Error when cond is false.
#define NC_CHECK(cond, ...)              \
  do {                                   \
    if (!(cond)) ::nanochat::fail(__VA_ARGS__); \
  } while (0)
