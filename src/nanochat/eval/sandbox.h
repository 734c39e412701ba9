// Code-execution sandbox (spec §5): runs untrusted Python (HumanEval programs, the python tool) in a
// separate, confined process and returns the original's result fields plus our own status.
//
// Layers, each applied where the kernel allows it (ExecutionResult::isolation says which held):
//  - always: own session/process group (a timeout kills the whole tree), wall-clock timeout, rlimits
//    (AS/DATA/STACK = memory limit, FSIZE, CORE 0, NOFILE, NPROC, CPU backstop), environment exactly
//    {PATH=/usr/bin:/bin}, stdin /dev/null, a fresh temporary working directory removed afterwards,
//    captured stdout/stderr with a size cap, the original's Python-level GUARD (disabled functions,
//    poisoned modules), all capabilities dropped, no_new_privs, parent-death kill;
//  - seccomp (x86_64, aarch64): no new processes when max_processes <= 1 (threads still allowed),
//    no socket() at all (socketpair stays), no ptrace/process_vm_*, mount, namespaces, bpf, io_uring,
//    keyrings, perf, setsid/setpgid (so nothing leaves the process group);
//  - namespaces (as root directly, otherwise through a user namespace): network (no interfaces),
//    PID (the tree dies with its first process; a private /proc hides the parent), mount (every
//    mount read-only except the temporary directory), IPC, UTS.
// Not a defence against kernel exploits; see docs in sandbox.cpp for what holds under which conditions.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace nanochat::eval {

// Which confinement layers were in force for one execution.
struct SandboxIsolation {
  bool seccomp = false;               // the syscall filter was installed
  bool no_new_processes = false;      // seccomp refuses fork/vfork/clone without CLONE_THREAD
  bool process_rlimit = false;        // RLIMIT_NPROC binds (the sandbox uid is not root)
  bool network_namespace = false;     // a fresh network namespace (no usable interface)
  bool sockets_blocked = false;       // seccomp refuses socket()
  bool pid_namespace = false;         // own PID namespace: the tree dies with its first process
  bool private_proc = false;          // /proc shows only the sandbox's own processes
  bool readonly_filesystem = false;   // every mount read-only except the temporary directory
  bool user_namespace = false;        // the namespaces were created through a user namespace
  bool capabilities_dropped = false;  // empty capability sets and bounding set

  bool network_blocked() const { return network_namespace || sockets_blocked; }
  bool process_count_limited() const { return no_new_processes || process_rlimit; }
  std::string describe() const;  // e.g. "seccomp no-fork netns pidns proc ro-fs caps-dropped"
};

struct ExecutionResult {
  bool success = false;
  std::string stdout_text;
  std::string stderr_text;
  std::optional<std::string> error;
  bool timeout = false;
  bool memory_exceeded = false;
  // Ours, additive: "ok", "error", "timeout", "memory", "killed" (by a signal we did not send),
  // "output_limit" (stdout or stderr passed max_output_bytes; the process was killed).
  std::string status;
  std::optional<int> exit_code;    // set when the process exited normally
  std::optional<int> term_signal;  // set when a signal ended it
  SandboxIsolation isolation;
};

struct SandboxLimits {
  double timeout_s = 5.0;                               // wall clock
  std::optional<int64_t> memory_bytes = 268435456;      // RLIMIT_AS/DATA/STACK; nullopt = unlimited
  // Processes (and threads, for RLIMIT_NPROC) the code may have at once. 1 = no child processes,
  // enforced by seccomp regardless of uid. Above 1 only RLIMIT_NPROC can count (processes and
  // threads), which the kernel does not apply to root: as root a value above 1 falls back to 1
  // (fail closed, warned once) unless allow_unlimited_processes_as_root is set.
  int max_processes = 1;
  bool allow_unlimited_processes_as_root = false;
  int64_t max_file_bytes = 16 << 20;    // RLIMIT_FSIZE: largest file the code may write
  int64_t max_output_bytes = 1 << 20;   // per stream; beyond it the process is killed
  int max_open_files = 64;              // RLIMIT_NOFILE
  // false: skip all namespaces (hosts where they misbehave; tests of the fallback). Everything else
  // (seccomp, rlimits, capabilities, guard) still applies.
  bool use_namespaces = true;
  // Interpreter to run; empty = $NANOCHAT_PYTHON, else `python3` on the caller's PATH. Wrapper
  // scripts (pyenv shims) are resolved once to the real interpreter (sys.executable).
  std::string python_executable;
};

// Runs `code` (UTF-8 Python source) as `__main__` after the original's guard prelude. Code failures,
// timeouts and limits are reported in the result; a missing interpreter, invalid UTF-8 or a failure
// to start the sandbox throws nanochat::Error.
ExecutionResult execute_code(std::string_view code, const SandboxLimits& limits = {});

// The interpreter execute_code would run for these limits, or nullopt when none is found.
std::optional<std::string> find_python_interpreter(const SandboxLimits& limits = {});

}  // namespace nanochat::eval
