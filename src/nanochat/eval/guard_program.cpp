#include "nanochat/eval/guard_program.h"

#include <fmt/format.h>

namespace nanochat::eval {
namespace {

// Names the original sets to None (os.fchdir appears twice there; once is enough).
constexpr const char* kDisabledOsFunctions =
    "'kill', 'system', 'putenv', 'remove', 'removedirs', 'rmdir', 'fchdir', 'setuid', 'fork', 'forkpty', "
    "'killpg', 'rename', 'renames', 'truncate', 'replace', 'unlink', 'fchmod', 'fchown', 'chmod', 'chown', "
    "'chroot', 'lchflags', 'lchmod', 'lchown', 'getcwd', 'chdir'";

// Everything the prelude defines starts with _nanochat_ and is deleted before the code runs; the code
// gets its own globals dict anyway, so none of it shows in dir().
constexpr const char* kProgramTemplate = R"PY(import sys as _nanochat_sys

def _nanochat_read_source(fd):
    import os
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return b''.join(chunks).decode('utf-8')

def _nanochat_reliability_guard(limit):
    import builtins, faulthandler, os, shutil, subprocess
    if limit is not None and _nanochat_sys.platform != 'darwin':
        import resource
        for which in (resource.RLIMIT_AS, resource.RLIMIT_DATA, resource.RLIMIT_STACK):
            resource.setrlimit(which, (limit, limit))
    faulthandler.disable()
    builtins.exit = None
    builtins.quit = None
    builtins.help = None
    os.environ['OMP_NUM_THREADS'] = '1'
    for name in ({disabled_os}):
        setattr(os, name, None)
    for name in ('rmtree', 'move', 'chown'):
        setattr(shutil, name, None)
    subprocess.Popen = None
    for name in ('ipdb', 'joblib', 'resource', 'psutil', 'tkinter'):
        _nanochat_sys.modules[name] = None

_nanochat_source = _nanochat_read_source({code_fd})
_nanochat_reliability_guard({limit})
del _nanochat_read_source, _nanochat_reliability_guard, _nanochat_sys
exec(compile(_nanochat_source, '<llm>', 'exec'), {{'__name__': '__main__'}})
)PY";

}  // namespace

std::string build_guard_program(std::optional<int64_t> memory_bytes, int code_fd) {
  const std::string limit = memory_bytes ? std::to_string(*memory_bytes) : "None";
  return fmt::format(fmt::runtime(kProgramTemplate), fmt::arg("disabled_os", kDisabledOsFunctions), fmt::arg("code_fd", code_fd),
                     fmt::arg("limit", limit));
}

}  // namespace nanochat::eval
