// The server over real loopback HTTP: the original's endpoints, stream format and validation
// messages, the UTF-8 hold-back, the OpenAI-compatible API, CORS, the context check, the queue, and
// a client that hangs up mid-stream.
#include <set>

#include "serve_test_support.h"

using namespace nanochat;
using namespace nanochat::test;
using nlohmann::json;

namespace {

const model::GPT<float>* golden() {
  static std::unique_ptr<model::GPT<float>> m = [] {
    const auto path = shared_path("golden/gpt_tiny_gqa_window.safetensors");
    return path.empty() ? nullptr : load_golden_model(path);
  }();
  return m.get();
}

#define REQUIRE_GOLDEN()                                                                              \
  if (golden() == nullptr)                                                                            \
  GTEST_SKIP() << "missing " << (shared_dir() / "golden/gpt_tiny_gqa_window.safetensors").string() \
               << " (set NANOCHAT_SHARED)"

serve::ServerOptions golden_options() {
  serve::ServerOptions o;
  o.context_length = 256;  // the golden model's sequence_len
  o.max_tokens = 24;
  return o;
}

json chat_body(const std::string& text, json extra = json::object()) {
  json body{{"messages", {{{"role", "user"}, {"content", text}}}}};
  for (auto& [k, v] : extra.items()) body[k] = v;
  return body;
}

std::vector<serve::ChatMessage> user_turn(const std::string& text) { return {serve::ChatMessage{"user", text}}; }

}  // namespace

class ServeHttp : public ::testing::Test {
 protected:
  void SetUp() override {
    if (golden() == nullptr) return;
    generator_ = std::make_unique<serve::EngineGenerator>(*golden(), byte_tokenizer());
    server_ = std::make_unique<TestServer>(golden_options(), std::vector<serve::Worker>{{0, "cpu", generator_.get()}});
  }
  int port() const { return server_->port(); }
  HttpResponse post(const std::string& path, const json& body, const HeaderList& h = {}) {
    return http_request(port(), "POST", path, body.dump(), h);
  }
  std::unique_ptr<serve::EngineGenerator> generator_;
  std::unique_ptr<TestServer> server_;
};

TEST_F(ServeHttp, HealthStatsUiAndLogo) {
  REQUIRE_GOLDEN();
  auto r = http_request(port(), "GET", "/health");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_EQ(r.body, R"({"status":"ok","ready":true,"num_gpus":1,"available_workers":1})");
  r = http_request(port(), "GET", "/stats");
  ASSERT_EQ(r.status, 200);
  const json stats = json::parse(r.body);
  EXPECT_EQ(stats["total_workers"], 1);
  EXPECT_EQ(stats["available_workers"], 1);
  EXPECT_EQ(stats["busy_workers"], 0);
  EXPECT_EQ(stats["workers"], json::parse(R"([{"gpu_id":0,"device":"cpu"}])"));
  EXPECT_EQ(stats["queued_requests"], 0);
  r = http_request(port(), "GET", "/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "text/html; charset=utf-8");
  EXPECT_NE(r.body.find("<title>NanoChat</title>"), std::string::npos);
  EXPECT_NE(r.body.find("/chat/completions"), std::string::npos);
  for (const char* external : {"src=\"http", "href=\"http", "url(http", "@import", "src=\"//", "href=\"//"})
    EXPECT_EQ(r.body.find(external), std::string::npos) << external;  // self-contained: no CDN, no fonts
  r = http_request(port(), "GET", "/logo.svg");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "image/svg+xml");
  EXPECT_TRUE(r.body.starts_with("<svg"));
  r = http_request(port(), "GET", "/nope");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, R"({"detail":"Not Found"})");
  r = http_request(port(), "GET", "/chat/completions");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.body, R"({"detail":"Method Not Allowed"})");
  r = http_request(port(), "DELETE", "/health");
  EXPECT_EQ(r.status, 405);
}

