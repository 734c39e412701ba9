// nanochat's web chat server (spec serving §1): the chat UI at GET /, the original's streaming
// POST /chat/completions, GET /health and GET /stats, plus an OpenAI-compatible
// POST /v1/chat/completions and GET /v1/models, on cpp-httplib. Each request is served end to end
// by one worker of a FIFO pool (worker_pool.h) on the HTTP connection's thread; a client that goes
// away stops its generation at the next write and frees the worker.
//
// Deliberate differences from the original (each from the spec's "SHOULD (improvement)" notes):
// a prompt that leaves no room in the model's context is refused with 400 before streaming, and a
// reply is cut at the context's end (finish "length"); the wait queue is bounded (503 + Retry-After);
// the UTF-8 tail held back at the end of a reply is flushed as U+FFFD; /stats adds queue and request
// counters; the default bind address is 127.0.0.1. The stream's Content-Type is plain
// "text/event-stream" (no charset parameter: with it, cpp-httplib would gzip, i.e. buffer, the stream).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "nanochat/serve/worker_pool.h"
#include "nanochat/tokenizer/tokenizer.h"

namespace nanochat::serve {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8000;                  // 0: any free port (see ChatServer::bind)
  double temperature = 0.8;         // defaults for requests that leave these out
  int64_t top_k = 50;
  int64_t max_tokens = 512;
  int64_t context_length = 2048;    // prompt + reply tokens at most (the model's sequence_len)
  size_t max_queue = 256;           // requests waiting for a worker (0: unbounded)
  int http_threads = 64;            // connections served at once (streams + waiting + keep-alive)
  size_t max_body_bytes = 1 << 20;  // 32000 characters of content fit with room to spare
  std::string model_id = "nanochat";
  bool log_conversations = true;    // the original logs every conversation (§1.11)
};

struct ServerState;

class ChatServer {
 public:
  ChatServer(ServerOptions options, const Tokenizer& tokenizer, std::vector<Worker> workers);
  ~ChatServer();
  ChatServer(const ChatServer&) = delete;
  ChatServer& operator=(const ChatServer&) = delete;

  // Binds host:port and returns the port (the chosen one when options.port is 0). Throws Error.
  int bind();
  // Serves until stop() (binds first if needed).
  void serve();
  // bind() + serve() on a background thread.
  void start();
  // Stops accepting, refuses queued requests and joins the background thread. Idempotent.
  void stop();
  int port() const { return port_; }
  const WorkerPool& pool() const;

 private:
  std::unique_ptr<ServerState> state_;
  int port_ = -1;
  std::thread thread_;
};

}  // namespace nanochat::serve
