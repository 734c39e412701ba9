// Fixtures for the server tests: the golden tiny model with a byte-level tokenizer, a scripted
// generator (exact token streams, optionally slow), and a server on an ephemeral loopback port.
#pragma once
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "http_test_client.h"
#include "nanochat/core/log.h"
#include "nanochat/core/safetensors.h"
#include "nanochat/engine/engine.h"
#include "nanochat/serve/engine_generator.h"
#include "nanochat/serve/prompt.h"
#include "nanochat/serve/server.h"
#include "nanochat/tokenizer/text_stream.h"
#include "test_support.h"

namespace nanochat::test {

inline const Tokenizer& byte_tokenizer() {
  static const Tokenizer t = Tokenizer::from_merges(std::vector<std::pair<TokenId, TokenId>>{});
  return t;
}

// Token id of a raw byte in the byte-level tokenizer.
inline TokenId byte_token(unsigned char b) {
  static const std::vector<TokenId> ids = [] {
    std::vector<TokenId> v(256, -1);
    for (TokenId id = 0; id < 256; ++id) {
      const std::string& bytes = byte_tokenizer().token_bytes(id);
      if (bytes.size() == 1) v[static_cast<unsigned char>(bytes[0])] = id;
    }
    return v;
  }();
  return ids[b];
}

inline std::unique_ptr<model::GPT<float>> load_golden_model(const std::filesystem::path& path) {
  SafetensorsReader file(path);
  auto m = std::make_unique<model::GPT<float>>(model::GPTConfig::from_json(file.metadata_value("config")));
  m->load(file, "step1.param.");
  return m;
}

// Emits `script` in order (then `filler` forever when set), sleeping `delay` before each token;
// counts what it emitted so tests can see a generation stop early.
class ScriptedGenerator : public serve::Generator {
 public:
  ScriptedGenerator(std::vector<TokenId> script, std::optional<TokenId> filler = std::nullopt,
                    std::chrono::milliseconds delay = std::chrono::milliseconds(0))
      : script_(std::move(script)), filler_(filler), delay_(delay) {}
  void generate(std::span<const TokenId>, const serve::SamplingParams& params,
                const std::function<bool(TokenId)>& on_token) const override {
    for (int64_t n = 0; n < params.max_tokens; ++n) {
      if (static_cast<size_t>(n) >= script_.size() && !filler_) return;
      if (delay_.count() > 0) std::this_thread::sleep_for(delay_);
      ++emitted_;
      if (!on_token(static_cast<size_t>(n) < script_.size() ? script_[static_cast<size_t>(n)] : *filler_)) return;
    }
  }
  int64_t emitted() const { return emitted_.load(); }

 private:
  std::vector<TokenId> script_;
  std::optional<TokenId> filler_;
  std::chrono::milliseconds delay_;
  mutable std::atomic<int64_t> emitted_{0};
};

// A server on 127.0.0.1 with an ephemeral port, stopped at scope exit.
struct TestServer {
  TestServer(serve::ServerOptions options, std::vector<serve::Worker> workers) {
    set_log_level(LogLevel::warn);
    options.host = "127.0.0.1";
    options.port = 0;
    options.log_conversations = false;
    server = std::make_unique<serve::ChatServer>(options, byte_tokenizer(), std::move(workers));
    server->start();
  }
  ~TestServer() { server->stop(); }
  int port() const { return server->port(); }
  std::unique_ptr<serve::ChatServer> server;
};

// The text a greedy generation produces for `messages`, straight from the engine (the reference for
// what the server streams), and how many tokens it generated (terminator included).
struct Reference {
  std::string text;
  int64_t completion_tokens = 0;
  bool stopped = false;
};
inline Reference greedy_reference(const model::GPT<float>& model, const std::vector<serve::ChatMessage>& messages,
                                  int64_t max_tokens) {
  const Tokenizer& tok = byte_tokenizer();
  const auto prompt = serve::build_chat_prompt(tok, messages);
  engine::Engine eng(model, tok);
  engine::GenerateOptions opt;
  opt.temperature = 0;
  opt.max_tokens = std::min<int64_t>(max_tokens, model.config().sequence_len - static_cast<int64_t>(prompt.size()));
  Reference ref;
  TextStream stream;
  const TokenId end = tok.encode_special("<|assistant_end|>");
  eng.generate(prompt, opt, [&](std::span<const TokenId> col, std::span<const uint8_t>) {
    ++ref.completion_tokens;
    if (col[0] == end || col[0] == tok.bos_id()) {
      ref.stopped = true;
      return false;
    }
    stream.push(tok.token_bytes(col[0]));
    return true;
  });
  stream.flush();
  ref.text = stream.text();
  return ref;
}

// Concatenated "token" texts of an original-format stream; ok=false unless every frame is a token
// event of `worker` and the last one, exactly once, is {"done": true}.
inline std::string nanochat_stream_text(const std::string& body, bool* ok, int worker = 0) {
  bool framing = false;
  const auto payloads = sse_payloads(body, &framing);
  *ok = framing && !payloads.empty() && payloads.back() == R"({"done": true})";
  std::string text;
  for (size_t i = 0; i + 1 < payloads.size(); ++i) {
    const std::string prefix = "{\"token\": ";
    const std::string suffix = ", \"gpu\": " + std::to_string(worker) + "}";
    const std::string& p = payloads[i];
    if (!p.starts_with(prefix) || !p.ends_with(suffix)) {
      *ok = false;
      continue;
    }
    const auto token = nlohmann::json::parse(p.substr(prefix.size(), p.size() - prefix.size() - suffix.size()));
    if (!token.is_string() || token.get<std::string>().empty()) *ok = false;
    if (token.is_string()) text += token.get<std::string>();
  }
  return text;
}

}  // namespace nanochat::test