TEST_F(ServeHttp, ValidationErrorsAre400WithTheOriginalsDetail) {
  REQUIRE_GOLDEN();
  struct Case {
    json body;
    std::string detail;
  };
  json many = json::array();
  for (int i = 0; i < 501; ++i) many.push_back({{"role", "user"}, {"content", "x"}});
  const std::string full(8000, 'x');
  json five = json::array();
  for (int i = 0; i < 4; ++i) five.push_back({{"role", "user"}, {"content", full}});
  five.push_back({{"role", "assistant"}, {"content", "y"}});
  const std::vector<Case> cases = {
      {json{{"messages", json::array()}}, "At least one message is required"},
      {json{{"messages", many}}, "Too many messages. Maximum 500 messages allowed per request"},
      {json{{"messages", {{{"role", "user"}, {"content", "a"}}, {{"role", "assistant"}, {"content", ""}}}}},
       "Message 1 has empty content"},
      {chat_body(std::string(8001, 'x')), "Message 0 is too long. Maximum 8000 characters allowed per message"},
      {json{{"messages", five}}, "Total conversation is too long. Maximum 32000 characters allowed"},
      {json{{"messages", {{{"role", "system"}, {"content", "a"}}}}},
       "Message 0 has invalid role. Must be 'user', 'assistant', or 'system'"},
      {chat_body("hi", {{"temperature", 2.0001}}), "Temperature must be between 0.0 and 2.0"},
      {chat_body("hi", {{"top_k", 201}}), "top_k must be between 0 and 200"},
      {chat_body("hi", {{"max_tokens", 0}}), "max_tokens must be between 1 and 4096"},
      {chat_body("hi", {{"max_tokens", 4097}}), "max_tokens must be between 1 and 4096"},
  };
  for (const Case& c : cases) {
    const auto r = post("/chat/completions", c.body);
    EXPECT_EQ(r.status, 400) << c.detail;
    EXPECT_EQ(r.header("content-type"), "application/json");
    EXPECT_EQ(r.body, (json{{"detail", c.detail}}.dump())) << c.detail;
  }
  // Schema violations: 422 with a list.
  for (const std::string& body : {std::string("{oops"), std::string(R"({"messages": [{"role": "user", "content": 1}]})"),
                                 std::string(R"({"messages": [], "top_k": 1.5})"), std::string("{}")}) {
    const auto r = http_request(port(), "POST", "/chat/completions", body);
    EXPECT_EQ(r.status, 422) << body;
    const json detail = json::parse(r.body)["detail"];
    EXPECT_TRUE(detail.is_array() && detail.size() == 1 && detail[0].contains("msg")) << r.body;
  }
  // Boundary values, nulls and unknown fields are accepted.
  for (const json& extra : {json{{"temperature", 2.0}, {"top_k", 0}, {"max_tokens", 1}},
                            json{{"top_k", 200}, {"max_tokens", 1}},
                            json{{"temperature", nullptr}, {"top_k", nullptr}, {"max_tokens", 1}, {"stream", false}}}) {
    const auto r = post("/chat/completions", chat_body("hi", extra));
    EXPECT_EQ(r.status, 200) << extra.dump() << r.body;
  }
  const json stats = json::parse(http_request(port(), "GET", "/stats").body);
  EXPECT_EQ(stats["requests"]["rejected"], cases.size() + 4u);  // the 400s and the four 422s
  EXPECT_EQ(stats["requests"]["completed"], 3);
}

