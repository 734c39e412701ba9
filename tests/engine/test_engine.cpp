#include <gtest/gtest.h>

#include <map>
#include <set>

#include "nanochat/core/error.h"
#include "nanochat/core/safetensors.h"
#include "nanochat/engine/engine.h"
#include "nanochat/engine/sampler.h"
#include "nanochat/engine/tool_state.h"
#include "test_support.h"

using namespace nanochat;
using namespace nanochat::engine;

namespace {

const Tokenizer& byte_tokenizer() {
  // 256 bytes + a few merges + the 9 specials: small enough for the golden models' vocabularies.
  static const Tokenizer t = Tokenizer::from_merges(std::vector<std::pair<TokenId, TokenId>>{{'1', '2'}, {'/', '6'}});
  return t;
}

// The golden GQA/sliding-window model (vocab 300, T 256) with its trained-for-two-steps weights.
std::unique_ptr<model::GPT<float>> golden_model(const std::filesystem::path& path) {
  SafetensorsReader file(path);
  auto m = std::make_unique<model::GPT<float>>(model::GPTConfig::from_json(file.metadata_value("config")));
  m->load(file, "step1.param.");
  return m;
}

std::vector<TokenId> ids(const std::string& s) { return byte_tokenizer().encode(s); }
TokenId sp(const char* s) { return byte_tokenizer().encode_special(s); }

}  // namespace

TEST(Sampler, ArgmaxTopKAndDeterminism) {
  const std::vector<float> logits{0.1f, 2.0f, 2.0f, -1.0f, 1.5f};
  Philox rng(1);
  EXPECT_EQ(sample_token(logits, 0.0, 0, rng), 1);  // first maximum
  EXPECT_EQ(sample_token(logits, 0.0, 3, rng), 1);  // top_k ignored at temperature 0
  for (int i = 0; i < 50; ++i) {
    const auto t = sample_token(logits, 1.0, 2, rng);
    EXPECT_TRUE(t == 1 || t == 2) << t;  // only the two largest survive top-2
  }
  EXPECT_THROW(sample_token(logits, -0.5, 0, rng), Error);
  Philox a(7), b(7), c(8);
  std::vector<int64_t> xa, xb, xc;
  for (int i = 0; i < 64; ++i) {
    xa.push_back(sample_token(logits, 1.0, 0, a));
    xb.push_back(sample_token(logits, 1.0, 0, b));
    xc.push_back(sample_token(logits, 1.0, 0, c));
  }
  EXPECT_EQ(xa, xb);
  EXPECT_NE(xa, xc);
}

TEST(Sampler, FrequenciesFollowTheSoftmax) {
  const std::vector<float> logits{0.0f, std::log(2.0f), std::log(5.0f)};  // p = 1/8, 2/8, 5/8
  Philox rng(3);
  std::map<int64_t, int> count;
  const int n = 40000;
  for (int i = 0; i < n; ++i) count[sample_token(logits, 1.0, 0, rng)]++;
  EXPECT_NEAR(count[0] / double(n), 0.125, 0.01);
  EXPECT_NEAR(count[1] / double(n), 0.25, 0.01);
  EXPECT_NEAR(count[2] / double(n), 0.625, 0.01);
  // temperature 2 flattens: p ∝ sqrt(1, 2, 5)
  std::map<int64_t, int> hot;
  for (int i = 0; i < n; ++i) hot[sample_token(logits, 2.0, 0, rng)]++;
  const double z = 1 + std::sqrt(2.0) + std::sqrt(5.0);
  EXPECT_NEAR(hot[2] / double(n), std::sqrt(5.0) / z, 0.01);
}

TEST(ToolStateMachine, CalculatorResultIsForcedAfterPythonEnd) {
  ToolStateMachine row(byte_tokenizer(), [](const std::string& e) -> std::optional<std::string> {
    if (e == "12/60") return "0.2";
    return std::nullopt;
  });
  std::vector<TokenId> stream{sp("<|python_start|>")};
  for (auto t : ids("12/60")) stream.push_back(t);
  stream.push_back(sp("<|python_end|>"));
  for (TokenId t : stream) {
    const auto [tok, sampled] = row.choose(t);
    EXPECT_TRUE(sampled);
    row.feed(tok);
  }
  std::vector<TokenId> forced;
  const TokenId junk = 'x';
  while (!row.forced().empty()) {
    const auto [tok, sampled] = row.choose(junk);
    EXPECT_FALSE(sampled);  // the sampled token is discarded while forced tokens remain
    forced.push_back(tok);
    row.feed(tok);
  }
  std::vector<TokenId> expect{sp("<|output_start|>")};
  for (auto t : ids("0.2")) expect.push_back(t);
  expect.push_back(sp("<|output_end|>"));
  EXPECT_EQ(forced, expect);
  EXPECT_FALSE(row.completed());
  row.feed(sp("<|assistant_end|>"));
  EXPECT_TRUE(row.completed());
}

