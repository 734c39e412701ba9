// Starting the confined child process: namespaces, mounts, rlimits, capabilities, seccomp, execve.
// Everything the child needs is prepared before clone(); after it the child makes only system calls
// (the caller may be multi-threaded, so the child must not allocate or take locks).
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "nanochat/eval/sandbox.h"

namespace nanochat::eval {

struct SandboxLaunchSpec {
  std::string interpreter;          // absolute path of the binary to execute
  std::vector<std::string> args;    // argv[1..]
  std::vector<std::string> env;     // "NAME=value" entries, the child's whole environment
  std::string workdir;              // canonical path; the child's cwd and its only writable place
  std::optional<int64_t> memory_bytes;  // RLIMIT_AS and RLIMIT_DATA
  int64_t max_file_bytes = 0;       // RLIMIT_FSIZE
  int max_open_files = 64;          // RLIMIT_NOFILE
  int64_t nproc_limit = 64;         // RLIMIT_NPROC
  int64_t cpu_seconds = 0;          // RLIMIT_CPU backstop (0 = none)
  bool forbid_new_processes = true; // seccomp: no fork, threads only
  bool require_seccomp = false;     // fail instead of running when the filter cannot be installed
  bool use_namespaces = true;       // false: plain fork-like clone, no namespaces
};

// A started child. pid is in the caller's PID namespace and is also the child's process group.
struct SandboxChild {
  pid_t pid = -1;
  int stdout_fd = -1;  // read ends, close-on-exec in the caller
  int stderr_fd = -1;
  SandboxIsolation isolation;
};

// Starts the child with descriptor 3 = code_fd (read from offset 0), stdin = /dev/null. Tries the
// strongest namespace set first and falls back to weaker ones the kernel accepts (remembering which
// worked). Throws nanochat::Error naming the failed step when the child cannot be started at all.
SandboxChild launch_sandbox(const SandboxLaunchSpec& spec, int code_fd);

}  // namespace nanochat::eval
