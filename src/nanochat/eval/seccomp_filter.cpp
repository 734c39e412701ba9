#include "nanochat/eval/seccomp_filter.h"

#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>

namespace nanochat::eval {
namespace {

#if defined(__x86_64__)
constexpr uint32_t kAuditArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr uint32_t kAuditArch = AUDIT_ARCH_AARCH64;
#else
constexpr uint32_t kAuditArch = 0;
#endif

constexpr uint32_t kNrOffset = offsetof(seccomp_data, nr);
constexpr uint32_t kArchOffset = offsetof(seccomp_data, arch);
// Low 32 bits of the first argument (little-endian on both supported architectures).
constexpr uint32_t kArg0LowOffset = offsetof(seccomp_data, args);

sock_filter stmt(uint16_t code, uint32_t k) { return sock_filter{code, 0, 0, k}; }
sock_filter jump(uint16_t code, uint32_t k, uint8_t jt, uint8_t jf) { return sock_filter{code, jt, jf, k}; }

uint32_t ret_errno(int err) { return SECCOMP_RET_ERRNO | (static_cast<uint32_t>(err) & SECCOMP_RET_DATA); }

// Appends "if nr == number: return action" (the accumulator holds nr).
void deny(std::vector<sock_filter>& prog, long number, uint32_t action) {
  prog.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(number), 0, 1));
  prog.push_back(stmt(BPF_RET | BPF_K, action));
}

}  // namespace

bool seccomp_supported_architecture() { return kAuditArch != 0; }

std::vector<sock_filter> build_seccomp_program(const SeccompPolicy& policy) {
  std::vector<sock_filter> prog;
  if (!seccomp_supported_architecture()) return prog;

  // Foreign ABIs have other syscall numbers: refuse them outright.
  prog.push_back(stmt(BPF_LD | BPF_W | BPF_ABS, kArchOffset));
  prog.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, kAuditArch, 1, 0));
  prog.push_back(stmt(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS));
  prog.push_back(stmt(BPF_LD | BPF_W | BPF_ABS, kNrOffset));
#if defined(__x86_64__)
  constexpr uint32_t kX32Bit = 0x40000000U;  // x32 syscalls share the arch value
  prog.push_back(jump(BPF_JMP | BPF_JGE | BPF_K, kX32Bit, 0, 1));
  prog.push_back(stmt(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS));
#endif

  const uint32_t eperm = ret_errno(EPERM);
  // clone3 passes its flags in memory the filter cannot read; glibc falls back to clone on ENOSYS.
  deny(prog, SYS_clone3, ret_errno(ENOSYS));
  if (policy.forbid_new_processes) {
#ifdef SYS_fork
    deny(prog, SYS_fork, ret_errno(EAGAIN));
#endif
#ifdef SYS_vfork
    deny(prog, SYS_vfork, ret_errno(EAGAIN));
#endif
  }
  // Sockets: the network namespace already has no interface; this also covers hosts without one and
  // filesystem unix sockets (a read-only mount does not stop connect()). socketpair() stays allowed.
  deny(prog, SYS_socket, ret_errno(EACCES));
  // Other processes: memory, signals, descriptors.
  for (long nr : {SYS_ptrace, SYS_process_vm_readv, SYS_process_vm_writev, SYS_kcmp, SYS_kill, SYS_tkill,
                  SYS_tgkill, SYS_rt_sigqueueinfo, SYS_rt_tgsigqueueinfo, SYS_pidfd_open, SYS_pidfd_getfd,
                  SYS_pidfd_send_signal}) {
    deny(prog, nr, eperm);
  }
  // Leaving the process group or the namespaces; remounting; kernel attack surface.
  for (long nr : {SYS_setsid, SYS_setpgid, SYS_unshare, SYS_setns, SYS_mount, SYS_umount2, SYS_pivot_root,
                  SYS_chroot, SYS_open_tree, SYS_move_mount, SYS_fsopen, SYS_fsconfig, SYS_fsmount, SYS_fspick,
                  SYS_mount_setattr, SYS_bpf, SYS_io_uring_setup, SYS_io_uring_enter, SYS_io_uring_register,
                  SYS_keyctl, SYS_add_key, SYS_request_key, SYS_perf_event_open, SYS_userfaultfd,
                  SYS_personality, SYS_name_to_handle_at, SYS_open_by_handle_at}) {
    deny(prog, nr, eperm);
  }

  if (policy.forbid_new_processes) {
    // clone: threads (CLONE_THREAD) pass, new processes fail as if the process limit were reached.
    prog.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(SYS_clone), 0, 3));
    prog.push_back(stmt(BPF_LD | BPF_W | BPF_ABS, kArg0LowOffset));
    prog.push_back(jump(BPF_JMP | BPF_JSET | BPF_K, CLONE_THREAD, 1, 0));
    prog.push_back(stmt(BPF_RET | BPF_K, ret_errno(EAGAIN)));
  }
  prog.push_back(stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  return prog;
}

}  // namespace nanochat::eval
