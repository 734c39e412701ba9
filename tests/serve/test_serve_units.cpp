// Pure pieces of the server: UTF-8 hold-back, the original's JSON text, request schema and
// validation (exact messages and order), the OpenAI request mapping, and the FIFO worker pool.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "nanochat/serve/chat_request.h"
#include "nanochat/serve/json_text.h"
#include "nanochat/serve/openai_request.h"
#include "nanochat/tokenizer/text_stream.h"
#include "nanochat/serve/worker_pool.h"

using namespace nanochat;
using namespace nanochat::serve;
using nlohmann::json;

namespace {

// The 400 message a request gets, or "" when it passes.
std::string validation_message(const json& body) {
  try {
    validate_chat_request(parse_chat_request(body));
    return "";
  } catch (const RequestError& e) {
    EXPECT_EQ(e.status(), 400) << e.what();
    return e.what();
  }
}

json user(const std::string& content) { return json{{"role", "user"}, {"content", content}}; }

std::string repeat(const std::string& s, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

}  // namespace

TEST(TextStream, ReleasesACharacterOnlyWhenItIsComplete) {
  TextStream s;
  EXPECT_EQ(s.push("A"), "A");
  EXPECT_EQ(s.push("\xC3"), "");  // first byte of é
  EXPECT_TRUE(s.holding());
  EXPECT_EQ(s.push("\xA9"), "\xC3\xA9");
  EXPECT_EQ(s.push("\xF0\x9F"), "");
  EXPECT_EQ(s.push("\x98"), "");
  EXPECT_EQ(s.push("\x80 ok"), "\xF0\x9F\x98\x80 ok");
  EXPECT_EQ(s.text(), "A\xC3\xA9\xF0\x9F\x98\x80 ok");
  EXPECT_FALSE(s.holding());
  EXPECT_EQ(s.flush(), "");
}

TEST(TextStream, InvalidBytesInTheMiddleBecomeReplacementOnceTextFollows) {
  TextStream s;
  EXPECT_EQ(s.push("\xFF"), "");                 // ends in U+FFFD: held
  EXPECT_EQ(s.push("x"), "\xEF\xBF\xBDx");      // now clean
  EXPECT_EQ(s.push("\xEF\xBF\xBD"), "");         // a genuine trailing U+FFFD is held too (parity)
  EXPECT_EQ(s.push("y"), "\xEF\xBF\xBDy");
  EXPECT_EQ(s.push("\xE4\xBD"), "");             // incomplete at the end ...
  EXPECT_EQ(s.flush(), "\xEF\xBF\xBD");          // ... is flushed as one U+FFFD (maximal subpart)
  EXPECT_EQ(s.text(), "\xEF\xBF\xBDx\xEF\xBF\xBDy\xEF\xBF\xBD");
}

TEST(JsonText, MatchesPythonJsonDumpsWithoutAsciiEscaping) {
  EXPECT_EQ(python_json_string("The"), "\"The\"");
  EXPECT_EQ(python_json_string("a\"b\\c\nd\re\tf\bg\fh\x01\x1f\x7f"),
            "\"a\\\"b\\\\c\\nd\\re\\tf\\bg\\fh\\u0001\\u001f\x7f\"");
  EXPECT_EQ(python_json_string("\xC3\xA9\xF0\x9F\x98\x80"), "\"\xC3\xA9\xF0\x9F\x98\x80\"");  // raw UTF-8
  EXPECT_EQ(nanochat_token_event(" sky", 3), "data: {\"token\": \" sky\", \"gpu\": 3}\n\n");
  EXPECT_EQ(nanochat_done_event(), "data: {\"done\": true}\n\n");
}

TEST(ChatRequest, ValidationRulesAndMessagesInTheOriginalsOrder) {
  EXPECT_EQ(validation_message(json{{"messages", json::array()}}), "At least one message is required");
  json many = json::array();
  for (int i = 0; i < 501; ++i) many.push_back(user("x"));
  EXPECT_EQ(validation_message(json{{"messages", many}}), "Too many messages. Maximum 500 messages allowed per request");
  many.erase(many.begin());
  EXPECT_EQ(validation_message(json{{"messages", many}}), "");  // 500 is fine
  EXPECT_EQ(validation_message(json{{"messages", {user("a"), user("")}}}), "Message 1 has empty content");
  EXPECT_EQ(validation_message(json{{"messages", {user(" ")}}}), "");  // whitespace passes
  EXPECT_EQ(validation_message(json{{"messages", {user("a"), user("b"), user(std::string(8001, 'x'))}}}),
            "Message 2 is too long. Maximum 8000 characters allowed per message");
  // Lengths are code points: 8000 two-byte characters pass, 8001 fail.
  EXPECT_EQ(validation_message(json{{"messages", {user(repeat("\xC3\xA9", 8000))}}}), "");
  EXPECT_EQ(validation_message(json{{"messages", {user(repeat("\xC3\xA9", 8001))}}}),
            "Message 0 is too long. Maximum 8000 characters allowed per message");
  const std::string full(8000, 'x');
  EXPECT_EQ(validation_message(json{{"messages", {user(full), user(full), user(full), user(full)}}}), "");
  EXPECT_EQ(validation_message(json{{"messages", {user(full), user(full), user(full), user(full), user("y")}}}),
            "Total conversation is too long. Maximum 32000 characters allowed");
  // The role check comes after the length checks, and rejects 'system' despite its message.
  EXPECT_EQ(validation_message(json{{"messages", {json{{"role", "system"}, {"content", "s"}}, user("")}}}),
            "Message 1 has empty content");
  EXPECT_EQ(validation_message(json{{"messages", {user("a"), json{{"role", "system"}, {"content", "s"}}}}}),
            "Message 1 has invalid role. Must be 'user', 'assistant', or 'system'");
  EXPECT_EQ(validation_message(json{{"messages", {json{{"role", "User"}, {"content", "s"}}}}}),
            "Message 0 has invalid role. Must be 'user', 'assistant', or 'system'");
  // Order and alternation are not checked.
  EXPECT_EQ(validation_message(json{{"messages", {json{{"role", "assistant"}, {"content", "a"}}, user("b"), user("c")}}}), "");

  const json one = json::array({user("hi")});
  auto with = [&](const char* k, json v) { return json{{"messages", one}, {k, v}}; };
  EXPECT_EQ(validation_message(with("temperature", 2.0)), "");
  EXPECT_EQ(validation_message(with("temperature", 0.0)), "");
  EXPECT_EQ(validation_message(with("temperature", 2.0001)), "Temperature must be between 0.0 and 2.0");
  EXPECT_EQ(validation_message(with("temperature", -0.1)), "Temperature must be between 0.0 and 2.0");
  EXPECT_EQ(validation_message(with("temperature", "inf")), "Temperature must be between 0.0 and 2.0");
  EXPECT_EQ(validation_message(with("temperature", "nan")), "Temperature must be between 0.0 and 2.0");
  EXPECT_EQ(validation_message(with("top_k", 0)), "");
  EXPECT_EQ(validation_message(with("top_k", 200)), "");
  EXPECT_EQ(validation_message(with("top_k", 201)), "top_k must be between 0 and 200");
  EXPECT_EQ(validation_message(with("top_k", -1)), "top_k must be between 0 and 200");
  EXPECT_EQ(validation_message(with("top_k", 1e30)), "top_k must be between 0 and 200");
  EXPECT_EQ(validation_message(with("max_tokens", 0)), "max_tokens must be between 1 and 4096");
  EXPECT_EQ(validation_message(with("max_tokens", 4096)), "");
  EXPECT_EQ(validation_message(with("max_tokens", 4097)), "max_tokens must be between 1 and 4096");
  EXPECT_EQ(validation_message(with("max_tokens", nullptr)), "");
  // First failure wins: temperature before top_k before max_tokens.
  EXPECT_EQ(validation_message(json{{"messages", one}, {"temperature", 5}, {"top_k", 500}, {"max_tokens", 0}}),
            "Temperature must be between 0.0 and 2.0");
  EXPECT_EQ(validation_message(json{{"messages", one}, {"top_k", 500}, {"max_tokens", 0}}), "top_k must be between 0 and 200");
}

TEST(ChatRequest, SchemaErrorsAre422WithPydanticStyleDetail) {
  auto schema_error = [](const std::string& body) -> json {
    try {
      parse_chat_request(parse_json_body(body));
    } catch (const RequestError& e) {
      EXPECT_EQ(e.status(), 422);
      return e.detail();
    }
    ADD_FAILURE() << "accepted: " << body;
    return nullptr;
  };
  EXPECT_EQ(schema_error("{not json")[0]["type"], "json_invalid");
  EXPECT_EQ(schema_error("{}")[0]["type"], "missing");
  EXPECT_EQ(schema_error("{}")[0]["loc"], json::array({"body", "messages"}));
  EXPECT_EQ(schema_error("[]")[0]["type"], "model_attributes_type");
  EXPECT_EQ(schema_error(R"({"messages": "hi"})")[0]["type"], "list_type");
  EXPECT_EQ(schema_error(R"({"messages": [{"role": "user"}]})")[0]["loc"], json::array({"body", "messages", 0, "content"}));
  EXPECT_EQ(schema_error(R"({"messages": [{"role": "user", "content": 5}]})")[0]["type"], "string_type");
  EXPECT_EQ(schema_error(R"({"messages": [], "top_k": 1.5})")[0]["type"], "int_from_float");
  EXPECT_EQ(schema_error(R"({"messages": [], "top_k": "many"})")[0]["type"], "int_parsing");
  EXPECT_EQ(schema_error(R"({"messages": [], "temperature": "warm"})")[0]["type"], "float_parsing");
  EXPECT_EQ(schema_error(R"({"messages": [], "temperature": [1]})")[0]["type"], "float_type");
  // Lax coercions and ignored fields.
  const ChatRequest r = parse_chat_request(
      json::parse(R"({"messages": [{"role": "user", "content": "x"}], "temperature": "0.5", "top_k": 2.0,
                      "max_tokens": "7", "stream": false, "model": "m"})"));
  EXPECT_EQ(*r.temperature, 0.5);
  EXPECT_EQ(*r.top_k, 2);
  EXPECT_EQ(*r.max_tokens, 7);
}

TEST(OpenAIRequest, MapsOntoAChatRequest) {
  const auto r = parse_openai_request(json::parse(R"({"model": "whatever", "messages": [
      {"role": "system", "content": "Be brief."},
      {"role": "user", "content": [{"type": "text", "text": "Hi "}, {"type": "text", "text": "there"}]},
      {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Bye"}],
      "temperature": 0, "top_p": 0.9, "max_completion_tokens": 9, "top_k": 3, "seed": 11, "n": 1, "stop": null,
      "stream": true, "stream_options": {"include_usage": true}})"));
  ASSERT_EQ(r.chat.messages.size(), 3u);
  EXPECT_EQ(r.chat.messages[0].role, "user");
  EXPECT_EQ(r.chat.messages[0].content, "Be brief.\n\nHi there");
  EXPECT_EQ(r.chat.messages[2].content, "Bye");
  EXPECT_EQ(*r.chat.temperature, 0.0);
  EXPECT_EQ(*r.chat.max_tokens, 9);
  EXPECT_EQ(*r.chat.top_k, 3);
  EXPECT_EQ(*r.seed, 11u);
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);

  auto error = [](const std::string& body) -> std::pair<std::string, std::string> {
    try {
      parse_openai_request(json::parse(body));
    } catch (const RequestError& e) {
      EXPECT_EQ(e.status(), 400);
      return {e.what(), e.param()};
    }
    return {"accepted", ""};
  };
  EXPECT_EQ(error(R"({})"), (std::pair<std::string, std::string>{"'messages' is required", "messages"}));
  EXPECT_EQ(error(R"({"messages": []})").first, "At least one message is required");
  EXPECT_EQ(error(R"({"messages": [{"role": "user", "content": "x"}], "temperature": 2.5})"),
            (std::pair<std::string, std::string>{"Temperature must be between 0.0 and 2.0", "temperature"}));
  EXPECT_EQ(error(R"({"messages": [{"role": "user", "content": "x"}], "temperature": "hot"})").second, "temperature");
  EXPECT_EQ(error(R"({"messages": [{"role": "user", "content": "x"}], "n": 2})").second, "n");
  EXPECT_EQ(error(R"({"messages": [{"role": "user", "content": "x"}], "stop": ["\n"]})").second, "stop");
  EXPECT_EQ(error(R"({"messages": [{"role": "user", "content": "x"}], "top_p": 1.5})").second, "top_p");
  EXPECT_EQ(error(R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0})").first,
            "max_tokens must be between 1 and 4096");
  EXPECT_EQ(error(R"({"messages": [{"role": "tool", "content": "x"}]})").second, "messages");
  EXPECT_EQ(error(R"({"messages": [{"role": "system", "content": "x"}]})").first,
            "A system message must be followed by a user message");
  EXPECT_EQ(error(R"({"messages": [{"role": "user", "content": "x"}, {"role": "system", "content": "x"}]})").second,
            "messages");
  EXPECT_EQ(error(R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})").second, "messages");
}

