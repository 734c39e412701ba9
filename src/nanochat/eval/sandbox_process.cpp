#include "nanochat/eval/sandbox_process.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "nanochat/core/error.h"
#include "nanochat/core/log.h"
#include "nanochat/eval/seccomp_filter.h"

namespace nanochat::eval {
namespace {

// mount_setattr(2) may be missing from older libc headers; the kernel ABI is stable.
struct MountAttr {
  uint64_t attr_set;
  uint64_t attr_clr;
  uint64_t propagation;
  uint64_t userns_fd;
};
constexpr uint64_t kMountAttrReadOnly = 0x1;
constexpr uint64_t kMountAttrNoSuid = 0x2;
constexpr unsigned kAtRecursive = 0x8000;

// Where the child stopped; reported through the status pipe.
enum Stage : int32_t {
  kStageNone = 0,
  kStageUserNamespace = 1,  // retryable: the next attempt does without namespaces
  kStageSession = 2,
  kStageWorkdir = 3,
  kStageDescriptors = 4,
  kStageRlimit = 5,
  kStageNoNewPrivs = 6,
  kStageSeccomp = 7,
  kStageExec = 8,
};

const char* stage_name(int32_t stage) {
  switch (stage) {
    case kStageUserNamespace: return "user namespace id mapping";
    case kStageSession: return "new session";
    case kStageWorkdir: return "entering the temporary directory";
    case kStageDescriptors: return "setting up descriptors";
    case kStageRlimit: return "setting resource limits";
    case kStageNoNewPrivs: return "no_new_privs";
    case kStageSeccomp: return "installing the seccomp filter (needed to limit processes as root)";
    case kStageExec: return "execve of the interpreter";
    default: return "setup";
  }
}

// Isolation bits the child reports before execve.
enum Bit : uint32_t {
  kBitSeccomp = 1u << 0,
  kBitNoNewProcesses = 1u << 1,
  kBitProcessRlimit = 1u << 2,
  kBitNetNs = 1u << 3,
  kBitSocketsBlocked = 1u << 4,
  kBitPidNs = 1u << 5,
  kBitPrivateProc = 1u << 6,
  kBitReadOnlyFs = 1u << 7,
  kBitUserNs = 1u << 8,
  kBitCapsDropped = 1u << 9,
};

struct ChildReport {
  uint32_t bits;
  int32_t stage;  // kStageNone = about to execve
  int32_t err;
};

// Raw pointers into memory prepared by the parent; the child reads them after clone.
struct ChildContext {
  int clone_flags;
  const char* interpreter;
  char* const* argv;
  char* const* envp;
  const char* workdir;
  int devnull_fd, stdout_fd, stderr_fd, code_fd, report_fd;
  const char* uid_map;
  const char* gid_map;
  std::optional<int64_t> memory_bytes;
  int64_t max_file_bytes, max_open_files, nproc_limit, cpu_seconds;
  const sock_fprog* filter;  // null: no filter for this architecture
  bool forbid_new_processes;
  bool require_seccomp;
};

// ---- child side: system calls only ----

void child_report(const ChildContext& ctx, uint32_t bits, int32_t stage, int err) {
  const ChildReport report{bits, stage, err};
  ssize_t ignored = ::write(ctx.report_fd, &report, sizeof report);
  (void)ignored;
}

[[noreturn]] void child_fail(const ChildContext& ctx, uint32_t bits, int32_t stage) {
  child_report(ctx, bits, stage, errno);
  ::_exit(127);
}

bool write_file(const char* path, const char* text) {
  const int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const size_t len = std::strlen(text);
  const bool ok = ::write(fd, text, len) == static_cast<ssize_t>(len);
  ::close(fd);
  return ok;
}

void set_limit(const ChildContext& ctx, uint32_t bits, int resource, int64_t value) {
  rlimit current{};
  if (::getrlimit(resource, &current) != 0) child_fail(ctx, bits, kStageRlimit);
  rlim_t wanted = value < 0 ? 0 : static_cast<rlim_t>(value);
  if (current.rlim_max != RLIM_INFINITY && wanted > current.rlim_max) wanted = current.rlim_max;
  const rlimit limit{wanted, wanted};
  if (::setrlimit(resource, &limit) != 0) child_fail(ctx, bits, kStageRlimit);
}

// Everything read-only except the work directory; a /proc that shows only this PID namespace (or
// nothing, when procfs cannot be mounted here). Each step is best effort: bits say what held.
uint32_t child_setup_mounts(const ChildContext& ctx) {
  uint32_t bits = 0;
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return bits;
  if ((ctx.clone_flags & CLONE_NEWPID) != 0 &&
      ::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) == 0) {
    bits |= kBitPrivateProc;
  } else if (::mount("tmpfs", "/proc", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=555") == 0) {
    bits |= kBitPrivateProc;
  }
  if (::mount(ctx.workdir, ctx.workdir, nullptr, MS_BIND | MS_REC, nullptr) != 0) return bits;
  MountAttr readonly{kMountAttrReadOnly | kMountAttrNoSuid, 0, 0, 0};
  if (::syscall(SYS_mount_setattr, AT_FDCWD, "/", kAtRecursive, &readonly, sizeof readonly) != 0) return bits;
  MountAttr writable{0, kMountAttrReadOnly, 0, 0};
  if (::syscall(SYS_mount_setattr, AT_FDCWD, ctx.workdir, 0u, &writable, sizeof writable) != 0) {
    // The work directory stayed read-only: the code can still run, it just cannot write files.
    return bits;
  }
  return bits | kBitReadOnlyFs;
}

// Capabilities: none now, none after execve (bounding set emptied, root gets no implicit set).
uint32_t child_drop_capabilities() {
  ::prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                                 SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
                                 SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED,
          0, 0, 0);
  for (int cap = 0; cap < 64; ++cap) ::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
  ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (::syscall(SYS_capset, &header, data) != 0) return 0;
  const bool bounding_empty = ::prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0) == 0;
  return (bounding_empty || ::getuid() != 0) ? static_cast<uint32_t>(kBitCapsDropped) : 0u;
}

