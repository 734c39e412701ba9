// execute_code: prepares the program and the limits, starts the confined child (sandbox_process.cpp),
// supervises it (output caps, wall-clock timeout, whole-tree kill) and maps the outcome to the
// original's result fields.
//
// What holds where (the result's `isolation` reports it per run):
//  - root: namespaces are created directly; no RLIMIT_NPROC (the kernel exempts uid 0), so the process
//    limit comes from seccomp (max_processes 1: no fork at all). The code runs as uid 0 without any
//    capability: it can read files whose owner is root; it cannot write outside the temporary
//    directory while the read-only mount layer holds.
//  - not root: namespaces through a user namespace mapping the caller's uid to itself; RLIMIT_NPROC
//    then counts only the sandbox's own processes and threads. Without user namespaces RLIMIT_NPROC
//    counts every process of the uid (strict, not per-sandbox), and there is no network namespace:
//    seccomp's socket() ban still blocks the network, and the caller's uid-level file permissions
//    plus the guard's disabled functions and RLIMIT_FSIZE are all that limit writes.
#include "nanochat/eval/sandbox.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>

#include "nanochat/core/error.h"
#include "nanochat/core/file_io.h"
#include "nanochat/core/log.h"
#include "nanochat/core/utf8.h"
#include "nanochat/eval/guard_program.h"
#include "nanochat/eval/python_interpreter.h"
#include "nanochat/eval/sandbox_process.h"
#include "nanochat/eval/temp_workdir.h"

