#include "nanochat/serve/prompt.h"

#include "nanochat/core/error.h"

namespace nanochat::serve {

std::vector<TokenId> build_chat_prompt(const Tokenizer& tok, const std::vector<ChatMessage>& messages) {
  const TokenId user_start = tok.encode_special("<|user_start|>"), user_end = tok.encode_special("<|user_end|>");
  const TokenId assistant_start = tok.encode_special("<|assistant_start|>");
  const TokenId assistant_end = tok.encode_special("<|assistant_end|>");
  std::vector<TokenId> ids{tok.bos_id()};
  for (const ChatMessage& m : messages) {
    const bool user = m.role == "user";
    NC_CHECK(user || m.role == "assistant", "build_chat_prompt: unsupported role '{}'", m.role);
    ids.push_back(user ? user_start : assistant_start);
    tok.encode_into(m.content, ids);
    ids.push_back(user ? user_end : assistant_end);
  }
  ids.push_back(assistant_start);
  return ids;
}

}  // namespace nanochat::serve
