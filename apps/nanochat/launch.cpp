// nanochat launch: run a subcommand as N ranks on this machine, as `torchrun --standalone
// --nproc_per_node=N -m scripts.X` does for the original. Each rank is this same binary
// (/proc/self/exe) with torchrun's variables set (RANK = LOCAL_RANK = i, WORLD_SIZE = LOCAL_WORLD_SIZE
// = N, MASTER_ADDR = 127.0.0.1, MASTER_PORT); the ranks find each other through core/process_group.h.
// The launcher waits for all of them; when one fails it stops the others and exits with that rank's
// status, naming it.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "commands.h"
#include "nanochat/core/cli.h"
#include "nanochat/core/error.h"
#include "nanochat/core/log.h"

extern char** environ;

namespace nanochat::app {

namespace {

// Subcommands whose work is split across ranks; any other would run N times over the same outputs.
constexpr const char* kRankAware[] = {"base-eval", "chat-eval"};

volatile sig_atomic_t g_signal = 0;
void on_signal(int sig) { g_signal = sig; }

// A port nobody listens on now (the kernel's pick); rank 0 binds it a moment later.
int pick_free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("launch: cannot create a socket to pick a free port: {}", std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  const bool ok = ::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  const int err = errno;
  ::close(fd);
  if (!ok) fail("launch: cannot pick a free port: {} (pass --master-port)", std::strerror(err));
  return ntohs(a.sin_port);
}

// This process's environment with torchrun's variables for `rank` replacing any inherited ones. Like
// torchrun, several ranks get OMP_NUM_THREADS=1 unless the user set it, so that N ranks do not each
// start a thread per core.
std::vector<std::string> rank_environment(int rank, int world, int port) {
  std::vector<std::pair<std::string, std::string>> vars = {
      {"RANK", std::to_string(rank)},        {"LOCAL_RANK", std::to_string(rank)},
      {"WORLD_SIZE", std::to_string(world)}, {"LOCAL_WORLD_SIZE", std::to_string(world)},
      {"MASTER_ADDR", "127.0.0.1"},          {"MASTER_PORT", std::to_string(port)}};
  if (world > 1 && std::getenv("OMP_NUM_THREADS") == nullptr) vars.emplace_back("OMP_NUM_THREADS", "1");
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    const bool replaced = std::any_of(vars.begin(), vars.end(), [&](const auto& kv) {
      return entry.size() > kv.first.size() && entry.compare(0, kv.first.size(), kv.first) == 0 &&
             entry[kv.first.size()] == '=';
    });
    if (!replaced) env.push_back(entry);
  }
  for (const auto& [k, v] : vars) env.push_back(k + "=" + v);
  return env;
}

pid_t spawn_rank(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  // Everything exec needs is built before fork: the child only calls async-signal-safe functions.
  std::vector<char*> cargv, cenv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  for (const auto& e : env) cenv.push_back(const_cast<char*>(e.c_str()));
  cenv.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) fail("launch: fork failed: {}", std::strerror(errno));
  if (pid == 0) {
    // A rank must not outlive its launcher (killed with SIGKILL, say).
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);
    ::execve("/proc/self/exe", cargv.data(), cenv.data());
    static const char msg[] = "nanochat launch: cannot execute /proc/self/exe\n";
    [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, msg, sizeof msg - 1);
    ::_exit(127);
  }
  return pid;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return fmt::format("was killed by signal {} ({})", WTERMSIG(status), ::strsignal(WTERMSIG(status)));
  return fmt::format("ended with wait status {}", status);
}

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