namespace nanochat::eval {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kCodeFd = 3;  // where the guard program finds the code (see guard_program.h)
constexpr int64_t kThreadAllowance = 64;  // RLIMIT_NPROC when seccomp already forbids processes
constexpr auto kDrainAfterExit = std::chrono::milliseconds(500);

std::atomic<bool> g_warned_root_processes{false};

void validate(const SandboxLimits& limits) {
  NC_CHECK(std::isfinite(limits.timeout_s) && limits.timeout_s > 0, "execute_code: timeout_s must be > 0, got {}",
           limits.timeout_s);
  NC_CHECK(!limits.memory_bytes || *limits.memory_bytes > 0, "execute_code: memory_bytes must be > 0, got {}",
           limits.memory_bytes.value_or(0));
  NC_CHECK(limits.max_processes >= 1, "execute_code: max_processes must be >= 1, got {}", limits.max_processes);
  NC_CHECK(limits.max_file_bytes >= 0, "execute_code: max_file_bytes must be >= 0, got {}", limits.max_file_bytes);
  NC_CHECK(limits.max_output_bytes > 0, "execute_code: max_output_bytes must be > 0, got {}",
           limits.max_output_bytes);
  NC_CHECK(limits.max_open_files >= 16, "execute_code: max_open_files must be >= 16 (Python needs a few), got {}",
           limits.max_open_files);
}

// The code, sealed in an anonymous memory file the child inherits as descriptor kCodeFd.
int code_memfd(std::string_view code) {
  const int fd = static_cast<int>(::syscall(SYS_memfd_create, "nanochat-sandbox-code", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  NC_CHECK(fd >= 0, "execute_code: memfd_create failed: {}", std::strerror(errno));
  if (const int e = write_all(fd, code); e != 0) {
    ::close(fd);
    fail("execute_code: writing the code to its memfd failed: {}", std::strerror(e));
  }
  ::fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL);
  return fd;
}

struct Supervision {
  std::string out, err;
  bool timed_out = false;
  bool output_limit = false;
  int wait_status = 0;
  double cpu_seconds = 0;
};

class StreamReader {
 public:
  StreamReader(int fd, std::string* sink, int64_t cap) : fd_(fd), sink_(sink), cap_(cap) {}
  ~StreamReader() { close(); }
  StreamReader(const StreamReader&) = delete;
  StreamReader& operator=(const StreamReader&) = delete;
  bool open() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  // Reads what is available; false once the cap is passed (the excess is dropped).
  bool pump() {
    char buf[65536];
    const ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n < 0) {
      if (errno != EINTR && errno != EAGAIN) close();
      return true;
    }
    if (n == 0) {
      close();
      return true;
    }
    const size_t room = static_cast<size_t>(cap_) - std::min(sink_->size(), static_cast<size_t>(cap_));
    sink_->append(buf, std::min(room, static_cast<size_t>(n)));
    return static_cast<size_t>(n) <= room;
  }

 private:
  int fd_;
  std::string* sink_;
  int64_t cap_;
};

bool child_has_exited(pid_t pid) {
  siginfo_t info{};
  return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid;
}

// Collects output until the child exits, the deadline passes or a stream passes its cap; then kills
// the whole process group (while the child is still unreaped, so its pid cannot have been reused) and
// reaps the child.
Supervision supervise(const SandboxChild& child, const SandboxLimits& limits) {
  Supervision s;
  StreamReader out(child.stdout_fd, &s.out, limits.max_output_bytes);
  StreamReader err(child.stderr_fd, &s.err, limits.max_output_bytes);
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, child.pid, 0));
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(limits.timeout_s));
  std::optional<Clock::time_point> drain_until;
  while (out.open() || err.open() || !drain_until) {
    const auto now = Clock::now();
    if (!drain_until && now >= deadline) {
      s.timed_out = true;
      break;
    }
    if (drain_until && now >= *drain_until) break;
    pollfd fds[3];
    int count = 0;
    if (out.open()) fds[count++] = {out.fd(), POLLIN, 0};
    if (err.open()) fds[count++] = {err.fd(), POLLIN, 0};
    const bool watch_pidfd = pidfd >= 0 && !drain_until;
    if (watch_pidfd) fds[count++] = {pidfd, POLLIN, 0};
    const auto until = drain_until ? *drain_until : deadline;
    auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(until - now).count() + 1;
    if (pidfd < 0 && !drain_until) wait_ms = std::min<long long>(wait_ms, 20);  // no pidfd: poll waitid
    const int ready = ::poll(fds, static_cast<nfds_t>(count), static_cast<int>(wait_ms));
    if (ready < 0 && errno != EINTR) fail("execute_code: poll failed: {}", std::strerror(errno));
    bool exited = false;
    for (int i = 0; i < count && ready > 0; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == pidfd && watch_pidfd) {
        exited = true;
      } else if (fds[i].fd == out.fd()) {
        s.output_limit |= !out.pump();
      } else if (fds[i].fd == err.fd()) {
        s.output_limit |= !err.pump();
      }
    }
    if (s.output_limit) break;
    if (!drain_until && (exited || (pidfd < 0 && child_has_exited(child.pid)))) {
      // Anything the code left behind in its group dies with it, so the pipes reach EOF promptly.
      ::killpg(child.pid, SIGKILL);
      drain_until = Clock::now() + kDrainAfterExit;
    }
  }
  ::killpg(child.pid, SIGKILL);
  ::kill(child.pid, SIGKILL);
  if (pidfd >= 0) ::close(pidfd);
  rusage usage{};
  while (::wait4(child.pid, &s.wait_status, 0, &usage) < 0 && errno == EINTR) {
  }
  s.cpu_seconds = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                  static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  return s;
}

std::string_view strip(std::string_view text) {
  constexpr std::string_view kSpace = " \t\n\r\v\f";
  const size_t begin = text.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  const size_t end = text.find_last_not_of(kSpace);
  return text.substr(begin, end - begin + 1);
}

std::string signal_name(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  return abbrev != nullptr ? fmt::format("SIG{}", abbrev) : fmt::format("signal {}", sig);
}

