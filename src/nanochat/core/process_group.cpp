#include "nanochat/core/process_group.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "nanochat/core/error.h"
#include "nanochat/core/log.h"

namespace nanochat {

// ---------------------------------------------------------------------------------------------------
// Environment

namespace {

std::optional<std::string> env_value(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

int parse_env_int(const char* name, const std::string& text, int lo, int hi) {
  int value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size())
    fail("environment variable {}='{}' is not an integer", name, text);
  if (value < lo || value > hi) fail("environment variable {}={} is outside [{}, {}]", name, value, lo, hi);
  return value;
}

}  // namespace

DistEnv dist_env_from_environment() {
  DistEnv env;
  const auto world = env_value("WORLD_SIZE");
  const auto rank = env_value("RANK");
  if (world) env.world_size = parse_env_int("WORLD_SIZE", *world, 1, 1 << 20);
  if (rank) {
    env.rank = parse_env_int("RANK", *rank, 0, 1 << 20);
  } else if (env.world_size > 1) {
    fail("environment variable RANK is missing (WORLD_SIZE={}); launch with 'nanochat launch' or torchrun",
         env.world_size);
  }
  if (env.rank >= env.world_size)
    fail("environment variable RANK={} must be less than WORLD_SIZE={}", env.rank, env.world_size);
  const auto local = env_value("LOCAL_RANK");
  env.local_rank = local ? parse_env_int("LOCAL_RANK", *local, 0, 1 << 20) : env.rank;
  if (env.world_size > 1) {
    const auto addr = env_value("MASTER_ADDR");
    const auto port = env_value("MASTER_PORT");
    if (!addr) fail("environment variable MASTER_ADDR is missing (WORLD_SIZE={})", env.world_size);
    if (!port) fail("environment variable MASTER_PORT is missing (WORLD_SIZE={})", env.world_size);
    env.master_addr = *addr;
    env.master_port = parse_env_int("MASTER_PORT", *port, 1, 65535);
  }
  return env;
}

std::optional<std::chrono::milliseconds> dist_timeout_from_environment() {
  const auto text = env_value("NANOCHAT_DIST_TIMEOUT_S");
  if (!text) return std::nullopt;
  char* end = nullptr;
  const double seconds = std::strtod(text->c_str(), &end);
  if (end != text->c_str() + text->size() || !(seconds > 0) || seconds > 1e7)
    fail("environment variable NANOCHAT_DIST_TIMEOUT_S='{}' is not a positive number of seconds", *text);
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000.0 + 0.5));
}

// ---------------------------------------------------------------------------------------------------
// Framing and deadline-bounded socket I/O

namespace {

using Clock = std::chrono::steady_clock;

constexpr uint32_t kMagic = 0x4E435047;  // "NCPG"
constexpr uint64_t kMaxPayload = uint64_t{1} << 34;

// Every message: this header, then `length` payload bytes. status != 0 marks an error report whose
// payload is the message.
struct Header {
  uint32_t magic = kMagic;
  uint32_t op = 0;
  uint32_t arg = 0;  // hello: the sender's rank; broadcast: the root
  uint32_t status = 0;  // hello: the sender's world size; replies: 0 ok, 1 error
  uint64_t length = 0;
};
static_assert(sizeof(Header) == 24);

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = o.fd_;
      o.fd_ = -1;
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<int64_t>(left, 0, 1 << 30));
}

std::string seconds_text(std::chrono::milliseconds t) { return fmt::format("{:g} s", static_cast<double>(t.count()) / 1000.0); }

