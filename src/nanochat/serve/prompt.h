// The prompt of a chat request (spec serving §1.7.3): <|bos|>, each message as
// <|user_start|> text <|user_end|> or <|assistant_start|> text <|assistant_end|>, then
// <|assistant_start|> to prime the reply. Text is encoded as ordinary text, so special-token strings
// typed by a user never become control tokens. Order and alternation are not checked (as the original).
#pragma once
#include <vector>

#include "nanochat/serve/chat_request.h"
#include "nanochat/tokenizer/tokenizer.h"

namespace nanochat::serve {

std::vector<TokenId> build_chat_prompt(const Tokenizer& tok, const std::vector<ChatMessage>& messages);

}  // namespace nanochat::serve
