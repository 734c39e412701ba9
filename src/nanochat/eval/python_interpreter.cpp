#include "nanochat/eval/python_interpreter.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <string_view>

#include "nanochat/core/log.h"

extern char** environ;

namespace nanochat::eval {
namespace {

bool is_executable_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

std::optional<std::string> search_path(const std::string& name) {
  if (name.find('/') != std::string::npos) {
    if (!is_executable_file(name)) return std::nullopt;
    char* real = ::realpath(name.c_str(), nullptr);
    if (real == nullptr) return std::nullopt;
    std::string out(real);
    std::free(real);
    return out;
  }
  const char* path_env = std::getenv("PATH");
  std::string_view dirs = path_env != nullptr ? path_env : "/usr/bin:/bin";
  while (true) {
    const size_t colon = dirs.find(':');
    std::string dir(dirs.substr(0, colon));
    if (dir.empty()) dir = ".";
    const std::string candidate = dir + "/" + name;
    if (is_executable_file(candidate)) return search_path(candidate);
    if (colon == std::string_view::npos) break;
    dirs.remove_prefix(colon + 1);
  }
  return std::nullopt;
}

bool starts_with_shebang(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char head[2] = {0, 0};
  const bool script = ::read(fd, head, 2) == 2 && head[0] == '#' && head[1] == '!';
  ::close(fd);
  return script;
}

// Runs the wrapper once with the caller's environment and asks the interpreter for its own path.
std::optional<std::string> ask_sys_executable(const std::string& wrapper) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return std::nullopt;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  std::string arg_c = "-c";
  std::string arg_code = "import sys; sys.stdout.write(sys.executable or '')";
  std::string arg0 = wrapper;
  char* argv[] = {arg0.data(), arg_c.data(), arg_code.data(), nullptr};
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, wrapper.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  std::string out;
  if (rc == 0) {
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
      if (n > 0) out.append(buf, static_cast<size_t>(n));
      if (out.size() > 4096) break;
    }
  }
  ::close(fds[0]);
  if (rc != 0) return std::nullopt;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || out.empty() || out[0] != '/') return std::nullopt;
  if (!is_executable_file(out) || starts_with_shebang(out)) return std::nullopt;
  return out;
}

std::optional<std::string> resolve_uncached(const std::string& request) {
  auto found = search_path(request);
  if (!found) return std::nullopt;
  if (!starts_with_shebang(*found)) return found;
  auto real = ask_sys_executable(*found);
  if (real) log_debug("sandbox: python wrapper {} resolves to {}", *found, *real);
  return real;
}

}  // namespace

std::optional<std::string> resolve_python_interpreter(const std::string& configured) {
  std::string request = configured;
  if (request.empty()) {
    const char* env = std::getenv("NANOCHAT_PYTHON");
    request = (env != nullptr && *env != '\0') ? env : "python3";
  }
  static std::mutex mutex;
  static std::map<std::string, std::optional<std::string>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find(request);
  if (it == cache.end()) it = cache.emplace(request, resolve_uncached(request)).first;
  return it->second;
}

}  // namespace nanochat::eval