void set_socket_options(int fd) {
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// Sends all of `data`, waiting for buffer space until the deadline. `who` names the peer in errors.
void send_all(int fd, const void* data, size_t size, Clock::time_point deadline, const std::string& who,
              std::chrono::milliseconds timeout) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::send(fd, p, size, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      p += n;
      size -= static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
      fail("lost the connection to {} ({}): it exited or failed; see its output", who, std::strerror(errno));
    pollfd pfd{fd, POLLOUT, 0};
    const int r = ::poll(&pfd, 1, remaining_ms(deadline));
    if (r == 0)
      fail("timed out after {} sending to {} (NANOCHAT_DIST_TIMEOUT_S)", seconds_text(timeout), who);
    if (r < 0 && errno != EINTR) fail("poll while sending to {}: {}", who, std::strerror(errno));
  }
}

void send_frame(int fd, const Header& h, std::string_view payload, Clock::time_point deadline, const std::string& who,
                std::chrono::milliseconds timeout) {
  std::string buf(sizeof(Header) + payload.size(), '\0');
  std::memcpy(buf.data(), &h, sizeof h);
  std::memcpy(buf.data() + sizeof h, payload.data(), payload.size());
  send_all(fd, buf.data(), buf.size(), deadline, who, timeout);
}

struct Frame {
  Header header;
  std::string payload;
};

// Receives one frame from each of `fds` (concurrently, so that a peer which dies is noticed while
// others are still computing). names[i] names fds[i] in errors.
std::vector<Frame> recv_frames(const std::vector<int>& fds, const std::vector<std::string>& names,
                               Clock::time_point deadline, std::chrono::milliseconds timeout, std::string_view what) {
  struct State {
    Frame frame;
    size_t got = 0;  // bytes of header, then of payload
    bool header_done = false, done = false;
  };
  std::vector<State> st(fds.size());
  size_t pending = fds.size();
  while (pending > 0) {
    std::vector<pollfd> pfds;
    std::vector<size_t> which;
    for (size_t i = 0; i < fds.size(); ++i)
      if (!st[i].done) {
        pfds.push_back({fds[i], POLLIN, 0});
        which.push_back(i);
      }
    const int r = ::poll(pfds.data(), pfds.size(), remaining_ms(deadline));
    if (r < 0) {
      if (errno == EINTR) continue;
      fail("poll while waiting for {}: {}", names[which[0]], std::strerror(errno));
    }
    if (r == 0) {
      std::string late;
      for (size_t i : which) late += (late.empty() ? "" : ", ") + names[i];
      fail("timed out after {} waiting for {} in {} (NANOCHAT_DIST_TIMEOUT_S)", seconds_text(timeout), late, what);
    }
    for (size_t k = 0; k < pfds.size(); ++k) {
      if (pfds[k].revents == 0) continue;
      State& s = st[which[k]];
      const std::string& who = names[which[k]];
      char* dst = s.header_done ? s.frame.payload.data() + s.got : reinterpret_cast<char*>(&s.frame.header) + s.got;
      const size_t want = (s.header_done ? s.frame.payload.size() : sizeof(Header)) - s.got;
      const ssize_t n = ::recv(fds[which[k]], dst, want, MSG_DONTWAIT);
      if (n == 0) fail("{} closed its connection during {}: it exited or failed; see its output", who, what);
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
        fail("lost the connection to {} during {} ({}): it exited or failed; see its output", who, what,
             std::strerror(errno));
      }
      s.got += static_cast<size_t>(n);
      if (!s.header_done && s.got == sizeof(Header)) {
        const Header& h = s.frame.header;
        if (h.magic != kMagic) fail("{} sent a malformed message during {} (not a nanochat process group peer?)", who, what);
        if (h.length > kMaxPayload) fail("{} announced a message of {} bytes during {}", who, h.length, what);
        s.frame.payload.resize(static_cast<size_t>(h.length));
        s.header_done = true;
        s.got = 0;
      }
      if (s.header_done && s.got == s.frame.payload.size()) {
        s.done = true;
        --pending;
      }
    }
  }
  std::vector<Frame> out;
  for (auto& s : st) out.push_back(std::move(s.frame));
  return out;
}

// Resolves MASTER_ADDR:MASTER_PORT for connecting.
struct AddrList {
  addrinfo* head = nullptr;
  ~AddrList() {
    if (head) ::freeaddrinfo(head);
  }
};