// Moves the five descriptors the child keeps to 0..4 and closes everything else.
void child_setup_descriptors(const ChildContext& ctx, uint32_t bits) {
  const int sources[5] = {ctx.devnull_fd, ctx.stdout_fd, ctx.stderr_fd, ctx.code_fd, ctx.report_fd};
  int high[5];
  for (int i = 0; i < 5; ++i) {
    high[i] = ::fcntl(sources[i], F_DUPFD_CLOEXEC, 16);
    if (high[i] < 0) child_fail(ctx, bits, kStageDescriptors);
  }
  for (int i = 0; i < 5; ++i) {
    if (::dup2(high[i], i) != i) child_fail(ctx, bits, kStageDescriptors);
  }
  ::fcntl(4, F_SETFD, FD_CLOEXEC);  // the status pipe closes on execve: EOF tells the parent it worked
  if (::syscall(SYS_close_range, 5u, ~0u, 0u) != 0) {
    rlimit nofile{};
    ::getrlimit(RLIMIT_NOFILE, &nofile);
    const long last = nofile.rlim_cur == RLIM_INFINITY || nofile.rlim_cur > 65536 ? 65536 : long(nofile.rlim_cur);
    for (long fd = 5; fd < last; ++fd) ::close(static_cast<int>(fd));
  }
}