ExecutionResult to_result(Supervision s, const SandboxIsolation& isolation, int64_t cpu_limit_s,
                          int64_t max_output_bytes) {
  ExecutionResult r;
  r.isolation = isolation;
  if (WIFEXITED(s.wait_status)) r.exit_code = WEXITSTATUS(s.wait_status);
  if (WIFSIGNALED(s.wait_status)) r.term_signal = WTERMSIG(s.wait_status);
  // The CPU-time backstop ends a busy loop with SIGXCPU/SIGKILL before the wall clock does: same thing.
  const bool cpu_limit_hit = r.term_signal && (*r.term_signal == SIGXCPU || *r.term_signal == SIGKILL) &&
                             s.cpu_seconds >= static_cast<double>(cpu_limit_s) - 0.05;
  if (s.timed_out || cpu_limit_hit) {
    r.success = false;
    r.error = "Execution timed out (process killed)";
    r.timeout = true;
    r.status = "timeout";
    return r;
  }
  r.stdout_text = utf8_sanitize(s.out);
  r.stderr_text = utf8_sanitize(s.err);
  r.memory_exceeded = r.stderr_text.find("MemoryError") != std::string::npos;
  if (s.output_limit) {
    r.success = false;
    r.error = fmt::format("Output limit exceeded ({} bytes per stream; process killed)", max_output_bytes);
    r.status = "output_limit";
    return r;
  }
  r.success = r.exit_code && *r.exit_code == 0;
  if (r.success) {
    r.status = "ok";
    return r;
  }
  const std::string_view stripped = strip(r.stderr_text);
  if (!stripped.empty()) {
    const size_t newline = stripped.rfind('\n');
    r.error = std::string(newline == std::string_view::npos ? stripped : stripped.substr(newline + 1));
  } else if (r.term_signal) {
    r.error = fmt::format("Execution failed (killed by {})", signal_name(*r.term_signal));
  } else {
    r.error = "Execution failed";
  }
  if (r.term_signal && *r.term_signal == SIGKILL) {
    // We flag our own kills above; an outside SIGKILL here is the kernel's OOM killer in practice.
    r.memory_exceeded = true;
  }
  r.status = r.memory_exceeded ? "memory" : r.term_signal ? "killed" : "error";
  return r;
}

}  // namespace

std::string SandboxIsolation::describe() const {
  std::string out;
  auto add = [&](bool on, const char* name) {
    if (!on) return;
    if (!out.empty()) out += ' ';
    out += name;
  };
  add(seccomp, "seccomp");
  add(no_new_processes, "no-fork");
  add(process_rlimit, "nproc-rlimit");
  add(sockets_blocked, "no-sockets");
  add(user_namespace, "userns");
  add(network_namespace, "netns");
  add(pid_namespace, "pidns");
  add(private_proc, "private-proc");
  add(readonly_filesystem, "ro-fs");
  add(capabilities_dropped, "caps-dropped");
  return out.empty() ? "rlimits-only" : out;
}

std::optional<std::string> find_python_interpreter(const SandboxLimits& limits) {
  return resolve_python_interpreter(limits.python_executable);
}

ExecutionResult execute_code(std::string_view code, const SandboxLimits& limits) {
  validate(limits);
  NC_CHECK(utf8_is_valid(code), "execute_code: the code is not valid UTF-8");
  const auto python = find_python_interpreter(limits);
  NC_CHECK(python.has_value(), "execute_code: no Python interpreter found (python_executable='{}', "
                               "$NANOCHAT_PYTHON, or python3 on PATH)",
           limits.python_executable);

  const bool root = ::geteuid() == 0;
  int max_processes = limits.max_processes;
  if (max_processes > 1 && root && !limits.allow_unlimited_processes_as_root) {
    // RLIMIT_NPROC does not bind root: the only enforceable limit is "no new processes".
    if (!g_warned_root_processes.exchange(true)) {
      log_warn("execute_code: max_processes={} cannot be enforced for root; running with no child processes",
               max_processes);
    }
    max_processes = 1;
  }

  const int code_fd = code_memfd(code);
  struct CloseOnExit {
    int fd;
    ~CloseOnExit() { ::close(fd); }
  } close_code{code_fd};

  TempWorkdir workdir;
  SandboxLaunchSpec spec;
  spec.interpreter = *python;
  spec.args = {"-c", build_guard_program(limits.memory_bytes, kCodeFd)};
  spec.env = {"PATH=/usr/bin:/bin"};
  spec.workdir = workdir.path();
  spec.memory_bytes = limits.memory_bytes;
  spec.max_file_bytes = limits.max_file_bytes;
  spec.max_open_files = limits.max_open_files;
  spec.forbid_new_processes = max_processes <= 1;
  spec.nproc_limit = spec.forbid_new_processes ? kThreadAllowance : max_processes;
  spec.cpu_seconds = static_cast<int64_t>(std::ceil(limits.timeout_s)) + 1;
  spec.require_seccomp = root && spec.forbid_new_processes;
  spec.use_namespaces = limits.use_namespaces;

  const SandboxChild child = launch_sandbox(spec, code_fd);
  Supervision supervision = supervise(child, limits);
  return to_result(std::move(supervision), child.isolation, spec.cpu_seconds, limits.max_output_bytes);
}

}  // namespace nanochat::eval
