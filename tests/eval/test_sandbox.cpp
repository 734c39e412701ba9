// execute_code (spec §5): the spec's pinned behaviours, containment of hostile programs, and a
// HumanEval round trip. Every containment test first reads which isolation layers held on this host
// (ExecutionResult::isolation) and asserts the guarantee that goes with them.
#include "nanochat/eval/sandbox.h"

#include <arpa/inet.h>
#include <signal.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "nanochat/core/error.h"
#include "test_support.h"

namespace nanochat::eval {
namespace {

namespace fs = std::filesystem;

#define REQUIRE_PYTHON()                                                              \
  if (!find_python_interpreter().has_value())                                          \
  GTEST_SKIP() << "no python3 on PATH (set NANOCHAT_PYTHON): the sandbox runs Python"

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

ExecutionResult run(const std::string& code, const SandboxLimits& limits = {}) { return execute_code(code, limits); }

std::string describe(const ExecutionResult& r) {
  return "status=" + r.status + " error=" + r.error.value_or("<none>") + "\nstdout=" + r.stdout_text +
         "\nstderr=" + r.stderr_text + "\nisolation=" + r.isolation.describe();
}

// ---- the spec's pinned behaviours ----

TEST(Sandbox, HelloWorld) {
  REQUIRE_PYTHON();
  const auto r = run("print('hello world')");
  SCOPED_TRACE(describe(r));
  EXPECT_TRUE(r.success);
  EXPECT_EQ(r.stdout_text, "hello world\n");
  EXPECT_EQ(r.stderr_text, "");
  EXPECT_FALSE(r.error.has_value());
  EXPECT_FALSE(r.timeout);
  EXPECT_FALSE(r.memory_exceeded);
  EXPECT_EQ(r.status, "ok");
  EXPECT_EQ(r.exit_code, 0);
  std::cout << "[ sandbox ] isolation on this host: " << r.isolation.describe() << "\n";
}

TEST(Sandbox, ExceptionGivesLastStderrLine) {
  REQUIRE_PYTHON();
  const auto r = run("x = 1\nprint('before')\n1/0\n");
  SCOPED_TRACE(describe(r));
  EXPECT_FALSE(r.success);
  EXPECT_EQ(r.status, "error");
  ASSERT_TRUE(r.error.has_value());
  EXPECT_EQ(*r.error, "ZeroDivisionError: division by zero");
  EXPECT_EQ(r.stdout_text, "before\n");
  EXPECT_TRUE(contains(r.stderr_text, "File \"<llm>\", line 3"));  // compiled with filename <llm>
  EXPECT_EQ(r.exit_code, 1);
}

TEST(Sandbox, SilentNonZeroExitIsExecutionFailed) {
  REQUIRE_PYTHON();
  const auto r = run("import sys\nsys.exit(3)\n");
  EXPECT_FALSE(r.success);
  EXPECT_EQ(r.error, "Execution failed");
  EXPECT_EQ(r.exit_code, 3);
}

TEST(Sandbox, InfiniteLoopTimesOut) {
  REQUIRE_PYTHON();
  SandboxLimits limits;
  limits.timeout_s = 2;
  const auto start = std::chrono::steady_clock::now();
  const auto r = run("print('spinning', flush=True)\nwhile True:\n    pass\n", limits);
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  SCOPED_TRACE(describe(r));
  EXPECT_FALSE(r.success);
  EXPECT_TRUE(r.timeout);
  EXPECT_EQ(r.status, "timeout");
  EXPECT_EQ(r.error, "Execution timed out (process killed)");
  EXPECT_EQ(r.stdout_text, "");  // the original returns no output on a timeout
  EXPECT_GE(elapsed, 1.9);
  EXPECT_LT(elapsed, 5.0);
}

TEST(Sandbox, MemoryBombIsMemoryExceeded) {
  REQUIRE_PYTHON();
  const auto r = run("x = bytearray(1024 * 1024 * 1024)\nprint(len(x))\n");
  SCOPED_TRACE(describe(r));
  EXPECT_FALSE(r.success);
  EXPECT_TRUE(r.memory_exceeded);
  EXPECT_EQ(r.status, "memory");
  EXPECT_EQ(r.error, "MemoryError");
  EXPECT_EQ(r.stdout_text, "");
}

TEST(Sandbox, GuardDisablesDestructiveFunctions) {
  REQUIRE_PYTHON();
  const std::vector<std::string> calls = {
      "import os\nos.system('echo hacked')",          "import shutil\nshutil.rmtree('/tmp')",
      "import subprocess\nsubprocess.Popen(['true'])", "import os\nos.kill(os.getpid(), 9)",
      "import os\nos.fork()",                         "import os\nos.remove('x')",
      "import os\nos.chdir('/')",                     "import shutil\nshutil.move('a', 'b')",
      "import resource",                              "import os\nos.getcwd()",
  };
  for (const auto& code : calls) {
    const auto r = run(code);
    SCOPED_TRACE(code + "\n" + describe(r));
    EXPECT_FALSE(r.success);
    EXPECT_FALSE(contains(r.stdout_text, "hacked"));
    ASSERT_TRUE(r.error.has_value());
    EXPECT_TRUE(contains(*r.error, "TypeError") || contains(*r.error, "ModuleNotFoundError")) << *r.error;
  }
  // exit/quit/help are gone too, and the prelude's names are not visible to the code.
  const auto r = run("print(exit, quit, help)\nprint('GUARD' in dir(), sorted(dir()))\n");
  EXPECT_TRUE(r.success) << describe(r);
  EXPECT_EQ(r.stdout_text, "None None None\nFalse ['__builtins__', '__name__']\n");
}

TEST(Sandbox, InputFails) {
  REQUIRE_PYTHON();
  const auto r = run("x = input()\nprint('got', x)\n");
  SCOPED_TRACE(describe(r));
  EXPECT_FALSE(r.success);
  EXPECT_EQ(r.error, "EOFError: EOF when reading a line");
}

TEST(Sandbox, FilesLandInTheTemporaryDirectoryWhichIsRemoved) {
  REQUIRE_PYTHON();
  test::TempDir tmp;
  const char* old = std::getenv("TMPDIR");
  const std::string saved = old ? old : "";
  ::setenv("TMPDIR", tmp.path().c_str(), 1);
  const auto r = run(
      "import os\n"
      "with open('probe.txt', 'w') as f:\n    f.write('data')\n"
      "print(open('probe.txt').read())\n"
      "print(os.getcwdb().decode())\n"
      "print(os.listdir('.'))\n");
  // Killed on a timeout while holding a file open: the directory must go as well.
  SandboxLimits short_limits;
  short_limits.timeout_s = 1;
  const auto killed = run("f = open('held.txt', 'w')\nf.write('x')\nwhile True:\n    pass\n", short_limits);
  EXPECT_TRUE(killed.timeout);
  if (old) {
    ::setenv("TMPDIR", saved.c_str(), 1);
  } else {
    ::unsetenv("TMPDIR");
  }
  SCOPED_TRACE(describe(r));
  ASSERT_TRUE(r.success);
  const std::string cwd_prefix = (fs::canonical(tmp.path()) / "nanochat-sandbox-").string();
  EXPECT_TRUE(r.stdout_text.starts_with("data\n" + cwd_prefix)) << r.stdout_text;
  EXPECT_TRUE(r.stdout_text.ends_with("['probe.txt']\n"));
  EXPECT_FALSE(fs::exists("probe.txt"));
  EXPECT_TRUE(fs::is_empty(tmp.path())) << "the sandbox's directory was not removed";
}

TEST(Sandbox, ParentEnvironmentIsInvisible) {
  REQUIRE_PYTHON();
  ::setenv("NANOCHAT_SANDBOX_TEST_SECRET", "hunter2-b1946ac92492", 1);
  // /proc/<pid>/environ shows a process's environment as it was at exec, so the test looks for a
  // variable every parent process has (HOME) besides the secret set above.
  const auto r = run(
      "import os, json\n"
      "leaks = []\n"
      "for pid in os.listdir('/proc'):\n"
      "    if not pid.isdigit(): continue\n"
      "    try:\n"
      "        env = open('/proc/%s/environ' % pid, 'rb').read()\n"
      "        cmd = open('/proc/%s/cmdline' % pid, 'rb').read()\n"
      "    except OSError:\n"
      "        continue\n"
      "    if b'HOME=' in env or b'NANOCHAT_SANDBOX_TEST_SECRET' in env or b'test_sandbox' in cmd:\n"
      "        leaks.append(pid)\n"
      "try:\n"
      "    parent = open('/proc/%d/environ' % os.getppid(), 'rb').read()\n"
      "except OSError as e:\n"
      "    parent = repr(e).encode()\n"
      "print(json.dumps({'environ': dict(os.environ), 'leaks': leaks, 'ppid': os.getppid(),\n"
      "                  'parent': parent.decode('latin-1')}))\n");
  ::unsetenv("NANOCHAT_SANDBOX_TEST_SECRET");
  SCOPED_TRACE(describe(r));
  ASSERT_TRUE(r.success);
  EXPECT_FALSE(contains(r.stdout_text, "hunter2"));
  const auto j = nlohmann::json::parse(r.stdout_text);
  for (const auto& [name, value] : j["environ"].items()) {
    // PATH is ours; Python adds LC_CTYPE (PEP 538) and the guard OMP_NUM_THREADS.
    EXPECT_TRUE(name == "PATH" || name == "LC_CTYPE" || name == "OMP_NUM_THREADS") << name;
  }
  EXPECT_EQ(j["environ"]["PATH"], "/usr/bin:/bin");
  EXPECT_FALSE(contains(j["parent"].get<std::string>(), "HOME="));
  if (r.isolation.private_proc) {
    EXPECT_TRUE(j["leaks"].empty()) << j.dump();
  } else {
    std::cout << "[ sandbox ] no private /proc here: other processes of the uid stay readable\n";
  }
}

TEST(Sandbox, QuotesBackslashesAndBracesSurvive) {
  REQUIRE_PYTHON();
  const std::string code =
      "s = 'a\"b\\'c\\\\d{e}'\n"
      "t = \"\"\"tri'''ple\"\"\"\n"
      "print(s, t, '{}'.format(1), f'{{x}}', r'\\n', '\\x41', 'h\\u00e9llo \\u2713', 'naïve')\n";
  const auto r = run(code);
  SCOPED_TRACE(describe(r));
  ASSERT_TRUE(r.success);
  EXPECT_EQ(r.stdout_text, "a\"b'c\\d{e} tri'''ple 1 {x} \\n A h\xC3\xA9llo \xE2\x9C\x93 na\xC3\xAFve\n");
}

// ---- containment ----

// Every route to a new process; if one gets through, each child sleeps and exits (no recursion), so
// an uncontained run makes at most ~200 short-lived processes.
constexpr const char* kForkRoutes = R"PY(
import json, os, time
results = {}
def child():
    time.sleep(0.5)
    os._exit(0)
def attempt(name, fn):
    try:
        pid = fn()
        if pid == 0:
            child()
        results[name] = 'ok' if pid and pid > 0 else 'failed rc=%r' % (pid,)
    except BaseException as e:
        results[name] = 'failed %s: %s' % (type(e).__name__, e)
attempt('os.fork', lambda: os.fork())
attempt('posix.fork', lambda: __import__('posix').fork())
import ctypes
attempt('libc.fork', lambda: ctypes.CDLL(None).fork())
attempt('posix_spawn', lambda: os.posix_spawn('/bin/true', ['true'], {}))
def mp():
    import multiprocessing
    p = multiprocessing.Process(target=time.sleep, args=(0.5,))
    p.start()
    return p.pid
attempt('multiprocessing', mp)
def forkserver():
    import _posixsubprocess
    return _posixsubprocess.fork_exec  # only proves the module imports
results['_posixsubprocess'] = 'imports' if forkserver() else 'missing'
forks = 0
for _ in range(200):
    try:
        pid = __import__('posix').fork()
    except OSError as e:
        results['loop_error'] = '%s: %s' % (type(e).__name__, e)
        break
    if pid == 0:
        child()
    forks += 1
results['loop_forks'] = forks
print(json.dumps(results))
)PY";

TEST(Sandbox, ForkRoutesAreContained) {
  REQUIRE_PYTHON();
  SandboxLimits limits;
  limits.timeout_s = 4;
  const auto r = run(kForkRoutes, limits);
  SCOPED_TRACE(describe(r));
  ASSERT_TRUE(r.success);
  const auto j = nlohmann::json::parse(r.stdout_text);
  std::cout << "[ sandbox ] fork routes: " << j.dump() << "\n";
  ASSERT_TRUE(r.isolation.process_count_limited()) << "no process limit in force on this host";
  for (const char* route : {"os.fork", "posix.fork", "libc.fork", "posix_spawn", "multiprocessing"}) {
    EXPECT_TRUE(j[route].get<std::string>().starts_with("failed")) << route << ": " << j[route];
  }
  EXPECT_EQ(j["loop_forks"], 0);  // default max_processes = 1: no child process at all
  EXPECT_TRUE(contains(j["loop_error"].get<std::string>(), "Resource temporarily unavailable")) << j.dump();
}

TEST(Sandbox, RealForkBombIsContained) {
  REQUIRE_PYTHON();
  // Only once the bounded probe shows that forking fails: a depth-10 bomb is at most 1024 processes
  // even if that changed between the two runs.
  const auto probe = run("import posix\ntry:\n    posix.fork()\n    print('forked')\nexcept OSError:\n    print('refused')\n");
  ASSERT_EQ(probe.stdout_text, "refused\n") << describe(probe);
  SandboxLimits limits;
  limits.timeout_s = 2;
  const auto start = std::chrono::steady_clock::now();
  const auto r = run(
      "import posix, time\n"
      "for _ in range(10):\n"
      "    try:\n"
      "        posix.fork()\n"
      "    except OSError:\n"
      "        pass\n"
      "while True:\n"
      "    try:\n"
      "        posix.fork()\n"
      "    except OSError:\n"
      "        time.sleep(0.01)\n",
      limits);
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  SCOPED_TRACE(describe(r));
  EXPECT_TRUE(r.timeout);
  EXPECT_LT(elapsed, 5.0);
}

TEST(Sandbox, ThreadsStillWork) {
  REQUIRE_PYTHON();
  const auto r = run(
      "import threading\nout = []\n"
      "ts = [threading.Thread(target=out.append, args=(i,)) for i in range(4)]\n"
      "[t.start() for t in ts]\n[t.join() for t in ts]\nprint(sorted(out))\n");
  SCOPED_TRACE(describe(r));
  EXPECT_TRUE(r.success);
  EXPECT_EQ(r.stdout_text, "[0, 1, 2, 3]\n");
}

// Asserts what the sandbox guarantees for a write outside its directory under `limits`.
void check_write_outside(SandboxLimits limits) {
  const std::string outside = "/tmp/nanochat-sandbox-escape-" + std::to_string(::getpid());
  std::error_code ec;
  fs::remove(outside, ec);
  limits.max_file_bytes = 1 << 20;
  const auto r = run("data = b'x' * (2 << 20)\nwith open('" + outside + "', 'wb') as f:\n    f.write(data)\n", limits);
  SCOPED_TRACE(describe(r));
  EXPECT_FALSE(r.success);
  if (r.isolation.readonly_filesystem) {
    EXPECT_TRUE(contains(r.error.value_or(""), "Read-only file system")) << r.error.value_or("");
    EXPECT_FALSE(fs::exists(outside));
  } else {
    // Documented fallback: uid permissions only; RLIMIT_FSIZE still bounds the file.
    std::cout << "[ sandbox ] no read-only mount layer: writes outside bounded by RLIMIT_FSIZE only\n";
    EXPECT_TRUE(contains(r.error.value_or(""), "File too large")) << r.error.value_or("");
    if (fs::exists(outside)) {
      EXPECT_LE(fs::file_size(outside), uint64_t{1} << 20);
    }
  }
  fs::remove(outside, ec);
}

TEST(Sandbox, WritingOutsideTheTemporaryDirectoryIsContained) {
  REQUIRE_PYTHON();
  check_write_outside({});
  // The parent of the work directory is outside too.
  const auto up = run("open('../nanochat-sandbox-escape-up', 'w').write('x')\n");
  EXPECT_FALSE(up.success && up.isolation.readonly_filesystem) << describe(up);
  std::error_code ec;
  fs::remove(fs::temp_directory_path() / "nanochat-sandbox-escape-up", ec);
}

TEST(Sandbox, FileSizeLimit) {
  REQUIRE_PYTHON();
  SandboxLimits limits;
  limits.max_file_bytes = 4096;
  const auto r = run("open('big.bin', 'wb').write(b'x' * 10000)\n", limits);
  SCOPED_TRACE(describe(r));
  EXPECT_FALSE(r.success);
  EXPECT_TRUE(contains(r.error.value_or(""), "File too large"));
}

TEST(Sandbox, NetworkIsBlocked) {
  REQUIRE_PYTHON();
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(listener, 4), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int port = ntohs(addr.sin_port);
  const auto r = run("import socket\ns = socket.create_connection(('127.0.0.1', " + std::to_string(port) +
                     "), timeout=1)\nprint('connected')\n");
  const int accepted = ::accept(listener, nullptr, nullptr);
  if (accepted >= 0) ::close(accepted);
  ::close(listener);
  SCOPED_TRACE(describe(r));
  if (r.isolation.network_blocked()) {
    EXPECT_FALSE(r.success);
    EXPECT_LT(accepted, 0) << "the sandbox reached a socket of the test process";
    EXPECT_TRUE(contains(r.error.value_or(""), "PermissionError") ||
                contains(r.error.value_or(""), "Network is unreachable"))
        << r.error.value_or("");
  } else {
    std::cout << "[ sandbox ] network isolation unavailable here (no netns, no seccomp): the documented "
                 "fallback is an open network\n";
    EXPECT_TRUE(r.success);
  }
  // Unix sockets on the filesystem are refused as well.
  const auto unix_socket = run("import socket\nsocket.socket(socket.AF_UNIX).connect('/run/x.sock')\n");
  if (unix_socket.isolation.sockets_blocked) {
    EXPECT_TRUE(contains(unix_socket.error.value_or(""), "PermissionError")) << describe(unix_socket);
  }
}

TEST(Sandbox, SegfaultIsReportedAsKilled) {
  REQUIRE_PYTHON();
  const auto r = run("import ctypes\nctypes.string_at(0)\n");
  SCOPED_TRACE(describe(r));
  EXPECT_FALSE(r.success);
  EXPECT_EQ(r.status, "killed");
  EXPECT_EQ(r.term_signal, SIGSEGV);
  EXPECT_EQ(r.error, "Execution failed (killed by SIGSEGV)");
}

TEST(Sandbox, ProcessLimitAboveOne) {
  REQUIRE_PYTHON();
  SandboxLimits limits;
  limits.max_processes = 4;
  limits.timeout_s = 4;
  const auto r = run(
      "import posix, time\nforks = 0\n"
      "for _ in range(10):\n"
      "    try:\n        pid = posix.fork()\n    except OSError:\n        break\n"
      "    if pid == 0:\n        time.sleep(1)\n        posix._exit(0)\n"
      "    forks += 1\n"
      "print(forks)\n",
      limits);
  SCOPED_TRACE(describe(r));
  ASSERT_TRUE(r.success);
  const int forks = std::stoi(r.stdout_text);
  if (::geteuid() == 0) {
    EXPECT_TRUE(r.isolation.no_new_processes);  // root: falls back to no processes (fail closed)
    EXPECT_EQ(forks, 0);
  } else {
    ASSERT_TRUE(r.isolation.process_rlimit);
    EXPECT_LE(forks, 3);
    if (r.isolation.user_namespace) {
      EXPECT_EQ(forks, 3);  // counted per sandbox
    }
  }
}

// Without namespaces (use_namespaces = false, or a host that has none) the rest still holds.
TEST(Sandbox, FallbackWithoutNamespaces) {
  REQUIRE_PYTHON();
  SandboxLimits limits;
  limits.use_namespaces = false;
  ::setenv("NANOCHAT_SANDBOX_TEST_SECRET", "hunter2-b1946ac92492", 1);
  const auto r = run(
      "import json, os, socket\nout = {}\n"
      "try:\n    socket.create_connection(('127.0.0.1', 9), timeout=1)\n    out['net'] = 'connected'\n"
      "except OSError as e:\n    out['net'] = type(e).__name__\n"
      "try:\n    __import__('posix').fork()\n    out['fork'] = 'forked'\n"
      "except OSError as e:\n    out['fork'] = type(e).__name__\n"
      "out['env'] = sorted(os.environ)\nprint(json.dumps(out))\n",
      limits);
  ::unsetenv("NANOCHAT_SANDBOX_TEST_SECRET");
  SCOPED_TRACE(describe(r));
  ASSERT_TRUE(r.success);
  EXPECT_FALSE(r.isolation.network_namespace);
  EXPECT_FALSE(r.isolation.pid_namespace);
  EXPECT_FALSE(r.isolation.readonly_filesystem);
  const auto j = nlohmann::json::parse(r.stdout_text);
  EXPECT_FALSE(contains(r.stdout_text, "SECRET"));
  if (r.isolation.seccomp) {
    EXPECT_EQ(j["net"], "PermissionError");
    EXPECT_EQ(j["fork"], "BlockingIOError");
  } else {
    std::cout << "[ sandbox ] no seccomp on this architecture: " << j.dump() << "\n";
  }
  check_write_outside(limits);
}

TEST(Sandbox, ConcurrentCallsDoNotMixOutputs) {
  REQUIRE_PYTHON();
  std::vector<ExecutionResult> results(4);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&results, i] { results[i] = execute_code("print(" + std::to_string(i) + " * 7)"); });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < results.size(); ++i) {
    EXPECT_TRUE(results[i].success) << describe(results[i]);
    EXPECT_EQ(results[i].stdout_text, std::to_string(i * 7) + "\n");
  }
}

