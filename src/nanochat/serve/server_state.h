// What the route handlers share (internal to the serve library).
#pragma once
#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "nanochat/serve/chat_request.h"
#include "nanochat/serve/completion.h"
#include "nanochat/serve/server.h"

namespace nanochat::serve {

struct RequestCounters {
  std::atomic<uint64_t> received{0};   // completion requests
  std::atomic<uint64_t> rejected{0};   // 4xx/503 before generation
  std::atomic<uint64_t> completed{0};  // reply delivered to the end
  std::atomic<uint64_t> cancelled{0};  // client went away mid-reply
  std::atomic<uint64_t> failed{0};     // generation threw
  std::atomic<uint64_t> tokens{0};     // tokens generated
};

// cpp-httplib listens with a backlog of 5 (compiled into Debian's library): a burst of clients then
// overflows the accept queue and their connections stall for a SYN retry (1 s). listen() again on
// the bound socket raises the backlog (Linux updates it in place).
class HttpServer : public httplib::Server {
 public:
  bool widen_backlog(int backlog) { return ::listen(svr_sock_, backlog) == 0; }
};

struct ServerState {
  ServerState(ServerOptions opts, const Tokenizer& tokenizer, std::vector<Worker> workers)
      : options(std::move(opts)), tok(tokenizer), pool(std::move(workers), options.max_queue) {}
  ServerOptions options;
  const Tokenizer& tok;
  WorkerPool pool;
  RequestCounters counters;
  HttpServer http;
  int64_t started_unix = 0;
};

// A completion request after validation: its prompt, its sampling parameters (defaults applied,
// max_tokens cut to the room left in the context) and its worker.
struct PreparedCompletion {
  std::vector<ChatMessage> messages;
  std::vector<TokenId> prompt;
  SamplingParams params;
};

// Builds and checks the prompt against the context; throws RequestError(400, code
// "context_length_exceeded") when no token fits after it.
PreparedCompletion prepare_completion(const ServerState& state, ChatRequest request, std::optional<uint64_t> seed);
// Waits for a worker; throws RequestError(503) when the queue is full or the server is stopping.
WorkerPool::Lease acquire_worker(ServerState& state);
// §1.11 conversation log lines (when enabled).
void log_request(const ServerState& state, const std::vector<ChatMessage>& messages);
void log_reply(const ServerState& state, int worker_id, const CompletionResult& result);
void count_result(ServerState& state, const CompletionResult& result);

// Compact JSON responses (as FastAPI's JSONResponse).
void send_json(httplib::Response& res, int status, const nlohmann::ordered_json& body);
int64_t unix_now();

void register_nanochat_api(ServerState& state);
void register_openai_api(ServerState& state);

}  // namespace nanochat::serve