void resolve(const DistEnv& env, AddrList& out, int flags) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = flags;
  const std::string port = std::to_string(env.master_port);
  const int rc = ::getaddrinfo(env.master_addr.c_str(), port.c_str(), &hints, &out.head);
  if (rc != 0 || out.head == nullptr)
    fail("cannot resolve MASTER_ADDR={} (port {}): {}", env.master_addr, env.master_port, ::gai_strerror(rc));
}

bool is_loopback(const addrinfo* ai) {
  if (ai->ai_family == AF_INET)
    return (ntohl(reinterpret_cast<const sockaddr_in*>(ai->ai_addr)->sin_addr.s_addr) >> 24) == 127;
  if (ai->ai_family == AF_INET6)
    return IN6_IS_ADDR_LOOPBACK(&reinterpret_cast<const sockaddr_in6*>(ai->ai_addr)->sin6_addr);
  return false;
}

// Rank 0's listening socket. A loopback MASTER_ADDR (what `nanochat launch` sets) binds loopback only, so
// nothing off the machine can reach the port; otherwise the wildcard address of MASTER_ADDR's family, so
// peers reach it however they route to MASTER_ADDR.
Fd listen_on(const DistEnv& env) {
  AddrList addrs;
  resolve(env, addrs, 0);
  const int family = addrs.head->ai_family;
  const bool loopback = is_loopback(addrs.head);
  Fd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) fail("rank 0: cannot create a socket: {}", std::strerror(errno));
  const int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int rc = 0;
  if (family == AF_INET6) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = loopback ? in6addr_loopback : in6addr_any;
    a.sin6_port = htons(static_cast<uint16_t>(env.master_port));
    rc = ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a);
  } else {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(loopback ? INADDR_LOOPBACK : INADDR_ANY);
    a.sin_port = htons(static_cast<uint16_t>(env.master_port));
    rc = ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a);
  }
  if (rc != 0)
    fail("rank 0: cannot listen on MASTER_PORT={}: {} (is another job using it?)", env.master_port,
         std::strerror(errno));
  if (::listen(fd.get(), 128) != 0)
    fail("rank 0: cannot listen on MASTER_PORT={}: {}", env.master_port, std::strerror(errno));
  return fd;
}

// One non-blocking connect attempt, bounded by the deadline; an invalid Fd (and errno) on failure.
Fd try_connect(const addrinfo* ai, Clock::time_point deadline) {
  Fd fd(::socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) return Fd();
  if (::connect(fd.get(), ai->ai_addr, ai->ai_addrlen) == 0) return fd;
  if (errno != EINPROGRESS) return Fd();
  pollfd pfd{fd.get(), POLLOUT, 0};
  // Retry at least once a second, so that an unanswered SYN does not eat the whole timeout.
  const int r = ::poll(&pfd, 1, std::min(remaining_ms(deadline), 1000));
  if (r <= 0) {
    errno = ETIMEDOUT;
    return Fd();
  }
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    errno = err;
    return Fd();
  }
  return fd;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// The group

enum class ProcessGroup::Op : uint32_t { hello = 1, sum_f64, sum_i64, max_f64, max_i64, barrier, broadcast };

namespace {
const char* op_name(uint32_t op) {
  switch (op) {
    case 1: return "connection setup";
    case 2: case 3: return "all_reduce_sum";
    case 4: case 5: return "all_reduce_max";
    case 6: return "barrier";
    case 7: return "broadcast";
    default: return "an unknown collective";
  }
}
}  // namespace

struct ProcessGroup::Links {
  std::vector<Fd> peers;  // rank 0: peers[r] for r >= 1 (peers[0] unused); others: peers[0] = rank 0
};

ProcessGroup::ProcessGroup() = default;
ProcessGroup::~ProcessGroup() = default;
ProcessGroup::ProcessGroup(ProcessGroup&&) noexcept = default;
ProcessGroup& ProcessGroup::operator=(ProcessGroup&&) noexcept = default;

