#include "nanochat/serve/server.h"

#include <csignal>
#include <chrono>
#include <mutex>
#include <random>
#include <string_view>

#include "nanochat/core/error.h"
#include "nanochat/core/log.h"
#include "nanochat/serve/prompt.h"
#include "nanochat/serve/server_state.h"

namespace nanochat::serve {

namespace {

using ojson = nlohmann::ordered_json;

const char* status_text(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 416: return "Range Not Satisfiable";
    case 503: return "Service Unavailable";
    default: return status >= 500 ? "Internal Server Error" : "Bad Request";
  }
}

bool is_openai_path(const std::string& path) { return path.starts_with("/v1/"); }

bool is_known_path(const std::string& path) {
  for (const char* p : {"/", "/logo.svg", "/chat/completions", "/health", "/stats", "/v1/chat/completions", "/v1/models"})
    if (path == p) return true;
  return false;
}

// Answers a CORS pre-flight (Origin + Access-Control-Request-Method) the way Starlette's permissive
// CORSMiddleware does: the origin mirrored, any method, the requested headers echoed (§1.9).
bool handle_preflight(const httplib::Request& req, httplib::Response& res) {
  if (req.method != "OPTIONS" || !req.has_header("Origin") || !req.has_header("Access-Control-Request-Method"))
    return false;
  res.status = 200;
  res.set_header("Access-Control-Allow-Origin", req.get_header_value("Origin"));
  res.set_header("Access-Control-Allow-Methods", "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT");
  res.set_header("Access-Control-Max-Age", "600");
  res.set_header("Access-Control-Allow-Credentials", "true");
  if (req.has_header("Access-Control-Request-Headers"))
    res.set_header("Access-Control-Allow-Headers", req.get_header_value("Access-Control-Request-Headers"));
  res.set_header("Vary", "Origin");
  res.set_content("OK", "text/plain; charset=utf-8");
  return true;
}

// Simple (non-pre-flight) requests that carry an Origin.
void add_cors_headers(const httplib::Request& req, httplib::Response& res) {
  if (!req.has_header("Origin") || res.has_header("Access-Control-Allow-Origin")) return;
  if (req.has_header("Cookie")) {
    res.set_header("Access-Control-Allow-Origin", req.get_header_value("Origin"));
    res.set_header("Vary", "Origin");
  } else {
    res.set_header("Access-Control-Allow-Origin", "*");
  }
  res.set_header("Access-Control-Allow-Credentials", "true");
}

// Bodies for errors that no handler wrote (unknown path, wrong method, oversized body, bad HTTP),
// in the shape of the API the path belongs to.
httplib::Server::HandlerResponse fill_error(const httplib::Request& req, httplib::Response& res, size_t max_body) {
  if (!res.body.empty() || res.content_provider_) return httplib::Server::HandlerResponse::Unhandled;
  std::string message = status_text(res.status);
  if (res.status == 404 && is_known_path(req.path)) {
    res.status = 405;
    message = "Method Not Allowed";
  } else if (res.status == 413) {
    message = fmt::format("Request body too large: at most {} bytes", max_body);
  }
  if (is_openai_path(req.path)) {
    const char* type = res.status == 404 ? "not_found_error" : "invalid_request_error";
    send_json(res, res.status, ojson{{"error", ojson{{"message", message}, {"type", type}, {"param", nullptr}, {"code", nullptr}}}});
  } else {
    send_json(res, res.status, ojson{{"detail", message}});
  }
  return httplib::Server::HandlerResponse::Handled;
}

}  // namespace

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void send_json(httplib::Response& res, int status, const ojson& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json");
}

PreparedCompletion prepare_completion(const ServerState& state, ChatRequest request, std::optional<uint64_t> seed) {
  const ServerOptions& o = state.options;
  PreparedCompletion p;
  p.prompt = build_chat_prompt(state.tok, request.messages);
  const auto prompt_tokens = static_cast<int64_t>(p.prompt.size());
  if (prompt_tokens >= o.context_length)
    throw RequestError(400,
                       fmt::format("Conversation is too long for the model: the prompt is {} tokens and the context "
                                   "holds {} tokens (prompt and reply). Start a new conversation or shorten it.",
                                   prompt_tokens, o.context_length),
                       "messages", nullptr, "context_length_exceeded");
  p.params.temperature = request.temperature.value_or(o.temperature);
  p.params.top_k = request.top_k.value_or(o.top_k);
  p.params.max_tokens = std::min(request.max_tokens.value_or(o.max_tokens), o.context_length - prompt_tokens);
  if (seed) {
    p.params.seed = *seed;
  } else {
    // A fresh seed per request, so that "regenerate" gives a different reply (§1.7.4).
    static std::mutex mu;
    static std::mt19937_64 rng{std::random_device{}()};
    std::lock_guard<std::mutex> lock(mu);
    p.params.seed = rng() & 0x7FFFFFFFu;
  }
  p.messages = std::move(request.messages);
  return p;
}

