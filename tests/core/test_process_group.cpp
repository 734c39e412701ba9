// ProcessGroup: environment parsing, collectives across real processes (each rank a fork of this test
// over loopback TCP), and the failure paths: bad environment, a peer that dies or stalls, a busy port.
#include "nanochat/core/process_group.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "nanochat/core/error.h"
#include "nanochat/core/log.h"

namespace nanochat {
namespace {

using namespace std::chrono_literals;

// A listening socket on a kernel-chosen loopback port (closed or kept by the caller).
int bound_socket(int* port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    ADD_FAILURE() << "cannot bind a loopback socket";
  *port = ntohs(a.sin_port);
  return fd;
}

int free_port() {
  int port = 0;
  ::close(bound_socket(&port));
  return port;
}

DistEnv env_for(int rank, int world, int port) {
  DistEnv e;
  e.rank = rank;
  e.world_size = world;
  e.local_rank = rank;
  e.master_addr = "127.0.0.1";
  e.master_port = port;
  return e;
}

struct RankOutcome {
  int exit_code = -1;   // the body's return value; 3 when it threw an Error
  std::string error;    // the Error's message
  double seconds = 0;   // from start to exit
};

// Runs body(rank) in `ranks.size()` forked processes (ranks[i] is the rank the i-th child plays) and
// collects how each ended. A child still running after `limit` is killed (exit_code -1).
std::vector<RankOutcome> run_ranks(const std::vector<int>& ranks, const std::function<int(int)>& body,
                                   std::chrono::seconds limit = 20s) {
  struct Child {
    pid_t pid;
    int pipe_fd;
    std::string text;
    bool done = false;
    RankOutcome out;
  };
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<Child> kids;
  for (int rank : ranks) {
    int fds[2];
    if (::pipe(fds) != 0) ADD_FAILURE() << "pipe";
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(fds[0]);
      int code = 0;
      try {
        code = body(rank);
      } catch (const Error& e) {
        const std::string msg = e.what();
        [[maybe_unused]] ssize_t n = ::write(fds[1], msg.data(), msg.size());
        code = 3;
      }
      ::_exit(code);
    }
    ::close(fds[1]);
    kids.push_back({pid, fds[0], {}, false, {}});
  }
  for (auto& k : kids) {
    // Drain the message pipe, then reap; both bounded by the limit.
    char buf[4096];
    for (;;) {
      pollfd pfd{k.pipe_fd, POLLIN, 0};
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(t0 + limit - std::chrono::steady_clock::now());
      if (left.count() <= 0 || ::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) break;
      const ssize_t n = ::read(k.pipe_fd, buf, sizeof buf);
      if (n <= 0) break;
      k.text.append(buf, static_cast<size_t>(n));
    }
    ::close(k.pipe_fd);
    int status = 0;
    for (;;) {
      if (::waitpid(k.pid, &status, WNOHANG) == k.pid) {
        k.out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        break;
      }
      if (std::chrono::steady_clock::now() > t0 + limit) {
        ::kill(k.pid, SIGKILL);
        ::waitpid(k.pid, &status, 0);
        k.out.exit_code = -1;
        break;
      }
      std::this_thread::sleep_for(5ms);
    }
    k.out.error = k.text;
    k.out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  std::vector<RankOutcome> out;
  for (auto& k : kids) out.push_back(k.out);
  return out;
}

std::vector<int> all_ranks(int world) {
  std::vector<int> r;
  for (int i = 0; i < world; ++i) r.push_back(i);
  return r;
}

// Sets environment variables for one test and restores them afterwards.
class ScopedEnv {
 public:
  ScopedEnv(std::initializer_list<std::pair<const char*, const char*>> vars) {
    for (const char* name : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "NANOCHAT_DIST_TIMEOUT_S"}) {
      const char* v = std::getenv(name);
      saved_.emplace_back(name, v ? std::optional<std::string>(v) : std::nullopt);
      ::unsetenv(name);
    }
    for (const auto& [k, v] : vars) ::setenv(k, v, 1);
  }
  ~ScopedEnv() {
    for (const auto& [k, v] : saved_) {
      if (v) ::setenv(k.c_str(), v->c_str(), 1);
      else ::unsetenv(k.c_str());
    }
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(DistEnv, AbsentMeansOneRank) {
  ScopedEnv env({});
  const DistEnv e = dist_env_from_environment();
  EXPECT_EQ(e.rank, 0);
  EXPECT_EQ(e.world_size, 1);
  ProcessGroup g = ProcessGroup::from_environment();
  EXPECT_FALSE(g.distributed());
  EXPECT_TRUE(g.is_main());
  std::vector<double> v{1.5, -2};
  g.all_reduce_sum(v);
  EXPECT_EQ(v, (std::vector<double>{1.5, -2}));
  std::string s = "kept";
  g.broadcast(s);
  g.barrier();
  EXPECT_EQ(s, "kept");
}

TEST(DistEnv, ReadsTorchrunVariables) {
  ScopedEnv env({{"RANK", "3"}, {"WORLD_SIZE", "4"}, {"MASTER_ADDR", "10.0.0.1"}, {"MASTER_PORT", "29500"}});
  const DistEnv e = dist_env_from_environment();
  EXPECT_EQ(e.rank, 3);
  EXPECT_EQ(e.world_size, 4);
  EXPECT_EQ(e.local_rank, 3);  // defaults to RANK
  EXPECT_EQ(e.master_addr, "10.0.0.1");
  EXPECT_EQ(e.master_port, 29500);
  ScopedEnv env2({{"RANK", "5"}, {"LOCAL_RANK", "1"}, {"WORLD_SIZE", "8"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "1"}});
  EXPECT_EQ(dist_env_from_environment().local_rank, 1);
}

TEST(DistEnv, MalformedVariablesAreNamed) {
  {
    ScopedEnv env({{"RANK", "abc"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "x"}, {"MASTER_PORT", "1"}});
    EXPECT_NE(error_of([] { dist_env_from_environment(); }).find("RANK='abc' is not an integer"), std::string::npos);
  }
  {
    ScopedEnv env({{"RANK", "2"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "x"}, {"MASTER_PORT", "1"}});
    EXPECT_NE(error_of([] { dist_env_from_environment(); }).find("RANK=2 must be less than WORLD_SIZE=2"),
              std::string::npos);
  }
  {
    ScopedEnv env({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "x"}});
    EXPECT_NE(error_of([] { dist_env_from_environment(); }).find("MASTER_PORT is missing"), std::string::npos);
  }
  {
    ScopedEnv env({{"WORLD_SIZE", "2"}, {"MASTER_ADDR", "x"}, {"MASTER_PORT", "1"}});
    EXPECT_NE(error_of([] { dist_env_from_environment(); }).find("RANK is missing"), std::string::npos);
  }
  {
    ScopedEnv env({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "x"}, {"MASTER_PORT", "70000"}});
    EXPECT_NE(error_of([] { dist_env_from_environment(); }).find("MASTER_PORT=70000 is outside"), std::string::npos);
  }
  {
    ScopedEnv env({{"WORLD_SIZE", "0"}});
    EXPECT_NE(error_of([] { dist_env_from_environment(); }).find("WORLD_SIZE=0"), std::string::npos);
  }
  {
    ScopedEnv env({{"NANOCHAT_DIST_TIMEOUT_S", "soon"}});
    EXPECT_NE(error_of([] { dist_timeout_from_environment(); }).find("NANOCHAT_DIST_TIMEOUT_S='soon'"),
              std::string::npos);
  }
  {
    ScopedEnv env({{"NANOCHAT_DIST_TIMEOUT_S", "2.5"}});
    EXPECT_EQ(dist_timeout_from_environment(), 2500ms);
  }
  {
    ScopedEnv env({});
    EXPECT_FALSE(dist_timeout_from_environment().has_value());
  }
}

TEST(ProcessGroup, CollectivesAgreeBitwiseAcrossRanks) {
  constexpr int W = 4;
  const int port = free_port();
  const auto outcomes = run_ranks(all_ranks(W), [&](int rank) {
    ProcessGroup g(env_for(rank, W, port), 20s);
    if (g.rank() != rank || g.world_size() != W) return 10;
    // Summed in rank order, ((1e16 + 1) - 1e16) + 0.25 = 0.25; any other order would give 1.25.
    const double contrib[W] = {1e16, 1.0, -1e16, 0.25};
    for (int round = 0; round < 20; ++round) {
      std::vector<double> v{contrib[rank], static_cast<double>(rank), -static_cast<double>(rank) * round};
      g.all_reduce_sum(v);
      if (v != std::vector<double>{0.25, 6.0, -6.0 * round}) return 11;
      std::vector<int64_t> i{rank, int64_t{1} << 40, -rank};
      g.all_reduce_sum(i);
      if (i != std::vector<int64_t>{6, int64_t{4} << 40, -6}) return 12;
      std::vector<double> m{static_cast<double>(rank), -static_cast<double>(rank)};
      g.all_reduce_max(m);
      if (m != std::vector<double>{3.0, 0.0}) return 13;
      std::vector<int64_t> mi{(rank * 7) % W};
      g.all_reduce_max(mi);
      if (mi[0] != 3) return 14;
      g.barrier();
    }
    // Broadcast from every root, with embedded NULs; then a payload larger than socket buffers.
    for (int root = 0; root < W; ++root) {
      std::string s = g.rank() == root ? std::string("root\0", 5) + std::to_string(root) : "ignored";
      g.broadcast(s, root);
      if (s != std::string("root\0", 5) + std::to_string(root)) return 15;
    }
    std::string big;
    if (rank == 2)
      for (int k = 0; k < (4 << 20); ++k) big.push_back(static_cast<char>(k * 31 % 251));
    g.broadcast(big, 2);
    if (big.size() != size_t{4} << 20 || big[12345] != static_cast<char>(12345 * 31 % 251)) return 16;
    std::vector<double> large(200000, 0.5 * rank);
    g.all_reduce_sum(large);
    for (double x : large)
      if (x != 3.0) return 17;
    return 0;
  });
  for (int r = 0; r < W; ++r) EXPECT_EQ(outcomes[r].exit_code, 0) << "rank " << r << ": " << outcomes[r].error;
}

TEST(ProcessGroup, RanksThatDisagreeAllFailWithTheReason) {
  constexpr int W = 3;
  const int port = free_port();
  const auto outcomes = run_ranks(all_ranks(W), [&](int rank) {
    ProcessGroup g(env_for(rank, W, port), 20s);
    std::vector<double> v(rank == 1 ? 3 : 2, 1.0);
    g.all_reduce_sum(v);
    return 0;
  });
  for (int r = 0; r < W; ++r) {
    EXPECT_EQ(outcomes[r].exit_code, 3) << "rank " << r;
    EXPECT_NE(outcomes[r].error.find("ranks disagree: rank 1 passed 24 bytes to all_reduce_sum, rank 0 passed 16"),
              std::string::npos)
        << outcomes[r].error;
  }
}

TEST(ProcessGroup, DeadPeerIsAnErrorNotAHang) {
  constexpr int W = 3;
  const int port = free_port();
  const auto outcomes = run_ranks(all_ranks(W), [&](int rank) {
    ProcessGroup g(env_for(rank, W, port), 60s);
    if (rank == 2) ::_exit(0);  // joins, then vanishes without a word
    std::vector<int64_t> v{1};
    g.all_reduce_sum(v);
    return 0;
  });
  EXPECT_EQ(outcomes[0].exit_code, 3);
  EXPECT_NE(outcomes[0].error.find("rank 2 closed its connection during all_reduce_sum"), std::string::npos)
      << outcomes[0].error;
  EXPECT_EQ(outcomes[1].exit_code, 3);
  EXPECT_NE(outcomes[1].error.find("rank 2 closed its connection"), std::string::npos) << outcomes[1].error;
  for (const auto& o : outcomes) EXPECT_LT(o.seconds, 10.0);  // noticed at once, not after the 60 s timeout
}

TEST(ProcessGroup, StalledPeerTimesOut) {
  constexpr int W = 2;
  const int port = free_port();
  const auto outcomes = run_ranks(
      all_ranks(W),
      [&](int rank) {
        ProcessGroup g(env_for(rank, W, port), 20s, 500ms);  // setup may take long, a collective not
        if (rank == 1) std::this_thread::sleep_for(2s);  // alive but never joins the collective
        g.barrier();
        return 0;
      },
      20s);
  EXPECT_EQ(outcomes[0].exit_code, 3);
  EXPECT_NE(outcomes[0].error.find("timed out after 0.5 s waiting for rank 1 in barrier"), std::string::npos)
      << outcomes[0].error;
}

TEST(ProcessGroup, MissingPeersTimeOutAtSetup) {
  const int port = free_port();
  auto outcomes = run_ranks({0}, [&](int rank) {
    ProcessGroup g(env_for(rank, 3, port), 300ms);
    return 0;
  });
  EXPECT_EQ(outcomes[0].exit_code, 3);
  EXPECT_NE(outcomes[0].error.find("waiting for rank(s) 1, 2 to connect to MASTER_PORT="), std::string::npos)
      << outcomes[0].error;
  EXPECT_LT(outcomes[0].seconds, 5.0);

  outcomes = run_ranks({1}, [&](int rank) {
    ProcessGroup g(env_for(rank, 2, port), 300ms);
    return 0;
  });
  EXPECT_EQ(outcomes[0].exit_code, 3);
  EXPECT_NE(outcomes[0].error.find("rank 1: could not connect to rank 0 at MASTER_ADDR=127.0.0.1"), std::string::npos)
      << outcomes[0].error;
  EXPECT_LT(outcomes[0].seconds, 5.0);
}

TEST(ProcessGroup, BusyPortIsNamed) {
  int port = 0;
  const int fd = bound_socket(&port);
  ASSERT_EQ(::listen(fd, 1), 0);
  const std::string err = error_of([&] { ProcessGroup g(env_for(0, 2, port), 300ms); });
  ::close(fd);
  EXPECT_NE(err.find(fmt::format("cannot listen on MASTER_PORT={}", port)), std::string::npos) << err;
}

// A connection to the port that is not a rank (a scanner: silent, or sending garbage, or claiming an
// impossible rank) is dropped; the real ranks still form the group (it used to stall setup for the whole
// timeout and then fail, and an out-of-range rank wrote outside the peer table).
TEST(ProcessGroup, StrayConnectionsAreDropped) {
  const int port = free_port();
  const auto outcomes = run_ranks({0, 1}, [&](int rank) {
    std::vector<int> strays;
    if (rank == 1) {
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(static_cast<uint16_t>(port));
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      for (int k = 0; k < 3; ++k) {
        int fd = -1;
        for (int attempt = 0; attempt < 200 && fd < 0; ++attempt) {  // until rank 0 listens
          fd = ::socket(AF_INET, SOCK_STREAM, 0);
          if (::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
            ::close(fd);
            fd = -1;
            std::this_thread::sleep_for(10ms);
          }
        }
        if (fd < 0) return 9;
        if (k == 1) {
          const char junk[64] = "GET / HTTP/1.0\r\n\r\n";
          (void)::send(fd, junk, sizeof junk, MSG_NOSIGNAL);
        }
        strays.push_back(fd);  // k == 0 stays silent; k == 2 closes without a word
        if (k == 2) ::close(fd);
      }
    }
    ProcessGroup g(env_for(rank, 2, port), 20s);
    std::vector<int64_t> v{rank + 1};
    g.all_reduce_sum(v);
    for (size_t k = 0; k + 1 < strays.size(); ++k) ::close(strays[k]);
    return v[0] == 3 ? 0 : 1;
  });
  EXPECT_EQ(outcomes[0].exit_code, 0) << outcomes[0].error;
  EXPECT_EQ(outcomes[1].exit_code, 0) << outcomes[1].error;
  EXPECT_LT(outcomes[0].seconds, 15.0);
}

TEST(ProcessGroup, WorldSizeMismatchIsRefused) {
  const int port = free_port();
  const auto outcomes = run_ranks({0, 1}, [&](int rank) {
    ProcessGroup g(env_for(rank, rank == 0 ? 2 : 3, port), 5s);
    return 0;
  });
  EXPECT_EQ(outcomes[0].exit_code, 3);
  EXPECT_NE(outcomes[0].error.find("rank 1 says WORLD_SIZE=3, rank 0 has WORLD_SIZE=2"), std::string::npos)
      << outcomes[0].error;
  EXPECT_EQ(outcomes[1].exit_code, 3);
  EXPECT_NE(outcomes[1].error.find("rank 0 refused this rank"), std::string::npos) << outcomes[1].error;
}

// Ranks > 0 keep info quiet (rank 0 speaks for all); every rank's warnings carry its rank.
TEST(LogRank, OtherRanksKeepOnlyWarningsAndPrefixThem) {
  char path[] = "/tmp/nanochat_log_rank_XXXXXX";
  const int file = ::mkstemp(path);
  ASSERT_GE(file, 0);
  std::fflush(stderr);
  const int saved = ::dup(STDERR_FILENO);
  ::dup2(file, STDERR_FILENO);
  const LogLevel level = log_level();
  set_log_level(LogLevel::info);
  set_log_rank(1, 2);
  log_info("info from rank one");
  log_warn("warning from rank one");
  set_log_rank(0, 2);
  log_info("info from rank zero");
  set_log_rank(0, 1);
  log_info("info alone");
  set_log_level(level);
  std::fflush(stderr);
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  std::string text(4096, '\0');
  text.resize(static_cast<size_t>(std::max<ssize_t>(0, ::pread(file, text.data(), text.size(), 0))));
  ::close(file);
  ::unlink(path);
  EXPECT_EQ(text.find("info from rank one"), std::string::npos) << text;
  EXPECT_NE(text.find("[rank 1] warning from rank one"), std::string::npos) << text;
  EXPECT_NE(text.find("[rank 0] info from rank zero"), std::string::npos) << text;
  EXPECT_NE(text.find("INFO  info alone"), std::string::npos) << text;
}

}  // namespace
}  // namespace nanochat