// SIGTERM to every live rank, SIGKILL to those still there after a grace period; reaps them all.
void stop_ranks(std::vector<pid_t>& pids) {
  for (pid_t p : pids)
    if (p > 0) ::kill(p, SIGTERM);
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (;;) {
    bool alive = false;
    for (pid_t& p : pids) {
      if (p <= 0) continue;
      int status = 0;
      const pid_t r = ::waitpid(p, &status, WNOHANG);
      if (r == p || (r < 0 && errno == ECHILD)) p = -1;
      else alive = true;
    }
    if (!alive) return;
    if (std::chrono::steady_clock::now() >= give_up) {
      for (pid_t& p : pids)
        if (p > 0) {
          ::kill(p, SIGKILL);
          ::waitpid(p, nullptr, 0);
          p = -1;
        }
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace

int launch(const Args& args) {
  const auto sep = std::find(args.begin(), args.end(), std::string("--"));
  const Args own(args.begin(), sep);
  int64_t nproc = 1;
  std::optional<int64_t> master_port;
  ArgParser p("nanochat launch",
              "Run a command as several ranks on this machine (like torchrun --standalone): "
              "nanochat launch --nproc-per-node N -- <command> [flags]. Supported commands: base-eval, chat-eval.");
  p.add("--nproc-per-node", &nproc, "number of ranks (one per GPU on a CUDA build)")
      .add("--master-port", &master_port, "TCP port rank 0 listens on (default: a free port)");
  if (!p.parse(own)) return 0;
  if (sep == args.end() || sep + 1 == args.end())
    usage_fail("expected '--' and the command to run, e.g. nanochat launch --nproc-per-node 2 -- base-eval");
  if (nproc < 1 || nproc > 1024) usage_fail("argument --nproc-per-node: must be in [1, 1024], got {}", nproc);
  if (master_port && (*master_port < 1 || *master_port > 65535))
    usage_fail("argument --master-port: must be in [1, 65535], got {}", *master_port);
  const std::string command = *(sep + 1);
  if (std::none_of(std::begin(kRankAware), std::end(kRankAware), [&](const char* c) { return command == c; }))
    usage_fail("'{}' does not split its work across ranks (supported: base-eval, chat-eval)", command);

  const int world = static_cast<int>(nproc);
  const int port = master_port ? static_cast<int>(*master_port) : pick_free_port();
  std::vector<std::string> argv{"nanochat"};
  argv.insert(argv.end(), sep + 1, args.end());
  log_info("launch: {} rank(s) of '{}', rank 0 on 127.0.0.1:{}", world, command, port);
  if (world > 1 && std::getenv("OMP_NUM_THREADS") == nullptr)
    log_info("launch: OMP_NUM_THREADS=1 for each rank (set OMP_NUM_THREADS to choose otherwise), as torchrun does");

  // Interrupts reach the ranks too (same terminal process group); the launcher only has to notice.
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);

  std::vector<pid_t> pids;
  for (int r = 0; r < world; ++r) {
    try {
      pids.push_back(spawn_rank(argv, rank_environment(r, world, port)));
    } catch (const Error&) {
      stop_ranks(pids);
      throw;
    }
  }
  int running = world;
  while (running > 0) {
    int status = 0;
    // Polled rather than blocking: a signal that lands between the g_signal check and a blocking
    // waitpid would not interrupt it, and the launcher would not stop the ranks until one exited.
    if (g_signal != 0) {
      log_error("launch: interrupted by signal {}; stopping the ranks", static_cast<int>(g_signal));
      stop_ranks(pids);
      return 128 + g_signal;
    }
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid == 0 || (pid < 0 && errno == EINTR)) {
      ::usleep(20000);
      continue;
    }
    if (pid < 0) fail("launch: waitpid failed: {}", std::strerror(errno));
    const auto it = std::find(pids.begin(), pids.end(), pid);
    if (it == pids.end()) continue;
    const int rank = static_cast<int>(it - pids.begin());
    *it = -1;
    --running;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      log_error("launch: rank {} (pid {}) {}; stopping the other ranks", rank, pid, describe_status(status));
      stop_ranks(pids);
      return exit_code_of(status) != 0 ? exit_code_of(status) : 1;
    }
  }
  return 0;
}

}  // namespace nanochat::app
