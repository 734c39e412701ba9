#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "nanochat/core/error.h"
#include "nanochat/core/file_io.h"
#include "nanochat/data/downloader.h"
#include "test_support.h"

using namespace nanochat;
namespace fs = std::filesystem;

namespace {

// A loopback HTTP server serving in-memory files with Range support and scripted faults.
class FaultyServer {
 public:
  enum class Fault { none, drop_midway, http_500, slow };

  FaultyServer() {
    server_.Get(R"(/(.+))", [this](const httplib::Request& req, httplib::Response& res) { handle(req, res); });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FaultyServer() {
    server_.stop();
    thread_.join();
  }
  void add(const std::string& name, std::string body) { files_[name] = std::move(body); }
  // The next `times` requests for `name` suffer `fault`.
  void inject(const std::string& name, Fault fault, int times) {
    std::lock_guard<std::mutex> lock(mutex_);
    faults_[name] = {fault, times};
  }
  std::string url(const std::string& name) const { return "http://127.0.0.1:" + std::to_string(port_) + "/" + name; }
  int requests(const std::string& name) {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_[name];
  }
  std::vector<std::string> ranges(const std::string& name) {
    std::lock_guard<std::mutex> lock(mutex_);
    return ranges_[name];
  }

 private:
  void handle(const httplib::Request& req, httplib::Response& res) {
    const std::string name = req.matches[1];
    Fault fault = Fault::none;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++requests_[name];
      ranges_[name].push_back(req.has_header("Range") ? req.get_header_value("Range") : "");
      auto it = faults_.find(name);
      if (it != faults_.end() && it->second.second > 0) {
        fault = it->second.first;
        --it->second.second;
      }
    }
    const auto f = files_.find(name);
    if (f == files_.end()) {
      res.status = 404;
      return;
    }
    if (fault == Fault::http_500) {
      res.status = 500;
      return;
    }
    // httplib applies a Range request itself (it answers 206 with the right slice).
    if (req.has_header("Range")) {
      const size_t start = std::stoull(req.get_header_value("Range").substr(6));  // "bytes=N-"
      if (start >= f->second.size()) {
        res.status = 416;
        return;
      }
    }
    auto body = std::make_shared<std::string>(f->second);
    res.set_content_provider(body->size(), "application/octet-stream",
                             [body, fault](size_t offset, size_t length, httplib::DataSink& sink) {
                               if (fault == Fault::drop_midway && offset >= body->size() / 2) return false;
                               if (fault == Fault::slow) {
                                 std::this_thread::sleep_for(std::chrono::milliseconds(300));
                                 sink.write(body->data() + offset, std::min<size_t>(length, 16));
                                 return true;
                               }
                               size_t n = std::min<size_t>(length, 4096);
                               if (fault == Fault::drop_midway) n = std::min(n, body->size() / 2 - offset);
                               sink.write(body->data() + offset, n);
                               return true;
                             });
  }

  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::map<std::string, std::string> files_;
  std::mutex mutex_;
  std::map<std::string, std::pair<Fault, int>> faults_;
  std::map<std::string, int> requests_;
  std::map<std::string, std::vector<std::string>> ranges_;
};

// A one-shot HTTP/1.0 server on loopback that answers its first request with 200 and the whole body,
// ignoring any Range header (as some servers and proxies do). httplib cannot play this role: it always
// honours Range.
class RangeIgnoringServer {
 public:
  explicit RangeIgnoringServer(std::string body) : body_(std::move(body)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 1);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      char buf[4096];
      std::string req;
      while (req.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        req.append(buf, static_cast<size_t>(n));
      }
      saw_range_ = req.find("Range: bytes=") != std::string::npos;
      const std::string head = "HTTP/1.0 200 OK\r\nContent-Length: " + std::to_string(body_.size()) + "\r\n\r\n";
      ::send(c, head.data(), head.size(), MSG_NOSIGNAL);
      ::send(c, body_.data(), body_.size(), MSG_NOSIGNAL);
      ::close(c);
    });
  }
  ~RangeIgnoringServer() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/f"; }
  bool saw_range() const { return saw_range_; }

 private:
  std::string body_;
  int fd_ = -1, port_ = 0;
  std::atomic<bool> saw_range_{false};
  std::thread thread_;
};

std::string random_bytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xFF);
  return s;
}

DownloadOptions fast_options() {
  DownloadOptions o;
  o.backoff_seconds = 0.01;
  o.stall_timeout_seconds = 1;
  o.show_progress = false;
  return o;
}

bool no_temporaries(const fs::path& dir) {
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".tmp") return false;
  return true;
}

}  // namespace

TEST(Downloader, DownloadsInParallelAndSkipsExisting) {
  FaultyServer server;
  test::TempDir dir;
  std::vector<DownloadJob> jobs;
  for (int i = 0; i < 6; ++i) {
    const std::string name = "shard_" + std::to_string(i);
    server.add(name, random_bytes(100000 + static_cast<size_t>(i), static_cast<unsigned>(i)));
    jobs.push_back({server.url(name), dir.path() / name});
  }
  auto report = download_files(jobs, fast_options());
  EXPECT_EQ(report.downloaded, 6u);
  EXPECT_EQ(report.failed, 0u);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(read_file(jobs[static_cast<size_t>(i)].dest), random_bytes(100000 + static_cast<size_t>(i), static_cast<unsigned>(i)));
  }
  report = download_files(jobs, fast_options());
  EXPECT_EQ(report.skipped, 6u);
  EXPECT_EQ(server.requests("shard_0"), 1);  // not fetched again
  EXPECT_TRUE(no_temporaries(dir.path()));
}

