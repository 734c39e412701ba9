// The server the browser test talks to: the real HTTP server and UI with a byte-level tokenizer and
// either a demo generator (default: readable replies that name their seed, streamed a byte per token
// with a short delay, so multi-byte characters arrive split across tokens) or the golden tiny model
// (--golden <file>). Prints "listening on <port>" once ready; exits when stdin closes.
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "nanochat/core/log.h"
#include "nanochat/core/safetensors.h"
#include "nanochat/serve/engine_generator.h"
#include "nanochat/serve/server.h"

using namespace nanochat;

namespace {

const Tokenizer& byte_tokenizer() {
  static const Tokenizer t = Tokenizer::from_merges(std::vector<std::pair<TokenId, TokenId>>{});
  return t;
}

class DemoGenerator : public serve::Generator {
 public:
  void generate(std::span<const TokenId> prompt, const serve::SamplingParams& params,
                const std::function<bool(TokenId)>& on_token) const override {
    // Like a real model, greedy decoding (temperature 0) does not depend on the seed: the OpenAI client
    // test compares a streamed and a non-streamed greedy reply, which get different random seeds.
    const uint64_t tag = params.temperature > 0 ? params.seed % 1000 : 0;
    const std::string reply = "Reply " + std::to_string(tag) + " to a prompt of " +
                              std::to_string(prompt.size()) + " tokens: caf\xC3\xA9 \xF0\x9F\x99\x82, streamed byte by byte.";
    int64_t n = 0;
    for (const char c : reply) {
      if (n++ >= params.max_tokens) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(15));
      if (!on_token(byte_id(static_cast<unsigned char>(c)))) return;
    }
    if (n < params.max_tokens) on_token(byte_tokenizer().encode_special("<|assistant_end|>"));
  }

 private:
  static TokenId byte_id(unsigned char b) {
    for (TokenId id = 0; id < 256; ++id)
      if (byte_tokenizer().token_bytes(id) == std::string(1, static_cast<char>(b))) return id;
    return 0;
  }
};

}  // namespace

int main(int argc, char** argv) {
  try {
    set_log_level(LogLevel::warn);
    std::unique_ptr<model::GPT<float>> model;
    std::unique_ptr<serve::Generator> generator;
    serve::ServerOptions opt;
    opt.port = 0;
    opt.log_conversations = false;
    opt.context_length = 4096;
    if (argc == 3 && std::string(argv[1]) == "--golden") {
      SafetensorsReader file(argv[2]);
      model = std::make_unique<model::GPT<float>>(model::GPTConfig::from_json(file.metadata_value("config")));
      model->load(file, "step1.param.");
      opt.context_length = model->config().sequence_len;
      opt.max_tokens = 64;
      generator = std::make_unique<serve::EngineGenerator>(*model, byte_tokenizer());
    } else {
      generator = std::make_unique<DemoGenerator>();
    }
    serve::ChatServer server(opt, byte_tokenizer(), {{0, "cpu", generator.get()}});
    server.start();
    std::printf("listening on %d\n", server.port());
    std::fflush(stdout);
    std::string line;
    while (std::getline(std::cin, line)) {
    }
    server.stop();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "serve_for_e2e: %s\n", e.what());
    return 1;
  }
}