TEST_F(ServeHttp, StreamsTheOriginalsEventFormatMatchingTheEngine) {
  REQUIRE_GOLDEN();
  const auto r = post("/chat/completions", chat_body("Why is the sky blue?", {{"temperature", 0}, {"max_tokens", 40}}));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "text/event-stream");
  EXPECT_EQ(r.header("transfer-encoding"), "chunked");
  EXPECT_TRUE(r.framing_ok);
  bool ok = false;
  const std::string text = nanochat_stream_text(r.body, &ok);
  EXPECT_TRUE(ok) << r.body;
  const Reference ref = greedy_reference(*golden(), user_turn("Why is the sky blue?"), 40);
  EXPECT_EQ(text, ref.text);
  EXPECT_EQ(text.find("<|assistant_end|>"), std::string::npos);
  // Greedy is repeatable; sampling differs between requests (a fresh seed each).
  const auto again = post("/chat/completions", chat_body("Why is the sky blue?", {{"temperature", 0}, {"max_tokens", 40}}));
  EXPECT_EQ(again.body, r.body);
  std::set<std::string> sampled;
  for (int i = 0; i < 4; ++i) {
    const auto s = post("/chat/completions", chat_body("Why is the sky blue?", {{"temperature", 1.5}, {"top_k", 0}}));
    bool s_ok = false;
    sampled.insert(nanochat_stream_text(s.body, &s_ok));
    EXPECT_TRUE(s_ok);
  }
  EXPECT_GE(sampled.size(), 2u);
}

TEST_F(ServeHttp, OverlongPromptIs400BeforeAnyStream) {
  REQUIRE_GOLDEN();
  // Byte-level tokens: 300 characters cannot fit a 256-token context.
  auto r = post("/chat/completions", chat_body(std::string(300, 'a')));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_NE(json::parse(r.body)["detail"].get<std::string>().find("too long for the model"), std::string::npos);
  r = post("/v1/chat/completions", chat_body(std::string(300, 'a')));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "context_length_exceeded");
  // A prompt that fits gets a reply cut at the end of the context, whatever max_tokens asks for.
  r = post("/v1/chat/completions", chat_body(std::string(200, 'a'), {{"max_tokens", 4096}, {"temperature", 0}}));
  ASSERT_EQ(r.status, 200) << r.body;
  const json reply = json::parse(r.body);
  const int64_t prompt_tokens = reply["usage"]["prompt_tokens"];
  EXPECT_EQ(prompt_tokens, 204);  // bos, user_start, 200 bytes, user_end, assistant_start
  EXPECT_LE(reply["usage"]["completion_tokens"].get<int64_t>(), 256 - prompt_tokens);
  EXPECT_EQ(http_request(port(), "GET", "/health").body.find("\"available_workers\":1") != std::string::npos, true);
}