[[noreturn]] void child_main(ChildContext ctx) {
  uint32_t bits = 0;
  ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  if ((ctx.clone_flags & CLONE_NEWUSER) != 0) {
    if (!write_file("/proc/self/setgroups", "deny") || !write_file("/proc/self/uid_map", ctx.uid_map) ||
        !write_file("/proc/self/gid_map", ctx.gid_map)) {
      child_fail(ctx, bits, kStageUserNamespace);
    }
    bits |= kBitUserNs;
  }
  if (::setsid() < 0) child_fail(ctx, bits, kStageSession);
  if ((ctx.clone_flags & CLONE_NEWPID) != 0) bits |= kBitPidNs;
  if ((ctx.clone_flags & CLONE_NEWNET) != 0) bits |= kBitNetNs;  // loopback stays down: no route at all
  if ((ctx.clone_flags & CLONE_NEWNS) != 0) bits |= child_setup_mounts(ctx);
  if (::chdir(ctx.workdir) != 0) child_fail(ctx, bits, kStageWorkdir);
  child_setup_descriptors(ctx, bits);
  ChildContext moved = ctx;
  moved.report_fd = 4;

  if (ctx.memory_bytes) {
    set_limit(moved, bits, RLIMIT_AS, *ctx.memory_bytes);
    set_limit(moved, bits, RLIMIT_DATA, *ctx.memory_bytes);
  }
  set_limit(moved, bits, RLIMIT_FSIZE, ctx.max_file_bytes);
  set_limit(moved, bits, RLIMIT_CORE, 0);
  set_limit(moved, bits, RLIMIT_NOFILE, ctx.max_open_files);
  set_limit(moved, bits, RLIMIT_NPROC, ctx.nproc_limit);
  if (ctx.cpu_seconds > 0) set_limit(moved, bits, RLIMIT_CPU, ctx.cpu_seconds);
  // The kernel exempts real uid 0 from RLIMIT_NPROC; in a user namespace it counts that namespace only.
  if (::getuid() != 0) bits |= kBitProcessRlimit;

  bits |= child_drop_capabilities();
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) child_fail(moved, bits, kStageNoNewPrivs);
  if (ctx.filter != nullptr && ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctx.filter, 0, 0) == 0) {
    bits |= kBitSeccomp | kBitSocketsBlocked;
    if (ctx.forbid_new_processes) bits |= kBitNoNewProcesses;
  } else if (ctx.require_seccomp) {
    child_fail(moved, bits, kStageSeccomp);
  }
  child_report(moved, bits, kStageNone, 0);
  ::execve(ctx.interpreter, ctx.argv, ctx.envp);
  child_fail(moved, bits, kStageExec);
}

// ---- parent side ----

SandboxIsolation isolation_from_bits(uint32_t bits) {
  SandboxIsolation iso;
  iso.seccomp = (bits & kBitSeccomp) != 0;
  iso.no_new_processes = (bits & kBitNoNewProcesses) != 0;
  iso.process_rlimit = (bits & kBitProcessRlimit) != 0;
  iso.network_namespace = (bits & kBitNetNs) != 0;
  iso.sockets_blocked = (bits & kBitSocketsBlocked) != 0;
  iso.pid_namespace = (bits & kBitPidNs) != 0;
  iso.private_proc = (bits & kBitPrivateProc) != 0;
  iso.readonly_filesystem = (bits & kBitReadOnlyFs) != 0;
  iso.user_namespace = (bits & kBitUserNs) != 0;
  iso.capabilities_dropped = (bits & kBitCapsDropped) != 0;
  return iso;
}

std::vector<int> namespace_attempts() {
  const int full = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS;
  if (::geteuid() == 0) return {full, CLONE_NEWNET, 0};
  return {CLONE_NEWUSER | full, CLONE_NEWUSER | CLONE_NEWNET, 0};
}

// Index into namespace_attempts() of the first set that worked; later launches start there.
std::atomic<int> g_first_attempt{0};
std::atomic<bool> g_logged_fallback{false};

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() { const int fd = fd_; fd_ = -1; return fd; }
  void reset(int fd = -1) { if (fd_ >= 0) ::close(fd_); fd_ = fd; }

 private:
  int fd_;
};

struct Pipe {
  Fd read, write;
  Pipe() {
    int fds[2];
    NC_CHECK(::pipe2(fds, O_CLOEXEC) == 0, "sandbox: pipe2 failed: {}", std::strerror(errno));
    read.reset(fds[0]);
    write.reset(fds[1]);
  }
};

void reap(pid_t pid) {
  while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

// Reads the child's status records until EOF (execve succeeded, or the child exited).
std::vector<ChildReport> read_reports(int fd, pid_t pid) {
  std::vector<ChildReport> reports;
  ChildReport buffer{};
  size_t filled = 0;
  while (true) {
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, 30000);
    if (ready == 0) {
      ::kill(pid, SIGKILL);
      reap(pid);
      fail("sandbox: the child did not finish its setup within 30 s");
    }
    if (ready < 0) {
      if (errno == EINTR) continue;
      fail("sandbox: poll on the status pipe failed: {}", std::strerror(errno));
    }
    const ssize_t n = ::read(fd, reinterpret_cast<char*>(&buffer) + filled, sizeof buffer - filled);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    filled += static_cast<size_t>(n);
    if (filled == sizeof buffer) {
      reports.push_back(buffer);
      filled = 0;
    }
  }
  return reports;
}

}  // namespace