TEST(Sandbox, OutputIsCapped) {
  REQUIRE_PYTHON();
  SandboxLimits limits;
  limits.max_output_bytes = 10000;
  const auto r = run("import sys\nwhile True:\n    sys.stdout.write('y' * 4096)\n", limits);
  SCOPED_TRACE(r.status);
  EXPECT_FALSE(r.success);
  EXPECT_EQ(r.status, "output_limit");
  EXPECT_EQ(r.stdout_text.size(), 10000u);
  EXPECT_FALSE(r.timeout);
}

TEST(Sandbox, BadRequestsThrow) {
  REQUIRE_PYTHON();
  EXPECT_THROW(execute_code("print('\xff')"), nanochat::Error);
  SandboxLimits no_python;
  no_python.python_executable = "/nonexistent/python3";
  EXPECT_THROW(execute_code("print(1)", no_python), nanochat::Error);
  SandboxLimits bad;
  bad.timeout_s = 0;
  EXPECT_THROW(execute_code("print(1)", bad), nanochat::Error);
}

// ---- HumanEval (spec §8.3) ----

std::vector<nlohmann::json> read_jsonl_gz(const fs::path& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  EXPECT_NE(f, nullptr);
  std::string text;
  char buf[65536];
  int n;
  while (f != nullptr && (n = gzread(f, buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
  if (f != nullptr) gzclose(f);
  std::vector<nlohmann::json> rows;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    if (end > pos) rows.push_back(nlohmann::json::parse(text.substr(pos, end - pos)));
    pos = end + 1;
  }
  return rows;
}

// The evaluator's program for an assistant completion without a fenced block.
std::string humaneval_program(const nlohmann::json& row, const std::string& completion) {
  std::string imports;
  const std::string prompt = row["prompt"];
  size_t pos = 0;
  while (pos <= prompt.size()) {
    size_t end = prompt.find('\n', pos);
    if (end == std::string::npos) end = prompt.size();
    std::string line = prompt.substr(pos, end - pos);
    const size_t b = line.find_first_not_of(" \t\r");
    line = b == std::string::npos ? "" : line.substr(b, line.find_last_not_of(" \t\r") - b + 1);
    if (line.starts_with("import ") || line.starts_with("from ")) {
      imports += (imports.empty() ? "" : "\n") + line;
    } else if (!line.empty() && !line.starts_with("#")) {
      break;
    }
    pos = end + 1;
  }
  std::string code = completion;
  code.erase(0, code.find_first_not_of(" \t\n\r"));
  code.erase(code.find_last_not_of(" \t\n\r") + 1);
  return imports + "\n\n" + code + "\n\n" + row["test"].get<std::string>() + "\ncheck(" +
         row["entry_point"].get<std::string>() + ")";
}

TEST(Sandbox, HumanEvalCanonicalSolutionsPassAndWrongOnesFail) {
  REQUIRE_PYTHON();
  NC_REQUIRE_SHARED(path, "data/humaneval/HumanEval.jsonl.gz");
  const auto rows = read_jsonl_gz(path);
  ASSERT_EQ(rows.size(), 164u);
  for (size_t i : {0, 2, 12}) {
    const auto& row = rows[i];
    const std::string prompt = row["prompt"];
    const auto good = run(humaneval_program(row, prompt + "\n" + row["canonical_solution"].get<std::string>()));
    EXPECT_TRUE(good.success) << row["task_id"] << "\n" << describe(good);
    const auto wrong = run(humaneval_program(row, prompt + "\n    return None\n"));
    EXPECT_FALSE(wrong.success) << row["task_id"];
    EXPECT_TRUE(contains(wrong.error.value_or(""), "Error")) << wrong.error.value_or("");
  }
}

}  // namespace
}  // namespace nanochat::eval
