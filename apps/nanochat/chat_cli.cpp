// nanochat chat-cli: talk to a trained model in the terminal (scripts/chat_cli.py). Unlike the original,
// special tokens are not printed and a character split across tokens is printed once it is complete
// (the same hold-back as chat-web's stream).
#include <cstdio>
#include <iostream>
#include <string>

#include "commands.h"
#include "nanochat/core/cli.h"
#include "nanochat/core/error.h"
#include "nanochat/eval/python_str.h"
#include "nanochat/engine/decoder.h"
#include "nanochat/engine/engine.h"
#include "nanochat/engine/load_model.h"
#include "nanochat/tokenizer/text_stream.h"

namespace nanochat::app {

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

int chat_cli(const Args& args) {
  std::string source = "sft", prompt, device = "", tokenizer_path;
  std::optional<std::string> tag;
  std::optional<int64_t> step;
  double temperature = 0.6;
  int64_t top_k = 50, max_tokens = 256;
  ArgParser p("nanochat chat-cli", "Chat with a trained model in the terminal.");
  p.add("-i,--source", &source, "checkpoint source", {"base", "sft", "rl"})
      .add("-g,--model-tag", &tag, "model tag (default: the largest d<N>)")
      .add("-s,--step", &step, "checkpoint step (default: the last)")
      .add("-p,--prompt", &prompt, "answer this prompt once and exit")
      .add("-t,--temperature", &temperature, "sampling temperature (0 = greedy)")
      .add("-k,--top-k", &top_k, "sample among the k most likely tokens (0 = all)")
      .add("-m,--max-tokens", &max_tokens, "tokens per reply")
      .add("--device-type", &device, "cuda|cpu (empty = autodetect: cuda when a GPU is usable)", {"", "cpu", "cuda"})
      .add("--tokenizer-dir", &tokenizer_path, "tokenizer directory (default: $NANOCHAT_BASE_DIR/tokenizer)");
  if (!p.parse(args)) return 0;
  if (temperature < 0) usage_fail("argument -t/--temperature: must be >= 0, got {}", temperature);
  if (max_tokens < 1) usage_fail("argument -m/--max-tokens: must be at least 1, got {}", max_tokens);
  device = engine::resolve_inference_device(device);

  engine::LoadedModel loaded = engine::load_model(
      source, tag, step, tokenizer_path.empty() ? std::nullopt : std::optional<std::filesystem::path>(tokenizer_path));
  const Tokenizer& tok = *loaded.tokenizer;
  const std::unique_ptr<engine::Decoder> decoder = engine::make_decoder(device, *loaded.model);
  const engine::Engine eng(*decoder, tok);
  const TokenId user_start = tok.encode_special("<|user_start|>"), user_end = tok.encode_special("<|user_end|>");
  const TokenId assistant_start = tok.encode_special("<|assistant_start|>");
  const TokenId assistant_end = tok.encode_special("<|assistant_end|>");

  std::vector<TokenId> conversation{tok.bos_id()};
  std::printf("\nNanoChat Interactive Mode\n%s\nType 'quit' or 'exit' to end the conversation\n"
              "Type 'clear' to start a new conversation\n%s\n",
              std::string(50, '-').c_str(), std::string(50, '-').c_str());
  for (;;) {
    std::string input;
    if (!prompt.empty()) {
      input = prompt;
    } else {
      std::printf("\nUser: ");
      std::fflush(stdout);
      if (!std::getline(std::cin, input)) {
        std::printf("\nGoodbye!\n");
        return 0;
      }
      input = eval::python_strip(input);  // the original's input().strip(): Unicode whitespace too
    }
    const std::string cmd = lower(input);
    if (cmd == "quit" || cmd == "exit") {
      std::printf("Goodbye!\n");
      return 0;
    }
    if (cmd == "clear") {
      conversation.assign(1, tok.bos_id());
      std::printf("Conversation cleared.\n");
      continue;
    }
    if (input.empty()) continue;
    conversation.push_back(user_start);
    for (const TokenId t : tok.encode(input)) conversation.push_back(t);
    conversation.push_back(user_end);
    conversation.push_back(assistant_start);

    std::printf("\nAssistant: ");
    std::fflush(stdout);
    engine::GenerateOptions opt;
    opt.temperature = temperature;
    opt.top_k = top_k;
    opt.max_tokens = max_tokens;
    std::vector<TokenId> reply;
    TextStream stream;  // a character split across tokens is printed once it is complete
    auto print = [](const std::string& text) {
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fflush(stdout);
    };
    eng.generate(conversation, opt, [&](std::span<const TokenId> col, std::span<const uint8_t>) {
      const TokenId t = col[0];
      reply.push_back(t);
      if (!tok.is_special(t)) print(stream.push(tok.token_bytes(t)));  // the original prints special tokens
      return true;
    });
    print(stream.flush());
    std::printf("\n");
    if (reply.empty() || reply.back() != assistant_end) reply.push_back(assistant_end);
    conversation.insert(conversation.end(), reply.begin(), reply.end());
    if (!prompt.empty()) return 0;
  }
}

}  // namespace nanochat::app