TEST(ToolStateMachine, RejectedEmptyAndStrayBlocksForceNothing) {
  int calls = 0;
  ToolStateMachine row(byte_tokenizer(), [&](const std::string&) -> std::optional<std::string> {
    ++calls;
    return std::nullopt;
  });
  row.feed(sp("<|python_end|>"));  // not in a block: ordinary token
  row.feed(sp("<|python_start|>"));
  row.feed(sp("<|python_end|>"));  // empty block: the tool is not called
  EXPECT_EQ(calls, 0);
  row.feed(sp("<|python_start|>"));
  for (auto t : ids("import os")) row.feed(t);
  row.feed(sp("<|python_end|>"));
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(row.forced().empty());
  EXPECT_FALSE(row.in_python_block());
  row.feed(byte_tokenizer().bos_id());
  EXPECT_TRUE(row.completed());
}

TEST(Engine, KVCacheGreedyDecodeEqualsFullRecompute) {
  NC_REQUIRE_SHARED(path, "golden/gpt_tiny_gqa_window.safetensors");
  auto m = golden_model(path);
  const Engine engine(*m, byte_tokenizer());
  const std::vector<TokenId> prompt = ids("The cat sat on the mat. 12");
  GenerateOptions o;
  o.temperature = 0;
  o.max_tokens = 64;
  o.num_samples = 2;
  // Disable the tool so that the comparison is purely the model's (the naive path has no tools).
  const Engine plain(*m, byte_tokenizer(), [](const std::string&) { return std::optional<std::string>(); });
  std::vector<std::vector<TokenId>> cols;
  plain.generate(prompt, o, [&](std::span<const TokenId> t, std::span<const uint8_t>) {
    cols.emplace_back(t.begin(), t.end());
    return true;
  });
  ASSERT_EQ(cols.size(), 64u);
  const auto naive = generate_naive(*m, prompt, 64, 0.0, 0, 42, static_cast<int64_t>(byte_tokenizer().vocab_size()));
  for (size_t i = 0; i < cols.size(); ++i) {
    ASSERT_EQ(cols[i][0], naive[i]) << "step " << i;
    ASSERT_EQ(cols[i][1], naive[i]) << "rows of a greedy batch must agree";
  }
}

TEST(Engine, SamplingRowsSeedsAndLimits) {
  NC_REQUIRE_SHARED(path, "golden/gpt_tiny_gqa_window.safetensors");
  auto m = golden_model(path);
  const Engine engine(*m, byte_tokenizer());
  const std::vector<TokenId> prompt = ids("Hello");
  GenerateOptions o;
  o.temperature = 1.0;
  o.num_samples = 8;
  o.max_tokens = 12;
  const auto a = engine.generate_batch(prompt, o);
  const auto b = engine.generate_batch(prompt, o);
  ASSERT_EQ(a.tokens.size(), 8u);
  EXPECT_EQ(a.tokens, b.tokens);  // same seed, same streams
  std::set<TokenId> first;
  for (const auto& row : a.tokens) {
    EXPECT_LE(row.size(), prompt.size() + 12);
    EXPECT_TRUE(std::equal(prompt.begin(), prompt.end(), row.begin()));
    if (row.size() > prompt.size()) first.insert(row[prompt.size()]);
  }
  EXPECT_GT(first.size(), 1u) << "rows must sample their first token independently";
  o.seed = 43;
  EXPECT_NE(engine.generate_batch(prompt, o).tokens, a.tokens);
  for (const auto& mask : a.masks) {
    for (size_t i = 0; i < prompt.size(); ++i) EXPECT_EQ(mask[i], 0);
  }
}

TEST(Engine, RejectsBadRequests) {
  NC_REQUIRE_SHARED(path, "golden/gpt_tiny_gqa_window.safetensors");
  auto m = golden_model(path);
  const Engine engine(*m, byte_tokenizer());
  GenerateOptions o;
  auto noop = [](std::span<const TokenId>, std::span<const uint8_t>) { return true; };
  EXPECT_THROW(engine.generate({}, o, noop), Error);
  o.temperature = -1;
  EXPECT_THROW(engine.generate(ids("x"), o, noop), Error);
  o.temperature = 0;
  std::vector<TokenId> huge(300, 'a');
  EXPECT_THROW(engine.generate(huge, o, noop), Error);  // no max_tokens: the context (256) is the limit
}