SandboxChild launch_sandbox(const SandboxLaunchSpec& spec, int code_fd) {
  NC_CHECK(::lseek(code_fd, 0, SEEK_SET) == 0, "sandbox: cannot rewind the code descriptor: {}", std::strerror(errno));

  // All memory the child touches is prepared here.
  std::vector<std::string> argv_store;
  argv_store.push_back(spec.interpreter);
  argv_store.insert(argv_store.end(), spec.args.begin(), spec.args.end());
  std::vector<char*> argv;
  for (auto& a : argv_store) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_store = spec.env;
  std::vector<char*> envp;
  for (auto& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);
  const std::string uid_map = fmt::format("{0} {0} 1\n", ::geteuid());
  const std::string gid_map = fmt::format("{0} {0} 1\n", ::getegid());
  std::vector<sock_filter> program = build_seccomp_program({spec.forbid_new_processes});
  sock_fprog filter{static_cast<unsigned short>(program.size()), program.data()};

  Fd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  NC_CHECK(devnull.get() >= 0, "sandbox: cannot open /dev/null: {}", std::strerror(errno));

  const std::vector<int> attempts = spec.use_namespaces ? namespace_attempts() : std::vector<int>{0};
  const int first = spec.use_namespaces ? g_first_attempt.load() : 0;
  for (int index = first; index < static_cast<int>(attempts.size()); ++index) {
    const int flags = attempts[static_cast<size_t>(index)];
    Pipe out, err, status;
    ChildContext ctx{flags,
                     spec.interpreter.c_str(),
                     argv.data(),
                     envp.data(),
                     spec.workdir.c_str(),
                     devnull.get(),
                     out.write.get(),
                     err.write.get(),
                     code_fd,
                     status.write.get(),
                     uid_map.c_str(),
                     gid_map.c_str(),
                     spec.memory_bytes,
                     spec.max_file_bytes,
                     spec.max_open_files,
                     spec.nproc_limit,
                     spec.cpu_seconds,
                     program.empty() ? nullptr : &filter,
                     spec.forbid_new_processes,
                     spec.require_seccomp};
    // clone() without a new stack behaves like fork() but takes namespace flags.
    const long pid = ::syscall(SYS_clone, static_cast<unsigned long>(flags) | SIGCHLD, 0UL, 0UL, 0UL, 0UL);
    if (pid == 0) child_main(ctx);
    if (pid < 0) {
      const int e = errno;
      if (flags != 0 && (e == EPERM || e == EINVAL || e == ENOSPC || e == EUSERS || e == EACCES)) {
        log_debug("sandbox: clone with namespace flags {:#x} refused: {}", flags, std::strerror(e));
        continue;
      }
      fail("sandbox: cannot start a process: {}", std::strerror(e));
    }
    out.write.reset();
    err.write.reset();
    status.write.reset();
    const auto reports = read_reports(status.read.get(), static_cast<pid_t>(pid));
    const ChildReport* failure = nullptr;
    for (const auto& r : reports) {
      if (r.stage != kStageNone) failure = &r;
    }
    if (reports.empty() || failure != nullptr) {
      ::kill(static_cast<pid_t>(pid), SIGKILL);
      reap(static_cast<pid_t>(pid));
      if (failure != nullptr && failure->stage == kStageUserNamespace && flags != 0) {
        log_debug("sandbox: user namespace mapping refused: {}", std::strerror(failure->err));
        continue;
      }
      if (failure == nullptr) fail("sandbox: the child died during setup");
      fail("sandbox: {} failed for {}: {}", stage_name(failure->stage), spec.interpreter, std::strerror(failure->err));
    }
    if (spec.use_namespaces && index != g_first_attempt.load()) g_first_attempt.store(index);
    SandboxChild child;
    child.pid = static_cast<pid_t>(pid);
    child.stdout_fd = out.read.release();
    child.stderr_fd = err.read.release();
    child.isolation = isolation_from_bits(reports.front().bits);
    if (spec.use_namespaces && index > 0 && !g_logged_fallback.exchange(true)) {
      log_warn("sandbox: namespaces limited here ({}); isolation in force: {}", index == 1 ? "network only" : "none",
               child.isolation.describe());
    }
    return child;
  }
  fail("sandbox: no namespace configuration could start a process");
}

}  // namespace nanochat::eval
