// A bounded load test on loopback: rounds of 32 concurrent streaming clients (both APIs) on 4 workers
// that share one model, mixed with malformed, oversized and abandoned requests. Every valid request
// must get a complete, well-formed stream whose greedy text equals a serial engine run (so sharing
// the model between threads changes nothing), every bad one a 4xx with a message; the server must
// keep answering, give every worker back, and not grow its memory from round to round.
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "serve_test_support.h"

using namespace nanochat;
using namespace nanochat::test;
using nlohmann::json;

namespace {

// Resident set size of this process (the server runs in it), from /proc/self/statm.
double rss_mib() {
  std::ifstream statm("/proc/self/statm");
  long pages_total = 0, pages_resident = 0;
  statm >> pages_total >> pages_resident;
  return static_cast<double>(pages_resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

const std::vector<std::string> kQuestions = {"Why is the sky blue?", "Write a haiku about rain.",
                                             "What is 12 times 7?", "Name three rivers in Europe."};

// A malformed or abusive request, and the status range it must get.
struct BadRequest {
  std::string name;
  std::string raw;  // exact bytes sent
  int min_status = 400, max_status = 499;
};

std::string post_raw(const std::string& path, const std::string& body) {
  return "POST " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::vector<BadRequest> bad_requests() {
  std::vector<BadRequest> bad;
  bad.push_back({"invalid JSON", post_raw("/chat/completions", "{\"messages\": [")});
  bad.push_back({"empty messages", post_raw("/chat/completions", R"({"messages": []})")});
  bad.push_back({"bad temperature", post_raw("/chat/completions", R"({"messages": [{"role":"user","content":"x"}], "temperature": 9})")});
  bad.push_back({"over-long prompt", post_raw("/chat/completions", json{{"messages", {{{"role", "user"}, {"content", std::string(600, 'z')}}}}}.dump())});
  bad.push_back({"oversized body", post_raw("/chat/completions", std::string(2 << 20, 'x'))});
  bad.push_back({"garbage request line", "BLAH\r\n\r\n"});
  bad.push_back({"deeply nested JSON", post_raw("/v1/chat/completions", std::string(100000, '[') + std::string(100000, ']'))});
  bad.push_back({"invalid UTF-8", post_raw("/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"\xFF\xFE\"}]}")});
  bad.push_back({"OpenAI tool role", post_raw("/v1/chat/completions", R"({"messages": [{"role":"tool","content":"x"}]})")});
  bad.push_back({"unknown path", "GET /admin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"});
  return bad;
}

}  // namespace

TEST(ServeLoad, ConcurrentStreamsAndBadRequestsOverRounds) {
  NC_REQUIRE_SHARED(path, "golden/gpt_tiny_gqa_window.safetensors");
  const auto model = load_golden_model(path);
  const serve::EngineGenerator generator(*model, byte_tokenizer(), /*threads=*/1);
  std::vector<serve::Worker> workers;
  for (int i = 0; i < 4; ++i) workers.push_back({i, "cpu", &generator});
  serve::ServerOptions opt;
  opt.context_length = 256;
  opt.max_queue = 0;
  opt.http_threads = 64;
  TestServer server(opt, std::move(workers));
  const int max_tokens = 24;
  std::vector<std::string> expected;
  for (const auto& q : kQuestions) expected.push_back(greedy_reference(*model, {{"user", q}}, max_tokens).text);

  const auto bad = bad_requests();
  // NANOCHAT_LOAD_ROUNDS raises the round count for a longer soak by hand.
  const char* rounds_env = std::getenv("NANOCHAT_LOAD_ROUNDS");
  const int kRounds = rounds_env != nullptr ? std::max(3, std::atoi(rounds_env)) : 5, kClients = 32;
  std::vector<double> rss;
  int64_t valid_ok = 0, bad_ok = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int round = 0; round < kRounds; ++round) {
    std::vector<std::string> failures(kClients + bad.size() + 2);
    std::vector<std::thread> threads;
    for (int c = 0; c < kClients; ++c) {
      threads.emplace_back([&, c] {
        const size_t q = static_cast<size_t>(c) % kQuestions.size();
        json body{{"messages", {{{"role", "user"}, {"content", kQuestions[q]}}}}, {"temperature", 0}, {"max_tokens", max_tokens}};
        const bool openai = c % 2 == 1;
        if (openai) {
          body["stream"] = true;
          body["stream_options"] = {{"include_usage", true}};
        }
        const auto r = http_request(server.port(), "POST", openai ? "/v1/chat/completions" : "/chat/completions", body.dump());
        std::string& fail = failures[static_cast<size_t>(c)];
        if (r.status != 200 || !r.framing_ok) {
          fail = "status " + std::to_string(r.status);
          return;
        }
        bool ok = false;
        std::string text;
        if (!openai) {
          text = nanochat_stream_text(r.body, &ok, -1 /*any worker: checked below*/);
          ok = true;
          bool framing = false;
          const auto frames = sse_payloads(r.body, &framing);
          ok = framing && frames.back() == R"({"done": true})";
          text.clear();
          for (size_t i = 0; i + 1 < frames.size(); ++i) {
            const json e = json::parse(frames[i]);
            if (!e.contains("token") || !e["gpu"].is_number_integer() || e["gpu"] < 0 || e["gpu"] > 3) ok = false;
            text += e.value("token", "");
          }
        } else {
          const auto frames = sse_payloads(r.body, &ok);
          ok = ok && frames.size() >= 4 && frames.back() == "[DONE]" &&
               json::parse(frames[frames.size() - 2])["usage"]["total_tokens"].is_number_integer();
          for (size_t i = 1; ok && i + 3 < frames.size(); ++i)
            text += json::parse(frames[i])["choices"][0]["delta"]["content"].get<std::string>();
        }
        if (!ok) fail = "malformed stream";
        else if (text != expected[q]) fail = "text differs from the serial run: '" + text + "'";
      });
    }
    for (size_t b = 0; b < bad.size(); ++b) {
      threads.emplace_back([&, b] {
        const auto start = std::chrono::steady_clock::now();
        const HttpResponse r = parse_http_response(raw_exchange(server.port(), bad[b].raw));
        std::string message;
        try {
          const json j = json::parse(r.body);
          message = j.contains("detail") ? j["detail"].dump() : j["error"]["message"].dump();
        } catch (const std::exception&) {
        }
        if (r.status < bad[b].min_status || r.status > bad[b].max_status || message.size() <= 2)
          failures[kClients + b] = bad[b].name + ": status " + std::to_string(r.status) + " body " + r.body.substr(0, 200);
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (secs > 1.0) std::printf("slow: %s took %.2f s\n", bad[b].name.c_str(), secs);
      });
    }
    // A client that hangs up mid-stream, and one that sends half a body and vanishes.
    threads.emplace_back([&] {
      post_and_hang_up(server.port(), "/chat/completions",
                       json{{"messages", {{{"role", "user"}, {"content", "hello"}}}}, {"max_tokens", 200}}.dump(), 1);
    });
    threads.emplace_back([&] {
      raw_exchange(server.port(), "POST /chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{\"messages\"", 200);
    });
    for (auto& t : threads) t.join();
    for (size_t i = 0; i < failures.size(); ++i) {
      EXPECT_EQ(failures[i], "") << "round " << round << " client " << i;
      if (failures[i].empty() && i < kClients) ++valid_ok;
      if (failures[i].empty() && i >= kClients && i < kClients + bad.size()) ++bad_ok;
    }
    // Every worker comes back and nothing is left waiting.
    json stats;
    for (int i = 0; i < 500; ++i) {
      stats = json::parse(http_request(server.port(), "GET", "/stats").body);
      if (stats["available_workers"] == 4) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_EQ(stats["available_workers"], 4);
    EXPECT_EQ(stats["queued_requests"], 0);
    rss.push_back(rss_mib());
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::string rss_text;
  for (const double r : rss) rss_text += fmt::format(" {:.1f}", r);
  std::printf("load: %d rounds x (%d streams + %zu bad + 2 abandoned) in %.2f s; %lld/%d streams ok, %lld/%zu bad "
              "requests refused properly; RSS MiB after each round:%s\n",
              kRounds, kClients, bad.size(), seconds, static_cast<long long>(valid_ok), kRounds * kClients,
              static_cast<long long>(bad_ok), kRounds * bad.size(), rss_text.c_str());
  // The first round warms up (thread stacks, allocator arenas, tokenizer caches); after it the
  // resident size must stay flat.
  EXPECT_LT(rss.back() - rss[1], 4.0) << rss_text;
  EXPECT_EQ(http_request(server.port(), "GET", "/health").status, 200);
}
