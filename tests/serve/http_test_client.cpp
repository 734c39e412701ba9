#include "http_test_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <cstring>

namespace nanochat::test {

namespace {

int connect_local(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

// Reads what is available within the deadline; false at EOF/error/timeout.
bool read_some(int fd, std::string& out, std::chrono::steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0) return false;
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
  char buf[16384];
  const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
  if (n <= 0) return false;
  out.append(buf, static_cast<size_t>(n));
  return true;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string build_request(const std::string& method, const std::string& path, const std::string& body,
                          const HeaderList& headers) {
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  bool has_type = false;
  for (const auto& [k, v] : headers) {
    req += k + ": " + v + "\r\n";
    if (lower(k) == "content-type") has_type = true;
  }
  if (!body.empty() && !has_type) req += "Content-Type: application/json\r\n";
  if (!body.empty() || method == "POST") req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  return req + "\r\n" + body;
}

// True once `raw` holds a whole response: its Content-Length body, or the last chunk of a chunked one.
bool response_complete(const std::string& raw) {
  const size_t head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos) return false;
  const std::string head = lower(raw.substr(0, head_end));
  const size_t cl = head.find("\r\ncontent-length:");
  if (cl != std::string::npos) return raw.size() - head_end - 4 >= std::strtoull(head.c_str() + cl + 17, nullptr, 10);
  if (head.find("\r\ntransfer-encoding: chunked") != std::string::npos) return raw.ends_with("\r\n0\r\n\r\n");
  return false;  // read until the server closes
}

}  // namespace

std::string raw_exchange(int port, const std::string& bytes, int timeout_ms) {
  const int fd = connect_local(port);
  if (fd < 0) return {};
  std::string out;
  // Even when sending fails (the server refused a huge body early), read what it answered.
  send_all(fd, bytes);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!response_complete(out) && read_some(fd, out, deadline)) {
  }
  ::close(fd);
  return out;
}

HttpResponse parse_http_response(const std::string& raw) {
  HttpResponse r;
  const size_t head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos || raw.compare(0, 9, "HTTP/1.1 ") != 0) return r;
  r.status = std::atoi(raw.c_str() + 9);
  size_t pos = raw.find("\r\n") + 2;
  while (pos < head_end) {
    const size_t eol = raw.find("\r\n", pos);
    const std::string line = raw.substr(pos, eol - pos);
    const size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      r.headers[lower(line.substr(0, colon))] = value;
    }
    pos = eol + 2;
  }
  const std::string payload = raw.substr(head_end + 4);
  if (lower(r.header("transfer-encoding")) != "chunked") {
    r.body = payload;
    if (!r.header("content-length").empty())
      r.framing_ok = payload.size() == static_cast<size_t>(std::atoll(r.header("content-length").c_str()));
    return r;
  }
  size_t p = 0;
  r.framing_ok = false;
  while (p < payload.size()) {
    const size_t eol = payload.find("\r\n", p);
    if (eol == std::string::npos) break;
    const size_t len = std::strtoul(payload.substr(p, eol - p).c_str(), nullptr, 16);
    if (len == 0) {
      r.framing_ok = payload.compare(eol, 4, "\r\n\r\n") == 0;
      break;
    }
    if (eol + 2 + len + 2 > payload.size() || payload.compare(eol + 2 + len, 2, "\r\n") != 0) break;
    r.body.append(payload, eol + 2, len);
    p = eol + 2 + len + 2;
  }
  return r;
}

HttpResponse http_request(int port, const std::string& method, const std::string& path, const std::string& body,
                          const HeaderList& headers, int timeout_ms) {
  return parse_http_response(raw_exchange(port, build_request(method, path, body, headers), timeout_ms));
}

std::string post_and_hang_up(int port, const std::string& path, const std::string& body, size_t min_body_bytes) {
  const int fd = connect_local(port);
  if (fd < 0) return {};
  std::string out;
  if (send_all(fd, build_request("POST", path, body, {}))) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (read_some(fd, out, deadline)) {
      const size_t head_end = out.find("\r\n\r\n");
      if (head_end != std::string::npos && out.size() - head_end - 4 >= min_body_bytes) break;
    }
  }
  // An abortive close (RST), as a browser tab that goes away.
  linger lg{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  ::close(fd);
  return out;
}

std::vector<std::string> sse_payloads(const std::string& body, bool* ok) {
  std::vector<std::string> out;
  *ok = true;
  size_t p = 0;
  while (p < body.size()) {
    const size_t end = body.find("\n\n", p);
    if (end == std::string::npos || body.compare(p, 6, "data: ") != 0) {
      *ok = false;
      break;
    }
    const std::string payload = body.substr(p + 6, end - p - 6);
    if (payload.find('\n') != std::string::npos) *ok = false;
    out.push_back(payload);
    p = end + 2;
  }
  return out;
}

}  // namespace nanochat::test