TEST(Downloader, ResumesAfterDroppedConnectionWithRange) {
  FaultyServer server;
  test::TempDir dir;
  const std::string body = random_bytes(300000, 11);
  server.add("f", body);
  server.inject("f", FaultyServer::Fault::drop_midway, 1);
  const auto report = download_files({{server.url("f"), dir.path() / "f"}}, fast_options());
  ASSERT_EQ(report.downloaded, 1u) << (report.errors.empty() ? "" : report.errors[0]);
  const std::string got = read_file(dir.path() / "f");
  ASSERT_EQ(got.size(), body.size());
  EXPECT_TRUE(got == body) << "content differs";
  const auto ranges = server.ranges("f");
  ASSERT_EQ(ranges.size(), 2u);
  EXPECT_EQ(ranges[0], "");
  EXPECT_EQ(ranges[1], "bytes=" + std::to_string(body.size() / 2) + "-");  // resumed, not restarted
}

TEST(Downloader, RestartsWhenServerIgnoresRange) {
  FaultyServer server;
  test::TempDir dir;
  const std::string body = random_bytes(200000, 12);
  server.add("f", body);
  const auto o = fast_options();
  server.inject("f", FaultyServer::Fault::drop_midway, 1);
  const auto r1 = fetch_once(server.url("f"), dir.path() / "f.tmp", o);
  EXPECT_FALSE(r1.ok);
  EXPECT_EQ(fs::file_size(dir.path() / "f.tmp"), body.size() / 2);
  RangeIgnoringServer plain(body);
  const auto r2 = fetch_once(plain.url(), dir.path() / "f.tmp", o);
  EXPECT_TRUE(plain.saw_range());
  EXPECT_TRUE(r2.ok) << r2.error;
  const std::string got = read_file(dir.path() / "f.tmp");
  ASSERT_EQ(got.size(), body.size());  // truncated and rewritten, not appended
  EXPECT_TRUE(got == body) << "content differs";
}

TEST(Downloader, RetriesServerErrorsAndFailsFastOn404) {
  FaultyServer server;
  test::TempDir dir;
  server.add("ok", "payload");
  server.inject("ok", FaultyServer::Fault::http_500, 2);
  auto report = download_files({{server.url("ok"), dir.path() / "ok"}, {server.url("missing"), dir.path() / "missing"}},
                               fast_options());
  EXPECT_EQ(report.downloaded, 1u);
  EXPECT_EQ(report.failed, 1u);
  EXPECT_EQ(server.requests("ok"), 3);
  EXPECT_EQ(server.requests("missing"), 1);  // a 404 is not retried
  ASSERT_EQ(report.errors.size(), 1u);
  EXPECT_NE(report.errors[0].find("404"), std::string::npos) << report.errors[0];
  EXPECT_FALSE(fs::exists(dir.path() / "missing"));
  EXPECT_TRUE(no_temporaries(dir.path()));
}

TEST(Downloader, StalledServerTimesOutAndLeavesNothingUnderTheFinalName) {
  FaultyServer server;
  test::TempDir dir;
  server.add("slow", random_bytes(100000, 3));
  server.inject("slow", FaultyServer::Fault::slow, 100);
  auto o = fast_options();
  o.attempts = 2;
  const auto t0 = std::chrono::steady_clock::now();
  const auto report = download_files({{server.url("slow"), dir.path() / "slow"}}, o);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(report.failed, 1u);
  EXPECT_FALSE(fs::exists(dir.path() / "slow"));
  EXPECT_LT(secs, 20.0);
}

TEST(Downloader, VerificationFailureDiscardsTheFile) {
  FaultyServer server;
  test::TempDir dir;
  server.add("bad", "not a parquet file");
  auto o = fast_options();
  o.attempts = 2;
  o.verify = [](const fs::path& p) { fail("{}: bad magic", p.string()); };
  const auto report = download_files({{server.url("bad"), dir.path() / "bad"}}, o);
  EXPECT_EQ(report.failed, 1u);
  ASSERT_EQ(report.errors.size(), 1u);
  EXPECT_NE(report.errors[0].find("failed verification"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir.path() / "bad"));
  EXPECT_TRUE(no_temporaries(dir.path()));
}

TEST(Downloader, ConcurrentDownloadersFetchEachFileOnce) {
  FaultyServer server;
  test::TempDir dir;
  std::vector<DownloadJob> jobs;
  for (int i = 0; i < 4; ++i) {
    server.add("s" + std::to_string(i), random_bytes(200000, static_cast<unsigned>(i)));
    jobs.push_back({server.url("s" + std::to_string(i)), dir.path() / ("s" + std::to_string(i))});
  }
  std::vector<std::thread> ranks;
  std::atomic<size_t> downloaded{0}, skipped{0};
  for (int r = 0; r < 3; ++r) {
    ranks.emplace_back([&] {
      const auto rep = download_files(jobs, fast_options());
      downloaded += rep.downloaded;
      skipped += rep.skipped;
    });
  }
  for (auto& t : ranks) t.join();
  EXPECT_EQ(downloaded.load(), 4u);
  EXPECT_EQ(skipped.load(), 8u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(server.requests("s" + std::to_string(i)), 1);
}