ProcessGroup ProcessGroup::from_environment() {
  const DistEnv env = dist_env_from_environment();
  if (env.world_size == 1) {
    ProcessGroup g;
    g.local_rank_ = env.local_rank;
    return g;
  }
  const auto timeout = dist_timeout_from_environment();
  return ProcessGroup(env, timeout.value_or(std::chrono::seconds(300)), timeout.value_or(std::chrono::seconds(1800)));
}

ProcessGroup::ProcessGroup(const DistEnv& env, std::chrono::milliseconds timeout,
                           std::optional<std::chrono::milliseconds> collective_timeout)
    : rank_(env.rank), world_size_(env.world_size), local_rank_(env.local_rank), timeout_(timeout) {
  NC_CHECK(world_size_ >= 1 && rank_ >= 0 && rank_ < world_size_, "process group: rank {} of world size {}", rank_,
           world_size_);
  links_ = std::make_unique<Links>();
  if (world_size_ == 1) return;
  const auto deadline = Clock::now() + timeout_;
  const auto hello_op = static_cast<uint32_t>(Op::hello);

  if (rank_ == 0) {
    links_->peers.resize(static_cast<size_t>(world_size_));
    Fd listener = listen_on(env);
    int joined = 0;
    while (joined < world_size_ - 1) {
      pollfd pfd{listener.get(), POLLIN, 0};
      const int r = ::poll(&pfd, 1, remaining_ms(deadline));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        std::string missing;
        for (int k = 1; k < world_size_; ++k)
          if (links_->peers[static_cast<size_t>(k)].get() < 0) missing += (missing.empty() ? "" : ", ") + std::to_string(k);
        fail("rank 0: timed out after {} waiting for rank(s) {} to connect to MASTER_PORT={} (NANOCHAT_DIST_TIMEOUT_S)",
             seconds_text(timeout_), missing, env.master_port);
      }
      Fd conn(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
      if (conn.get() < 0) continue;
      set_socket_options(conn.get());
      // Something else may connect to the port (a scanner, a health check): a connection that does not
      // greet as a rank within a few seconds, or greets with garbage, is dropped, not fatal.
      constexpr auto kGreetingTimeout = std::chrono::seconds(5);
      const auto greet_deadline = std::min(deadline, Clock::now() + kGreetingTimeout);
      Frame hello;
      try {
        hello = recv_frames({conn.get()}, {"a connecting rank"}, greet_deadline,
                            std::chrono::duration_cast<std::chrono::milliseconds>(kGreetingTimeout), "connection setup")[0];
      } catch (const Error& e) {
        log_warn("rank 0: dropped a connection to MASTER_PORT={} that did not greet as a rank ({})", env.master_port,
                 e.what());
        continue;
      }
      const Header& h = hello.header;
      if (h.op != hello_op || h.arg == 0 || h.arg >= static_cast<uint32_t>(world_size_)) {
        log_warn("rank 0: dropped a connection to MASTER_PORT={} that greeted with {} and RANK={} (WORLD_SIZE={})",
                 env.master_port, op_name(h.op), h.arg, world_size_);
        continue;
      }
      auto refuse = [&](const std::string& why) {
        Header e;
        e.op = hello_op;
        e.status = 1;
        e.length = why.size();
        try {
          send_frame(conn.get(), e, why, deadline, "a connecting rank", timeout_);
        } catch (const Error&) {
        }
        fail("rank 0: {}", why);
      };
      if (static_cast<int>(h.status) != world_size_)
        refuse(fmt::format("rank {} says WORLD_SIZE={}, rank 0 has WORLD_SIZE={}", h.arg, h.status, world_size_));
      auto& slot = links_->peers[h.arg];
      if (slot.get() >= 0) refuse(fmt::format("two processes claim RANK={}", h.arg));
      slot = std::move(conn);
      ++joined;
    }
    Header ok;
    ok.op = hello_op;
    for (int k = 1; k < world_size_; ++k)
      send_frame(links_->peers[static_cast<size_t>(k)].get(), ok, {}, deadline, fmt::format("rank {}", k), timeout_);
    timeout_ = collective_timeout.value_or(timeout_);
    return;
  }

  AddrList addrs;
  resolve(env, addrs, 0);
  Fd conn;
  int last_errno = 0;
  auto backoff = std::chrono::milliseconds(20);
  while (conn.get() < 0) {
    for (const addrinfo* ai = addrs.head; ai != nullptr && conn.get() < 0; ai = ai->ai_next) {
      conn = try_connect(ai, deadline);
      if (conn.get() < 0) last_errno = errno;
    }
    if (conn.get() >= 0) break;
    if (Clock::now() >= deadline)
      fail("rank {}: could not connect to rank 0 at MASTER_ADDR={} MASTER_PORT={} within {} ({}; NANOCHAT_DIST_TIMEOUT_S)",
           rank_, env.master_addr, env.master_port, seconds_text(timeout_), std::strerror(last_errno));
    std::this_thread::sleep_for(std::min(backoff, std::chrono::milliseconds(remaining_ms(deadline))));
    backoff = std::min(backoff * 2, std::chrono::milliseconds(500));
  }
  set_socket_options(conn.get());
  Header hello;
  hello.op = hello_op;
  hello.arg = static_cast<uint32_t>(rank_);
  hello.status = static_cast<uint32_t>(world_size_);
  send_frame(conn.get(), hello, {}, deadline, "rank 0", timeout_);
  const Frame reply = recv_frames({conn.get()}, {"rank 0"}, deadline, timeout_, "connection setup")[0];
  if (reply.header.status != 0) fail("rank {}: rank 0 refused this rank: {}", rank_, reply.payload);
  links_->peers.push_back(std::move(conn));
  timeout_ = collective_timeout.value_or(timeout_);
}

