// nanochat chat-web: the web chat server and UI (scripts/chat_web.py); see src/nanochat/serve/server.h
// for the API and the deliberate differences from the original.
#include <algorithm>
#include <cstdio>
#include <thread>

#include "commands.h"
#include "nanochat/core/cli.h"
#include "nanochat/core/error.h"
#include "nanochat/engine/decoder.h"
#include "nanochat/engine/load_model.h"
#include "nanochat/serve/engine_generator.h"
#include "nanochat/serve/server.h"

namespace nanochat::app {

int chat_web(const Args& args) {
  std::string source = "sft", device, tokenizer_path;
  std::optional<std::string> tag;
  std::optional<int64_t> step;
  serve::ServerOptions opt;
  int64_t port = 8000, num_workers = 1, max_queue = static_cast<int64_t>(opt.max_queue);
  bool quiet = false;
  ArgParser p("nanochat chat-web", "Serve a trained model to the web chat UI and over an OpenAI-compatible API.");
  p.add("-i,--source", &source, "checkpoint source", {"base", "sft", "rl"})
      .add("-g,--model-tag", &tag, "model tag (none: the largest d<N>)")
      .add("-s,--step", &step, "checkpoint step (none: the last)")
      .add("-p,--port", &port, "TCP port (0: any free port)")
      .add("--host", &opt.host, "bind address (0.0.0.0 serves every interface)")
      .add("-t,--temperature", &opt.temperature, "default sampling temperature of a request")
      .add("-k,--top-k", &opt.top_k, "default top-k of a request (0 = all tokens)")
      .add("-m,--max-tokens", &opt.max_tokens, "default reply length of a request, in tokens")
      .add("-n,--num-workers", &num_workers, "requests generated at once (the original's --num-gpus; on the CPU the "
                                             "workers share one model and split the cores)")
      .add("--max-queue", &max_queue, "requests allowed to wait for a worker before 503 (0 = unbounded)")
      .add("--device-type", &device, "cuda|cpu (empty = autodetect: cuda when a GPU is usable)", {"", "cpu", "cuda"})
      .add("--tokenizer-dir", &tokenizer_path, "tokenizer directory (empty: $NANOCHAT_BASE_DIR/tokenizer)")
      .add_switch("-q,--quiet", &quiet, "do not log conversations (the original logs every message)");
  if (!p.parse(args)) return 0;
  if (port < 0 || port > 65535) usage_fail("argument -p/--port: must be in [0, 65535], got {}", port);
  if (opt.temperature < 0) usage_fail("argument -t/--temperature: must be >= 0, got {}", opt.temperature);
  if (opt.top_k < 0) usage_fail("argument -k/--top-k: must be >= 0, got {}", opt.top_k);
  if (opt.max_tokens < 1) usage_fail("argument -m/--max-tokens: must be at least 1, got {}", opt.max_tokens);
  if (num_workers < 1 || num_workers > 256) usage_fail("argument -n/--num-workers: must be in [1, 256], got {}", num_workers);
  if (max_queue < 0) usage_fail("argument --max-queue: must be >= 0, got {}", max_queue);
  device = engine::resolve_inference_device(device);

  std::printf("Starting NanoChat Web Server\nTemperature: %g, Top-k: %lld, Max tokens: %lld\n", opt.temperature,
              static_cast<long long>(opt.top_k), static_cast<long long>(opt.max_tokens));
  std::printf("Loading nanochat model on %s...\n", device.c_str());
  std::fflush(stdout);
  engine::LoadedModel loaded = engine::load_model(
      source, tag, step, tokenizer_path.empty() ? std::nullopt : std::optional<std::filesystem::path>(tokenizer_path));
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int threads_each = num_workers > 1 ? std::max(1, cores / static_cast<int>(num_workers)) : 0;
  // One model, shared read-only by every worker (generation never writes to it). On the GPU the
  // workers share one device copy and take turns per forward (engine/decoder.h).
  const std::unique_ptr<engine::Decoder> decoder = engine::make_decoder(device, *loaded.model);
  const serve::EngineGenerator generator(*decoder, *loaded.tokenizer, threads_each);
  std::printf("Initializing worker pool with %lld workers...\n", static_cast<long long>(num_workers));
  std::vector<serve::Worker> workers;
  for (int64_t i = 0; i < num_workers; ++i)
    workers.push_back(serve::Worker{static_cast<int>(i), decoder->device(), &generator});

  opt.port = static_cast<int>(port);
  opt.max_queue = static_cast<size_t>(max_queue);
  opt.context_length = loaded.model->config().sequence_len;
  opt.model_id = fmt::format("nanochat-{}-{}", source, loaded.model_tag);
  opt.log_conversations = !quiet;
  serve::ChatServer server(opt, *loaded.tokenizer, std::move(workers));
  const int bound = server.bind();
  std::printf("All %lld workers initialized!\nServer ready at http://%s:%d (model %s, context %lld tokens)\n",
              static_cast<long long>(num_workers), opt.host == "0.0.0.0" ? "localhost" : opt.host.c_str(), bound,
              opt.model_id.c_str(), static_cast<long long>(opt.context_length));
  std::fflush(stdout);
  server.serve();
  return 0;
}

}  // namespace nanochat::app
