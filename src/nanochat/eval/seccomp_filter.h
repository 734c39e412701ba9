// The sandbox's seccomp-BPF program: a short deny list over an allow-by-default policy. The deny list
// targets what a confined, capability-less Python process could still use to reach outside: new
// processes, sockets, other processes' memory or signals, new namespaces or mounts, io_uring (which
// bypasses per-syscall filtering), keyrings, bpf, perf, and leaving the process group.
#pragma once
#include <linux/filter.h>

#include <vector>

namespace nanochat::eval {

struct SeccompPolicy {
  bool forbid_new_processes = true;  // fork/vfork/clone without CLONE_THREAD fail with EAGAIN
};

// False on architectures this filter does not know (then no filter is installed).
bool seccomp_supported_architecture();

// The program for this architecture; syscalls of any other ABI (i386 via int 0x80, x32) kill the
// process. Empty when !seccomp_supported_architecture().
std::vector<sock_filter> build_seccomp_program(const SeccompPolicy& policy);

}  // namespace nanochat::eval