namespace {

template <class T>
std::vector<T> decode_values(const std::string& bytes) {
  std::vector<T> v(bytes.size() / sizeof(T));
  if (!v.empty()) std::memcpy(v.data(), bytes.data(), v.size() * sizeof(T));
  return v;
}

template <class T>
std::string encode_values(const std::vector<T>& v) {
  std::string bytes(v.size() * sizeof(T), '\0');
  if (!v.empty()) std::memcpy(bytes.data(), v.data(), bytes.size());
  return bytes;
}

// Rank 0's reduction of every rank's payload (index = rank), in rank order.
template <class T>
std::string reduce_in_rank_order(const std::vector<std::string>& payloads, bool is_max) {
  std::vector<T> acc = decode_values<T>(payloads[0]);
  for (size_t r = 1; r < payloads.size(); ++r) {
    const std::vector<T> v = decode_values<T>(payloads[r]);
    for (size_t i = 0; i < acc.size(); ++i) acc[i] = is_max ? std::max(acc[i], v[i]) : acc[i] + v[i];
  }
  return encode_values(acc);
}

}  // namespace

void ProcessGroup::exchange(Op op, std::string& payload, uint32_t arg) {
  if (world_size_ == 1) return;
  const auto deadline = Clock::now() + timeout_;
  const auto op_code = static_cast<uint32_t>(op);
  const char* what = op_name(op_code);

  if (rank_ != 0) {
    Header h;
    h.op = op_code;
    h.arg = arg;
    h.length = payload.size();
    try {
      send_frame(links_->peers[0].get(), h, payload, deadline, "rank 0", timeout_);
      Frame reply = recv_frames({links_->peers[0].get()}, {"rank 0"}, deadline, timeout_, what)[0];
      if (reply.header.status != 0) fail("{}", reply.payload);
      payload = std::move(reply.payload);
    } catch (const Error& e) {
      fail("rank {}: {}", rank_, e.what());
    }
    return;
  }

  std::vector<int> fds;
  std::vector<std::string> names;
  for (int k = 1; k < world_size_; ++k) {
    fds.push_back(links_->peers[static_cast<size_t>(k)].get());
    names.push_back(fmt::format("rank {}", k));
  }
  // Any failure here is told to every peer before rank 0 throws, so all ranks report the cause.
  auto abort_all = [&](const std::string& why) {
    Header e;
    e.op = op_code;
    e.status = 1;
    e.length = why.size();
    const auto soon = Clock::now() + std::chrono::seconds(5);
    for (size_t i = 0; i < fds.size(); ++i) {
      try {
        send_frame(fds[i], e, why, soon, names[i], timeout_);
      } catch (const Error&) {
      }
    }
    fail("{}", why);
  };
  std::vector<Frame> frames;
  try {
    frames = recv_frames(fds, names, deadline, timeout_, what);
  } catch (const Error& e) {
    abort_all(fmt::format("rank 0: {}", e.what()));
  }
  std::vector<std::string> payloads{payload};
  for (size_t i = 0; i < frames.size(); ++i) {
    const Header& h = frames[i].header;
    if (h.op != op_code)
      abort_all(fmt::format("ranks disagree: {} called {} while rank 0 called {}", names[i], op_name(h.op), what));
    if (op != Op::broadcast && h.length != payload.size())
      abort_all(fmt::format("ranks disagree: {} passed {} bytes to {}, rank 0 passed {}", names[i], h.length, what,
                            payload.size()));
    if (h.arg != arg)
      abort_all(fmt::format("ranks disagree on the broadcast root: {} says {}, rank 0 says {}", names[i], h.arg, arg));
    payloads.push_back(std::move(frames[i].payload));
  }
  std::string result;
  switch (op) {
    case Op::sum_f64: result = reduce_in_rank_order<double>(payloads, false); break;
    case Op::sum_i64: result = reduce_in_rank_order<int64_t>(payloads, false); break;
    case Op::max_f64: result = reduce_in_rank_order<double>(payloads, true); break;
    case Op::max_i64: result = reduce_in_rank_order<int64_t>(payloads, true); break;
    case Op::broadcast: result = payloads[arg]; break;
    default: break;
  }
  Header reply;
  reply.op = op_code;
  reply.length = result.size();
  try {
    for (size_t i = 0; i < fds.size(); ++i) send_frame(fds[i], reply, result, deadline, names[i], timeout_);
  } catch (const Error& e) {
    abort_all(fmt::format("rank 0: {}", e.what()));
  }
  payload = std::move(result);
}

