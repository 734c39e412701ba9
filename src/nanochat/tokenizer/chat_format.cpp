#include "nanochat/tokenizer/chat_format.h"

#include <nlohmann/json.hpp>

#include "nanochat/core/error.h"

namespace nanochat {

using json = nlohmann::json;

namespace {

struct ChatIds {
  TokenId bos, user_start, user_end, assistant_start, assistant_end, python_start, python_end, output_start, output_end;
  explicit ChatIds(const Tokenizer& t)
      : bos(t.encode_special("<|bos|>")),
        user_start(t.encode_special("<|user_start|>")),
        user_end(t.encode_special("<|user_end|>")),
        assistant_start(t.encode_special("<|assistant_start|>")),
        assistant_end(t.encode_special("<|assistant_end|>")),
        python_start(t.encode_special("<|python_start|>")),
        python_end(t.encode_special("<|python_end|>")),
        output_start(t.encode_special("<|output_start|>")),
        output_end(t.encode_special("<|output_end|>")) {}
};

const json& messages_of(const json& conversation) {
  NC_CHECK(conversation.is_object() && conversation.contains("messages") && conversation["messages"].is_array(),
           "conversation must be an object with a 'messages' list");
  return conversation["messages"];
}

std::string role_of(const json& message, size_t i) {
  NC_CHECK(message.is_object() && message.contains("role") && message["role"].is_string(),
           "Message {} has no 'role' string", i);
  NC_CHECK(message.contains("content"), "Message {} has no 'content'", i);
  return message["role"].get<std::string>();
}

}  // namespace

RenderedConversation render_conversation(const Tokenizer& tok, const json& conversation, size_t max_tokens) {
  json messages = messages_of(conversation);  // a copy: the system merge must not touch the caller's data
  if (!messages.empty() && role_of(messages[0], 0) == "system") {
    NC_CHECK(messages.size() >= 2 && role_of(messages[1], 1) == "user",
             "System message must be followed by a user message");
    NC_CHECK(messages[0]["content"].is_string() && messages[1]["content"].is_string(),
             "System and first user message content must be strings");
    messages[1]["content"] =
        messages[0]["content"].get<std::string>() + "\n\n" + messages[1]["content"].get<std::string>();
    messages.erase(messages.begin());
  }
  NC_CHECK(!messages.empty(), "Conversation has no messages");

  const ChatIds s(tok);
  RenderedConversation out;
  auto add = [&](TokenId id, uint8_t m) {
    out.ids.push_back(id);
    out.mask.push_back(m);
  };
  auto add_text = [&](const std::string& text, uint8_t m) {
    for (TokenId id : tok.encode(text)) add(id, m);
  };

  add(s.bos, 0);
  for (size_t i = 0; i < messages.size(); ++i) {
    const json& msg = messages[i];
    const std::string role = role_of(msg, i);
    const char* expected = i % 2 == 0 ? "user" : "assistant";
    NC_CHECK(role == expected, "Message {} is from {} but should be from {}", i, role, expected);
    const json& content = msg["content"];
    if (role == "user") {
      NC_CHECK(content.is_string(), "User messages are simply expected to be strings (message {})", i);
      add(s.user_start, 0);
      add_text(content.get<std::string>(), 0);
      add(s.user_end, 0);
      continue;
    }
    add(s.assistant_start, 0);
    if (content.is_string()) {
      add_text(content.get<std::string>(), 1);
    } else if (content.is_array()) {
      for (const json& part : content) {
        NC_CHECK(part.is_object() && part.contains("type") && part["type"].is_string() && part.contains("text") &&
                     part["text"].is_string(),
                 "Message {}: each part needs string 'type' and 'text'", i);
        const std::string type = part["type"].get<std::string>();
        const std::vector<TokenId> ids = tok.encode(part["text"].get<std::string>());
        if (type == "text") {
          for (TokenId id : ids) add(id, 1);
        } else if (type == "python") {
          add(s.python_start, 1);
          for (TokenId id : ids) add(id, 1);
          add(s.python_end, 1);
        } else if (type == "python_output") {
          add(s.output_start, 0);
          for (TokenId id : ids) add(id, 0);
          add(s.output_end, 0);
        } else {
          fail("Unknown part type: {}", type);
        }
      }
    } else {
      fail("Unknown content type");
    }
    add(s.assistant_end, 1);
  }
  if (out.ids.size() > max_tokens) {
    out.ids.resize(max_tokens);
    out.mask.resize(max_tokens);
  }
  return out;
}

std::vector<TokenId> render_for_completion(const Tokenizer& tok, const json& conversation) {
  const json& messages = messages_of(conversation);
  NC_CHECK(!messages.empty() && role_of(messages.back(), messages.size() - 1) == "assistant",
           "Last message must be from the Assistant");
  json copy = conversation;
  copy["messages"].erase(copy["messages"].end() - 1);
  RenderedConversation r = render_conversation(tok, copy);
  r.ids.push_back(tok.encode_special("<|assistant_start|>"));
  return r.ids;
}

std::string visualize_tokenization(const Tokenizer& tok, const std::vector<TokenId>& ids,
                                   const std::vector<uint8_t>& mask, bool with_token_id) {
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) out += '|';
    out += (i < mask.size() && mask[i]) ? "\033[92m" : "\033[91m";
    out += tok.id_to_token(ids[i]);
    out += "\033[0m";
    if (with_token_id) out += "\033[90m(" + std::to_string(ids[i]) + ")\033[0m";
  }
  return out;
}

}  // namespace nanochat