namespace {
struct NullGenerator : Generator {
  void generate(std::span<const nanochat::TokenId>, const SamplingParams&, const std::function<bool(nanochat::TokenId)>&) const override {}
};
}  // namespace

TEST(WorkerPool, ServesWaitersInArrivalOrderAndBoundsTheQueue) {
  NullGenerator gen;
  WorkerPool pool({Worker{0, "cpu", &gen}}, /*max_queue=*/3);
  auto first = pool.acquire();
  ASSERT_TRUE(first);
  EXPECT_EQ(pool.snapshot().available, 0u);
  std::vector<int> order;
  std::mutex mu;
  std::vector<std::thread> waiters;
  for (int i = 0; i < 3; ++i) {
    waiters.emplace_back([&, i] {
      auto lease = pool.acquire();
      ASSERT_TRUE(lease);
      std::lock_guard<std::mutex> lock(mu);
      order.push_back(i);
    });
    // Let each waiter enqueue before the next one arrives.
    while (pool.snapshot().queued != static_cast<size_t>(i + 1)) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_FALSE(pool.acquire());  // the queue holds 3: the fourth is refused at once
  first.reset();
  for (auto& t : waiters) t.join();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
  const auto s = pool.snapshot();
  EXPECT_EQ(s.available, 1u);
  EXPECT_EQ(s.queued, 0u);
  pool.shutdown();
  EXPECT_FALSE(pool.acquire());
}
