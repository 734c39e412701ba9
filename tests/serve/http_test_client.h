// A deliberately small HTTP/1.1 client on raw sockets for the server tests: it sends exactly the
// bytes a test wants (malformed requests included), can hang up mid-stream, and checks the chunked
// framing of what comes back.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace nanochat::test {

struct HttpResponse {
  int status = 0;                              // 0: no parsable response
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;                            // de-chunked
  bool framing_ok = true;                      // chunked encoding well formed and terminated
  std::string header(const std::string& name) const {
    const auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// Connects to 127.0.0.1:port, sends `bytes`, reads until the server closes (or timeout_ms).
std::string raw_exchange(int port, const std::string& bytes, int timeout_ms = 20000);
// One request with "Connection: close"; JSON content type when body is non-empty.
HttpResponse http_request(int port, const std::string& method, const std::string& path, const std::string& body = "",
                          const HeaderList& headers = {}, int timeout_ms = 20000);
HttpResponse parse_http_response(const std::string& raw);
// Sends a POST, reads until at least min_body_bytes of body arrived (or the stream ended), then
// closes the socket abruptly. Returns what was read.
std::string post_and_hang_up(int port, const std::string& path, const std::string& body, size_t min_body_bytes);

// "data: X\n\n" frames -> the X's; sets ok=false when the body has anything else.
std::vector<std::string> sse_payloads(const std::string& body, bool* ok);

}  // namespace nanochat::test