void ProcessGroup::all_reduce_sum(std::vector<double>& values) {
  std::string bytes = encode_values(values);
  exchange(Op::sum_f64, bytes);
  values = decode_values<double>(bytes);
}
void ProcessGroup::all_reduce_sum(std::vector<int64_t>& values) {
  std::string bytes = encode_values(values);
  exchange(Op::sum_i64, bytes);
  values = decode_values<int64_t>(bytes);
}
void ProcessGroup::all_reduce_max(std::vector<double>& values) {
  std::string bytes = encode_values(values);
  exchange(Op::max_f64, bytes);
  values = decode_values<double>(bytes);
}
void ProcessGroup::all_reduce_max(std::vector<int64_t>& values) {
  std::string bytes = encode_values(values);
  exchange(Op::max_i64, bytes);
  values = decode_values<int64_t>(bytes);
}
void ProcessGroup::barrier() {
  std::string none;
  exchange(Op::barrier, none);
}
void ProcessGroup::broadcast(std::string& bytes, int root) {
  NC_CHECK(root >= 0 && root < world_size_, "broadcast: root {} outside world size {}", root, world_size_);
  if (world_size_ == 1) return;
  if (rank_ != root) bytes.clear();
  exchange(Op::broadcast, bytes, static_cast<uint32_t>(root));
}

}  // namespace nanochat