TEST_F(ServeHttp, OpenAINonStreamingAndStreamingAgreeWithTheEngine) {
  REQUIRE_GOLDEN();
  const std::string question = "Tell me a story.";
  const Reference ref = greedy_reference(*golden(), user_turn(question), 30);
  auto r = post("/v1/chat/completions", json{{"model", "anything"},
                                             {"messages", {{{"role", "user"}, {"content", question}}}},
                                             {"temperature", 0},
                                             {"max_tokens", 30}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("content-type"), "application/json");
  const json c = json::parse(r.body);
  EXPECT_EQ(c["object"], "chat.completion");
  EXPECT_TRUE(c["id"].get<std::string>().starts_with("chatcmpl-"));
  EXPECT_EQ(c["model"], "nanochat");
  EXPECT_EQ(c["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(c["choices"][0]["message"]["content"], ref.text);
  EXPECT_EQ(c["choices"][0]["finish_reason"], ref.stopped ? "stop" : "length");
  const int64_t prompt_tokens = static_cast<int64_t>(serve::build_chat_prompt(byte_tokenizer(), user_turn(question)).size());
  EXPECT_EQ(c["usage"]["prompt_tokens"], prompt_tokens);
  EXPECT_EQ(c["usage"]["completion_tokens"], ref.completion_tokens);
  EXPECT_EQ(c["usage"]["total_tokens"], prompt_tokens + ref.completion_tokens);

  r = post("/v1/chat/completions", json{{"messages", {{{"role", "user"}, {"content", question}}}},
                                         {"temperature", 0},
                                         {"max_tokens", 30},
                                         {"stream", true},
                                         {"stream_options", {{"include_usage", true}}}});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "text/event-stream");
  bool ok = false;
  const auto frames = sse_payloads(r.body, &ok);
  ASSERT_TRUE(ok) << r.body;
  ASSERT_GE(frames.size(), 4u);
  EXPECT_EQ(frames.back(), "[DONE]");
  const json first = json::parse(frames[0]);
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["choices"][0]["delta"]["role"], "assistant");
  std::string text;
  for (size_t i = 1; i + 3 < frames.size(); ++i) {
    const json chunk = json::parse(frames[i]);
    EXPECT_EQ(chunk["id"], first["id"]);
    EXPECT_TRUE(chunk["choices"][0]["finish_reason"].is_null());
    text += chunk["choices"][0]["delta"]["content"].get<std::string>();
  }
  EXPECT_EQ(text, ref.text);
  const json finish = json::parse(frames[frames.size() - 3]);
  EXPECT_EQ(finish["choices"][0]["finish_reason"], ref.stopped ? "stop" : "length");
  EXPECT_TRUE(finish["choices"][0]["delta"].empty());
  const json usage = json::parse(frames[frames.size() - 2]);
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["completion_tokens"], ref.completion_tokens);
  EXPECT_EQ(usage["usage"]["total_tokens"], prompt_tokens + ref.completion_tokens);

  // A leading system message is merged into the first user message, as nanochat's chat format does.
  const auto sys = post("/v1/chat/completions", json{{"messages", {{{"role", "system"}, {"content", "Be brief."}},
                                                                   {{"role", "user"}, {"content", "Hi"}}}},
                                                      {"temperature", 0}, {"max_tokens", 10}});
  const auto merged = post("/v1/chat/completions", json{{"messages", {{{"role", "user"}, {"content", "Be brief.\n\nHi"}}}},
                                                         {"temperature", 0}, {"max_tokens", 10}});
  EXPECT_EQ(json::parse(sys.body)["choices"], json::parse(merged.body)["choices"]);
  EXPECT_EQ(json::parse(sys.body)["usage"], json::parse(merged.body)["usage"]);
}

