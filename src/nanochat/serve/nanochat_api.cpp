// The original's routes (spec serving §1.4-§1.9): the UI, its logo, the streaming
// /chat/completions, /health and /stats.
#include <cmath>
#include <memory>
#include <string_view>

#include "nanochat/core/log.h"
#include "nanochat/serve/json_text.h"
#include "nanochat/serve/server_state.h"

namespace nanochat::serve {

extern const std::string_view kChatUiHtml;  // ui.html, embedded at build time (embed_file.cmake)

namespace {

using ojson = nlohmann::ordered_json;

// §2.9: twelve radial spokes under a violet radial gradient, a black diamond at the centre.
std::string logo_svg() {
  std::string spokes;
  for (int i = 0; i < 12; ++i) {
    const double a = i * 3.14159265358979 / 6;
    spokes += fmt::format(R"(<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}"/>)", 200 + 60 * std::cos(a),
                          200 + 60 * std::sin(a), 200 + 150 * std::cos(a), 200 + 150 * std::sin(a));
  }
  return fmt::format(
      R"svg(<svg xmlns="http://www.w3.org/2000/svg" width="400" height="400" viewBox="0 0 400 400">)svg"
      R"svg(<defs><radialGradient id="g" cx="200" cy="200" r="150" gradientUnits="userSpaceOnUse">)svg"
      R"svg(<stop offset="0" stop-color="#667eea"/><stop offset="1" stop-color="#764ba2" stop-opacity="0.3"/>)svg"
      R"svg(</radialGradient></defs><g stroke="url(#g)" stroke-width="6" stroke-linecap="round">{}</g>)svg"
      R"svg(<rect x="191.5" y="191.5" width="17" height="17" transform="rotate(45 200 200)" fill="#000"/></svg>)svg",
      spokes);
}

void send_detail(httplib::Response& res, const RequestError& e) {
  const ojson detail = e.detail().is_null() ? ojson(e.what()) : ojson::parse(e.detail().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  send_json(res, e.status(), ojson{{"detail", detail}});
  if (e.status() == 503) res.set_header("Retry-After", "1");
}

// The streaming reply of one request: runs once, on the connection's thread, holding the worker.
struct StreamJob {
  ServerState* state;
  PreparedCompletion completion;
  std::optional<WorkerPool::Lease> lease;
  bool ran = false;
};

bool stream_reply(StreamJob& job, httplib::DataSink& sink) {
  if (job.ran || !job.lease) return false;  // called again only after a failed write: give up
  job.ran = true;
  ServerState& state = *job.state;
  const Worker& worker = job.lease->worker();
  try {
    const CompletionResult result = run_completion(
        *worker.generator, state.tok, job.completion.prompt, job.completion.params, [&](const std::string& piece) {
          const std::string event = nanochat_token_event(piece, worker.id);
          return sink.write(event.data(), event.size());
        });
    const int worker_id = worker.id;
    job.lease.reset();  // free the worker before the last write
    count_result(state, result);
    log_reply(state, worker_id, result);
    if (result.finish == FinishReason::cancelled) return false;
    const std::string done = nanochat_done_event();
    if (!sink.write(done.data(), done.size())) return false;
    sink.done();
    return true;
  } catch (const std::exception& e) {
    // §1.7.8: after the 200 there is no way to report an error but to abort the stream.
    job.lease.reset();
    ++state.counters.failed;
    log_error("generation failed on worker {}: {}", worker.id, e.what());
    return false;
  }
}

void chat_completions(ServerState& state, const httplib::Request& req, httplib::Response& res) {
  ++state.counters.received;
  auto job = std::make_shared<StreamJob>();
  job->state = &state;
  try {
    ChatRequest request = parse_chat_request(parse_json_body(req.body));
    validate_chat_request(request);
    job->completion = prepare_completion(state, std::move(request), std::nullopt);
    log_request(state, job->completion.messages);
    job->lease.emplace(acquire_worker(state));
  } catch (const RequestError& e) {
    ++state.counters.rejected;
    send_detail(res, e);
    return;
  }
  res.set_chunked_content_provider("text/event-stream",
                                   [job](size_t, httplib::DataSink& sink) { return stream_reply(*job, sink); });
}

}  // namespace

void register_nanochat_api(ServerState& state) {
  httplib::Server& http = state.http;
  http.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(kChatUiHtml), "text/html; charset=utf-8");
  });
  http.Get("/logo.svg", [svg = logo_svg()](const httplib::Request&, httplib::Response& res) {
    res.set_content(svg, "image/svg+xml");
  });
  http.Post("/chat/completions",
            [&state](const httplib::Request& req, httplib::Response& res) { chat_completions(state, req, res); });
  http.Get("/health", [&state](const httplib::Request&, httplib::Response& res) {
    const auto s = state.pool.snapshot();
    send_json(res, 200,
              ojson{{"status", "ok"}, {"ready", s.total > 0}, {"num_gpus", s.total}, {"available_workers", s.available}});
  });
  http.Get("/stats", [&state](const httplib::Request&, httplib::Response& res) {
    const auto s = state.pool.snapshot();
    ojson workers = ojson::array();
    for (const Worker& w : state.pool.workers()) workers.push_back(ojson{{"gpu_id", w.id}, {"device", w.device}});
    const RequestCounters& c = state.counters;
    send_json(res, 200,
              ojson{{"total_workers", s.total},
                    {"available_workers", s.available},
                    {"busy_workers", s.busy},
                    {"workers", workers},
                    {"queued_requests", s.queued},
                    {"requests",
                     ojson{{"received", c.received.load()},
                           {"rejected", c.rejected.load()},
                           {"completed", c.completed.load()},
                           {"cancelled", c.cancelled.load()},
                           {"failed", c.failed.load()},
                           {"tokens_generated", c.tokens.load()}}}});
  });
}

}  // namespace nanochat::serve