WorkerPool::Lease acquire_worker(ServerState& state) {
  std::optional<WorkerPool::Lease> lease = state.pool.acquire();
  if (!lease) {
    const auto s = state.pool.snapshot();
    throw RequestError(503, fmt::format("Server is busy: {} requests are already waiting for a worker; retry later",
                                        s.queued));
  }
  return std::move(*lease);
}

void log_request(const ServerState& state, const std::vector<ChatMessage>& messages) {
  if (!state.options.log_conversations) return;
  std::string text(20, '=');
  for (const ChatMessage& m : messages) {
    std::string role = m.role;
    for (char& c : role) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    text += fmt::format("\n[{}]: {}", role, m.content);
  }
  text += "\n" + std::string(20, '-');
  log_info("{}", text);
}

void log_reply(const ServerState& state, int worker_id, const CompletionResult& result) {
  if (!state.options.log_conversations) return;
  log_info("[ASSISTANT] (GPU {}): {}\n{}{}", worker_id, result.text, std::string(20, '='),
           result.finish == FinishReason::cancelled ? " (client disconnected)" : "");
}

void count_result(ServerState& state, const CompletionResult& result) {
  state.counters.tokens += static_cast<uint64_t>(result.completion_tokens);
  if (result.finish == FinishReason::cancelled) {
    ++state.counters.cancelled;
  } else {
    ++state.counters.completed;
  }
}

ChatServer::ChatServer(ServerOptions options, const Tokenizer& tokenizer, std::vector<Worker> workers) {
  NC_CHECK(options.context_length > 0, "server: context_length must be positive, got {}", options.context_length);
  NC_CHECK(options.http_threads >= 2, "server: http_threads must be at least 2, got {}", options.http_threads);
  state_ = std::make_unique<ServerState>(std::move(options), tokenizer, std::move(workers));
  ServerState& s = *state_;
  s.started_unix = unix_now();
  const int threads = s.options.http_threads;
  s.http.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  s.http.set_payload_max_length(s.options.max_body_bytes);
  s.http.set_tcp_nodelay(true);  // stream events are small: send each at once
  s.http.set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
    return handle_preflight(req, res) ? httplib::Server::HandlerResponse::Handled
                                      : httplib::Server::HandlerResponse::Unhandled;
  });
  s.http.set_post_routing_handler([](const httplib::Request& req, httplib::Response& res) { add_cors_headers(req, res); });
  const size_t max_body = s.options.max_body_bytes;
  s.http.set_error_handler(httplib::Server::HandlerWithResponse(
      [max_body](const httplib::Request& req, httplib::Response& res) { return fill_error(req, res, max_body); }));
  s.http.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    log_error("{} {}: {}", req.method, req.path, what);
    send_json(res, 500, ojson{{"detail", "Internal Server Error"}});
  });
  s.http.set_logger([](const httplib::Request& req, const httplib::Response& res) {
    log_debug("{}:{} \"{} {}\" {}", req.remote_addr, req.remote_port, req.method, req.path, res.status);
  });
  register_nanochat_api(s);
  register_openai_api(s);
}

ChatServer::~ChatServer() { stop(); }

const WorkerPool& ChatServer::pool() const { return state_->pool; }

int ChatServer::bind() {
  if (port_ >= 0) return port_;
  // A client that disconnects mid-stream must not kill the server: writes then fail with EPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  const ServerOptions& o = state_->options;
  const int port = o.port == 0 ? state_->http.bind_to_any_port(o.host) : (state_->http.bind_to_port(o.host, o.port) ? o.port : -1);
  NC_CHECK(port > 0, "server: cannot listen on {}:{} (address in use, or not an address of this machine)", o.host, o.port);
  if (!state_->http.widen_backlog(1024)) log_warn("server: could not raise the listen backlog; bursts may stall");
  port_ = port;
  return port_;
}

void ChatServer::serve() {
  bind();
  state_->http.listen_after_bind();
}

void ChatServer::start() {
  bind();
  thread_ = std::thread([this] { state_->http.listen_after_bind(); });
  // Return once the accept loop runs, so a caller can connect at once.
  for (int i = 0; i < 5000 && !state_->http.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  NC_CHECK(state_->http.is_running(), "server: the accept loop on port {} did not start", port_);
}

void ChatServer::stop() {
  if (!state_) return;
  state_->pool.shutdown();
  state_->http.stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace nanochat::serve