TEST_F(ServeHttp, OpenAIErrorsModelsAndUnknownRoutes) {
  REQUIRE_GOLDEN();
  auto r = post("/v1/chat/completions", json{{"model", "x"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, R"({"error":{"message":"'messages' is required","type":"invalid_request_error","param":"messages","code":null}})");
  r = post("/v1/chat/completions", chat_body("hi", {{"temperature", 3}}));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(json::parse(r.body)["error"]["message"], "Temperature must be between 0.0 and 2.0");
  r = post("/v1/chat/completions", chat_body("hi", {{"n", 3}}));
  EXPECT_EQ(json::parse(r.body)["error"]["param"], "n");
  r = http_request(port(), "POST", "/v1/chat/completions", "{\"messages\": [");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(json::parse(r.body)["error"]["type"], "invalid_request_error");
  r = http_request(port(), "GET", "/v1/models");
  ASSERT_EQ(r.status, 200);
  const json models = json::parse(r.body);
  EXPECT_EQ(models["object"], "list");
  ASSERT_EQ(models["data"].size(), 1u);
  EXPECT_EQ(models["data"][0]["id"], "nanochat");
  EXPECT_EQ(models["data"][0]["object"], "model");
  EXPECT_EQ(models["data"][0]["owned_by"], "nanochat");
  r = http_request(port(), "GET", "/v1/nothing");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(json::parse(r.body)["error"]["message"], "Not Found");
  r = http_request(port(), "GET", "/v1/chat/completions");
  EXPECT_EQ(r.status, 405);
}

TEST_F(ServeHttp, CorsLikeStarlettesPermissiveMiddleware) {
  REQUIRE_GOLDEN();
  auto r = http_request(port(), "GET", "/health", "", {{"Origin", "http://example.com"}});
  EXPECT_EQ(r.header("access-control-allow-origin"), "*");
  EXPECT_EQ(r.header("access-control-allow-credentials"), "true");
  r = http_request(port(), "GET", "/health");
  EXPECT_EQ(r.header("access-control-allow-origin"), "");  // only when the request has an Origin
  r = http_request(port(), "OPTIONS", "/chat/completions", "",
                   {{"Origin", "http://example.com"},
                    {"Access-Control-Request-Method", "POST"},
                    {"Access-Control-Request-Headers", "content-type,x-custom"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("access-control-allow-origin"), "http://example.com");
  EXPECT_EQ(r.header("access-control-allow-headers"), "content-type,x-custom");
  EXPECT_NE(r.header("access-control-allow-methods").find("POST"), std::string::npos);
  EXPECT_EQ(r.header("access-control-max-age"), "600");
  EXPECT_EQ(r.header("access-control-allow-credentials"), "true");
  EXPECT_EQ(r.header("vary"), "Origin");
  // A stream carries the header too, and so do errors.
  r = post("/chat/completions", chat_body("hi", {{"max_tokens", 2}}), {{"Origin", "http://a.b"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("access-control-allow-origin"), "*");
  r = post("/chat/completions", json{{"messages", json::array()}}, {{"Origin", "http://a.b"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.header("access-control-allow-origin"), "*");
  r = http_request(port(), "OPTIONS", "/chat/completions");  // not a pre-flight
  EXPECT_EQ(r.status, 405);
}

TEST_F(ServeHttp, OversizedBodyIs413WithADetail) {
  REQUIRE_GOLDEN();
  const auto r = http_request(port(), "POST", "/chat/completions", std::string(2 << 20, ' '));
  EXPECT_EQ(r.status, 413);
  EXPECT_NE(json::parse(r.body)["detail"].get<std::string>().find("too large"), std::string::npos);
}

// --- scripted generators: exact token streams -------------------------------------------------

TEST(ServeScripted, MultiByteCharactersSplitAcrossTokensArriveWhole) {
  const Tokenizer& tok = byte_tokenizer();
  std::vector<TokenId> script;
  for (const unsigned char b : std::string("A\xC3\xA9\xF0\x9F\x98\x80" "B\xFF" "C\xE4\xBD"))
    script.push_back(byte_token(b));
  ScriptedGenerator gen(script);
  serve::ServerOptions o;
  o.context_length = 1000;
  TestServer server(o, {{0, "cpu", &gen}});
  const auto r = http_request(server.port(), "POST", "/chat/completions", chat_body("x").dump());
  ASSERT_EQ(r.status, 200);
  bool ok = false;
  const auto frames = sse_payloads(r.body, &ok);
  ASSERT_TRUE(ok);
  std::vector<std::string> tokens;
  for (size_t i = 0; i + 1 < frames.size(); ++i) tokens.push_back(json::parse(frames[i])["token"]);
  // é and 😀 each arrive once, whole; the invalid FF is released as U+FFFD with the C that follows;
  // the incomplete tail is flushed as one U+FFFD before done.
  const std::vector<std::string> expected{"A", "\xC3\xA9", "\xF0\x9F\x98\x80", "B", "\xEF\xBF\xBD" "C", "\xEF\xBF\xBD"};
  EXPECT_EQ(tokens, expected);
  EXPECT_EQ(frames.back(), R"({"done": true})");
  // Raw UTF-8 on the wire, as Python's ensure_ascii=False.
  EXPECT_NE(r.body.find("\"token\": \"\xF0\x9F\x98\x80\""), std::string::npos);
  (void)tok;
}

TEST(ServeScripted, TerminatorsAreNotSentAndSpecialTokensPassThroughAsText) {
  const Tokenizer& tok = byte_tokenizer();
  ScriptedGenerator gen({byte_token('a'), tok.encode_special("<|python_start|>"), byte_token('1'),
                         tok.encode_special("<|python_end|>"), tok.encode_special("<|assistant_end|>"), byte_token('z')});
  serve::ServerOptions o;
  o.context_length = 1000;
  TestServer server(o, {{0, "cpu", &gen}});
  const auto r = http_request(server.port(), "POST", "/chat/completions", chat_body("x").dump());
  bool ok = false;
  EXPECT_EQ(nanochat_stream_text(r.body, &ok), "a<|python_start|>1<|python_end|>");
  EXPECT_TRUE(ok);
}

TEST(ServeScripted, ClientThatHangsUpFreesTheWorker) {
  // An endless, slow stream of 'a': only a hang-up ends it early.
  ScriptedGenerator gen({}, byte_token('a'), std::chrono::milliseconds(2));
  serve::ServerOptions o;
  o.context_length = 100000;
  TestServer server(o, {{0, "cpu", &gen}});
  for (const char* path : {"/chat/completions", "/v1/chat/completions"}) {
    const int64_t before = gen.emitted();
    json body = chat_body("x", {{"max_tokens", 4096}});
    if (std::string(path).starts_with("/v1")) body["stream"] = true;
    const std::string got = post_and_hang_up(server.port(), path, body.dump(), 200);
    EXPECT_NE(got.find("200 OK"), std::string::npos);
    // The worker comes back long before 4096 tokens (8 s at 2 ms each) could have been generated.
    json stats;
    for (int i = 0; i < 400; ++i) {
      stats = json::parse(http_request(server.port(), "GET", "/stats").body);
      if (stats["available_workers"] == 1) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_EQ(stats["available_workers"], 1) << path;
    EXPECT_LT(gen.emitted() - before, 1000) << path;
  }
  const json stats = json::parse(http_request(server.port(), "GET", "/stats").body);
  EXPECT_EQ(stats["requests"]["cancelled"], 2);
  // The next request is served to the end.
  const auto r = http_request(server.port(), "POST", "/chat/completions", chat_body("x", {{"max_tokens", 5}}).dump());
  bool ok = false;
  EXPECT_EQ(nanochat_stream_text(r.body, &ok), "aaaaa");
  EXPECT_TRUE(ok);
}

TEST(ServeScripted, BusyWorkersQueueRequestsAndAFullQueueGets503) {
  ScriptedGenerator gen({}, byte_token('b'), std::chrono::milliseconds(5));
  serve::ServerOptions o;
  o.context_length = 100000;
  o.max_queue = 1;
  TestServer server(o, {{0, "cpu", &gen}});
  const std::string body = chat_body("x", {{"max_tokens", 60}}).dump();  // ~0.3 s each
  HttpResponse first, second;
  std::thread a([&] { first = http_request(server.port(), "POST", "/chat/completions", body); });
  auto wait_for = [&](const char* key, int value) {
    for (int i = 0; i < 400; ++i) {
      if (json::parse(http_request(server.port(), "GET", "/stats").body)[key] == value) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return false;
  };
  ASSERT_TRUE(wait_for("busy_workers", 1));
  std::thread b([&] { second = http_request(server.port(), "POST", "/chat/completions", body); });
  ASSERT_TRUE(wait_for("queued_requests", 1));
  EXPECT_EQ(json::parse(http_request(server.port(), "GET", "/health").body)["available_workers"], 0);
  const auto third = http_request(server.port(), "POST", "/chat/completions", body);
  EXPECT_EQ(third.status, 503);
  EXPECT_EQ(third.header("retry-after"), "1");
  EXPECT_NE(json::parse(third.body)["detail"].get<std::string>().find("busy"), std::string::npos);
  a.join();
  b.join();
  for (const auto* r : {&first, &second}) {
    bool ok = false;
    EXPECT_EQ(nanochat_stream_text(r->body, &ok), std::string(60, 'b'));
    EXPECT_TRUE(ok);
  }
}
