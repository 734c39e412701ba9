// Chat rendering (spec §2): a conversation (JSON: {"messages": [{"role", "content"}...]}) becomes token
// ids plus a supervision mask that is 1 exactly on what the assistant must learn to produce.
// Assistant content may be a string or a list of parts {"type": "text"|"python"|"python_output",
// "text"}; each part is encoded separately. Malformed conversations throw Error with the original's
// messages (e.g. "Message 1 is from user but should be from assistant").
#pragma once
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "nanochat/tokenizer/tokenizer.h"

namespace nanochat {

struct RenderedConversation {
  std::vector<TokenId> ids;
  std::vector<uint8_t> mask;  // 1 = supervised (assistant content, tool calls, <|assistant_end|>)
};

// Truncates ids and mask to max_tokens (default 2048, as the original).
RenderedConversation render_conversation(const Tokenizer& tok, const nlohmann::json& conversation,
                                         size_t max_tokens = 2048);
// Prompt for sampling the last assistant turn: drops it, renders the rest (2048 truncation), appends
// <|assistant_start|>.
std::vector<TokenId> render_for_completion(const Tokenizer& tok, const nlohmann::json& conversation);
// Debug view: each token decoded, green when supervised, red otherwise, joined with '|'.
std::string visualize_tokenization(const Tokenizer& tok, const std::vector<TokenId>& ids,
                                   const std::vector<uint8_t>& mask, bool with_token_id = false);

}  // namespace nanochat
