// The OpenAI chat-completions request (POST /v1/chat/completions), mapped onto a ChatRequest.
// Supported: model (any string; the server has one model), messages with roles system/developer
// (leading only: merged into the first user message as "<system>\n\n<user>", as nanochat's chat
// format does), user and assistant, content as a string or a list of {"type":"text"} parts;
// temperature, max_tokens / max_completion_tokens, stream, stream_options.include_usage, seed,
// n = 1, and top_k (an extension). top_p is accepted in [0, 1] and ignored (the engine samples with
// temperature and top-k only); stop sequences, tools, logprobs and non-text response formats are
// refused. The original's limits and messages apply (chat_request.h); errors are RequestError(400).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>

#include "nanochat/serve/chat_request.h"

namespace nanochat::serve {

struct OpenAIChatRequest {
  ChatRequest chat;
  bool stream = false;
  bool include_usage = false;
  std::optional<uint64_t> seed;
};

OpenAIChatRequest parse_openai_request(const nlohmann::json& body);

}  // namespace nanochat::serve
