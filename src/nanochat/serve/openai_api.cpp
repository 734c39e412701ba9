// The OpenAI-compatible routes: POST /v1/chat/completions (streaming or not) and GET /v1/models.
// Stream: "data: <chat.completion.chunk>" frames (the first carries the assistant role, then one per
// piece of text, then one with the finish_reason and an empty delta, then a usage chunk with no
// choices if stream_options.include_usage), then "data: [DONE]". Errors:
// {"error": {"message", "type", "param", "code"}}. completion_tokens counts every generated token,
// the terminator included.
#include <atomic>
#include <memory>

#include "nanochat/core/log.h"
#include "nanochat/serve/json_text.h"
#include "nanochat/serve/openai_request.h"
#include "nanochat/serve/server_state.h"

namespace nanochat::serve {

namespace {

using ojson = nlohmann::ordered_json;

void send_error(httplib::Response& res, const RequestError& e) {
  const char* type = e.status() == 503 ? "server_error" : "invalid_request_error";
  send_json(res, e.status(),
            ojson{{"error", ojson{{"message", e.what()},
                                  {"type", type},
                                  {"param", e.param().empty() ? ojson(nullptr) : ojson(e.param())},
                                  {"code", e.code().empty() ? ojson(nullptr) : ojson(e.code())}}}});
  if (e.status() == 503) res.set_header("Retry-After", "1");
}

std::string completion_id() {
  static std::atomic<uint64_t> counter{0};
  return fmt::format("chatcmpl-{:x}{:06x}", unix_now(), counter++ & 0xFFFFFF);
}

ojson usage(int64_t prompt_tokens, int64_t completion_tokens) {
  return ojson{{"prompt_tokens", prompt_tokens},
               {"completion_tokens", completion_tokens},
               {"total_tokens", prompt_tokens + completion_tokens}};
}

struct OpenAIJob {
  ServerState* state;
  PreparedCompletion completion;
  std::optional<WorkerPool::Lease> lease;
  bool include_usage = false;
  std::string id;
  int64_t created = 0;
  bool ran = false;
};

std::string dump(const ojson& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

ojson chunk(const OpenAIJob& job, ojson delta, const ojson& finish) {
  return ojson{{"id", job.id},
               {"object", "chat.completion.chunk"},
               {"created", job.created},
               {"model", job.state->options.model_id},
               {"choices", ojson::array({ojson{{"index", 0}, {"delta", std::move(delta)}, {"logprobs", nullptr},
                                               {"finish_reason", finish}}})}};
}

bool write_frame(httplib::DataSink& sink, const std::string& payload) {
  const std::string frame = sse_frame(payload);
  return sink.write(frame.data(), frame.size());
}

bool stream_chunks(OpenAIJob& job, httplib::DataSink& sink) {
  if (job.ran || !job.lease) return false;
  job.ran = true;
  ServerState& state = *job.state;
  const Worker& worker = job.lease->worker();
  const int worker_id = worker.id;
  try {
    if (!write_frame(sink, dump(chunk(job, ojson{{"role", "assistant"}, {"content", ""}}, nullptr)))) {
      ++state.counters.cancelled;
      return false;
    }
    const CompletionResult result =
        run_completion(*worker.generator, state.tok, job.completion.prompt, job.completion.params,
                       [&](const std::string& piece) { return write_frame(sink, dump(chunk(job, ojson{{"content", piece}}, nullptr))); });
    job.lease.reset();
    count_result(state, result);
    log_reply(state, worker_id, result);
    if (result.finish == FinishReason::cancelled) return false;
    if (!write_frame(sink, dump(chunk(job, ojson::object(), finish_reason_name(result.finish))))) return false;
    if (job.include_usage) {
      ojson u = chunk(job, ojson::object(), nullptr);
      u["choices"] = ojson::array();
      u["usage"] = usage(static_cast<int64_t>(job.completion.prompt.size()), result.completion_tokens);
      if (!write_frame(sink, dump(u))) return false;
    }
    if (!write_frame(sink, "[DONE]")) return false;
    sink.done();
    return true;
  } catch (const std::exception& e) {
    job.lease.reset();
    ++state.counters.failed;
    log_error("generation failed on worker {}: {}", worker_id, e.what());
    return false;
  }
}

void chat_completions(ServerState& state, const httplib::Request& req, httplib::Response& res) {
  ++state.counters.received;
  auto job = std::make_shared<OpenAIJob>();
  job->state = &state;
  job->id = completion_id();
  job->created = unix_now();
  bool stream = false;
  try {
    nlohmann::json body;
    try {
      body = parse_json_body(req.body);
    } catch (const RequestError& e) {
      throw RequestError(400, fmt::format("We could not parse the JSON body of your request: {}", e.what()));
    }
    OpenAIChatRequest request = parse_openai_request(body);
    stream = request.stream;
    job->include_usage = request.include_usage;
    job->completion = prepare_completion(state, std::move(request.chat), request.seed);
    log_request(state, job->completion.messages);
    job->lease.emplace(acquire_worker(state));
  } catch (const RequestError& e) {
    ++state.counters.rejected;
    send_error(res, e);
    return;
  }
  if (stream) {
    res.set_chunked_content_provider("text/event-stream",
                                     [job](size_t, httplib::DataSink& sink) { return stream_chunks(*job, sink); });
    return;
  }
  const Worker& worker = job->lease->worker();
  const int worker_id = worker.id;
  CompletionResult result;
  try {
    result = run_completion(*worker.generator, state.tok, job->completion.prompt, job->completion.params,
                            [](const std::string&) { return true; });
  } catch (const std::exception& e) {
    job->lease.reset();
    ++state.counters.failed;
    log_error("generation failed on worker {}: {}", worker_id, e.what());
    send_json(res, 500, ojson{{"error", ojson{{"message", "generation failed"}, {"type", "server_error"},
                                              {"param", nullptr}, {"code", nullptr}}}});
    return;
  }
  job->lease.reset();
  count_result(state, result);
  log_reply(state, worker_id, result);
  send_json(res, 200,
            ojson{{"id", job->id},
                  {"object", "chat.completion"},
                  {"created", job->created},
                  {"model", state.options.model_id},
                  {"choices", ojson::array({ojson{{"index", 0},
                                                  {"message", ojson{{"role", "assistant"}, {"content", result.text}}},
                                                  {"logprobs", nullptr},
                                                  {"finish_reason", finish_reason_name(result.finish)}}})},
                  {"usage", usage(static_cast<int64_t>(job->completion.prompt.size()), result.completion_tokens)}});
}

}  // namespace

void register_openai_api(ServerState& state) {
  state.http.Post("/v1/chat/completions",
                  [&state](const httplib::Request& req, httplib::Response& res) { chat_completions(state, req, res); });
  state.http.Get("/v1/models", [&state](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200,
              ojson{{"object", "list"},
                    {"data", ojson::array({ojson{{"id", state.options.model_id},
                                                 {"object", "model"},
                                                 {"created", state.started_unix},
                                                 {"owned_by", "nanochat"}}})}});
  });
}

}  // namespace nanochat::serve
