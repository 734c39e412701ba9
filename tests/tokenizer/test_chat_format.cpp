#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "nanochat/core/error.h"
#include "nanochat/tokenizer/chat_format.h"
#include "nanochat/tokenizer/tokenizer.h"

using namespace nanochat;
using json = nlohmann::json;

namespace {
const Tokenizer& tok() {
  // A byte-level tokenizer plus a few merges is enough: rendering only concatenates encode() outputs.
  static const Tokenizer t = Tokenizer::from_merges(std::vector<std::pair<TokenId, TokenId>>{{'h', 'i'}, {'e', 'l'}});
  return t;
}
TokenId sp(const char* s) { return tok().encode_special(s); }
std::vector<TokenId> enc(const std::string& s) { return tok().encode(s); }

void expect_error(const json& conv, const std::string& message) {
  try {
    render_conversation(tok(), conv);
    FAIL() << "expected: " << message;
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), message);
  }
}
}  // namespace

TEST(ChatFormat, SimpleExchangeMatchesSpecLayout) {
  const json conv = {{"messages", {{{"role", "user"}, {"content", "hi"}}, {{"role", "assistant"}, {"content", "hello!"}}}}};
  const auto r = render_conversation(tok(), conv);
  std::vector<TokenId> ids{sp("<|bos|>"), sp("<|user_start|>")};
  std::vector<uint8_t> mask{0, 0};
  for (auto id : enc("hi")) ids.push_back(id), mask.push_back(0);
  ids.push_back(sp("<|user_end|>")), mask.push_back(0);
  ids.push_back(sp("<|assistant_start|>")), mask.push_back(0);
  for (auto id : enc("hello!")) ids.push_back(id), mask.push_back(1);
  ids.push_back(sp("<|assistant_end|>")), mask.push_back(1);
  EXPECT_EQ(r.ids, ids);
  EXPECT_EQ(r.mask, mask);
}

TEST(ChatFormat, ToolPartsAreMaskedAsTheOriginal) {
  const json parts = json::array({{{"type", "text"}, {"text", "It costs $"}},
                                  {{"type", "python"}, {"text", "12/60"}},
                                  {{"type", "python_output"}, {"text", "0.2"}},
                                  {{"type", "text"}, {"text", ""}},
                                  {{"type", "text"}, {"text", "0.2 per minute"}}});
  const json conv = {{"messages", {{{"role", "user"}, {"content", "q"}}, {{"role", "assistant"}, {"content", parts}}}}};
  const auto r = render_conversation(tok(), conv);
  std::vector<TokenId> ids;
  std::vector<uint8_t> mask;
  auto put = [&](const std::vector<TokenId>& v, uint8_t m) {
    for (auto id : v) ids.push_back(id), mask.push_back(m);
  };
  put({sp("<|bos|>"), sp("<|user_start|>")}, 0);
  put(enc("q"), 0);
  put({sp("<|user_end|>"), sp("<|assistant_start|>")}, 0);
  put(enc("It costs $"), 1);
  put({sp("<|python_start|>")}, 1);
  put(enc("12/60"), 1);
  put({sp("<|python_end|>")}, 1);
  put({sp("<|output_start|>")}, 0);
  put(enc("0.2"), 0);
  put({sp("<|output_end|>")}, 0);
  put(enc("0.2 per minute"), 1);  // the empty part contributed nothing
  put({sp("<|assistant_end|>")}, 1);
  EXPECT_EQ(r.ids, ids);
  EXPECT_EQ(r.mask, mask);
}

TEST(ChatFormat, SystemMessageMergesIntoFirstUserMessage) {
  const json with_system = {{"messages", {{{"role", "system"}, {"content", "sys prompt"}}, {{"role", "user"}, {"content", "hi"}}}}};
  const json merged = {{"messages", {{{"role", "user"}, {"content", "sys prompt\n\nhi"}}}}};
  EXPECT_EQ(render_conversation(tok(), with_system).ids, render_conversation(tok(), merged).ids);
  EXPECT_EQ(with_system["messages"].size(), 2u);  // the caller's conversation is untouched
}

TEST(ChatFormat, ValidationErrorsUseTheOriginalMessages) {
  expect_error({{"messages", {{{"role", "system"}, {"content", "s"}}, {{"role", "assistant"}, {"content", "a"}}}}},
               "System message must be followed by a user message");
  expect_error({{"messages", {{{"role", "assistant"}, {"content", "a"}}}}},
               "Message 0 is from assistant but should be from user");
  expect_error({{"messages", {{{"role", "user"}, {"content", "a"}}, {{"role", "user"}, {"content", "b"}}}}},
               "Message 1 is from user but should be from assistant");
  expect_error({{"messages", {{{"role", "user"}, {"content", "a"}}, {{"role", "assistant"}, {"content", 5}}}}},
               "Unknown content type");
  expect_error({{"messages",
                 {{{"role", "user"}, {"content", "a"}},
                  {{"role", "assistant"}, {"content", {{{"type", "image"}, {"text", "x"}}}}}}}},
               "Unknown part type: image");
  expect_error({{"messages", json::array()}}, "Conversation has no messages");
  expect_error(json::object(), "conversation must be an object with a 'messages' list");
}

TEST(ChatFormat, TruncationAndCompletionPrompt) {
  const std::string long_text(3000, 'x');
  const json conv = {{"messages", {{{"role", "user"}, {"content", long_text}}, {{"role", "assistant"}, {"content", "ok"}}}}};
  const auto r = render_conversation(tok(), conv);
  EXPECT_EQ(r.ids.size(), 2048u);
  EXPECT_EQ(r.mask.size(), 2048u);
  EXPECT_EQ(render_conversation(tok(), conv, 10).ids.size(), 10u);
  const auto prompt = render_for_completion(tok(), conv);
  EXPECT_EQ(prompt.size(), 2049u);  // 2048 truncation, then <|assistant_start|>
  EXPECT_EQ(prompt.back(), sp("<|assistant_start|>"));

  const json short_conv = {{"messages", {{{"role", "user"}, {"content", "hi"}}, {{"role", "assistant"}, {"content", "yo"}}}}};
  const auto p = render_for_completion(tok(), short_conv);
  auto full = render_conversation(tok(), short_conv).ids;
  full.resize(full.size() - enc("yo").size() - 1);  // drop the answer and <|assistant_end|>
  EXPECT_EQ(p, full);
  try {
    render_for_completion(tok(), {{"messages", {{{"role", "user"}, {"content", "hi"}}}}});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "Last message must be from the Assistant");
  }
}

TEST(ChatFormat, VisualizeColorsByMask) {
  const auto v = visualize_tokenization(tok(), {'a', 'b'}, {0, 1}, true);
  EXPECT_EQ(v, "\033[91ma\033[0m\033[90m(97)\033[0m|\033[92mb\033[0m\033[90m(98)\033[0m");
}
