// The KV-cache inference path: parity with the golden kv.* tensors (weights after optimizer step 1,
// i.e. step1.param.*), and self-consistency of prefill/decode/chunked prefill with the full forward.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>

#include "golden_support.h"
#include "nanochat/core/error.h"
#include "nanochat/model/gpt.h"

namespace nanochat::model {
namespace {

using test::golden_dir;
using test::golden_files;
using test::rel_error;

constexpr double kTolerance = 1e-5;

// Full forward logits (T, V) of one row.
std::vector<float> full_logits(GPT<float>& m, const int64_t* idx, int64_t T) {
  Activations<float> acts(m.config(), 1, T);
  m.forward(acts, idx, nullptr);
  std::vector<float> out(static_cast<size_t>(T * m.config().vocab_size));
  m.logits(acts, out.data());
  return out;
}

TEST(KVCacheGolden, PrefillThenDecodeMatchesGoldenLogits) {
  const auto files = golden_files();
  if (files.empty()) GTEST_SKIP() << "no *.safetensors in " << golden_dir() << " (set NANOCHAT_GOLDEN_DIR)";
  for (const auto& path : files) {
    SCOPED_TRACE(path.string());
    SafetensorsReader file(path);
    const GPTConfig c = GPTConfig::from_json(file.metadata_value("config"));
    const auto notes = nlohmann::json::parse(file.metadata_value("notes"));
    const int64_t prompt = notes.at("decode_prompt").get<int64_t>(), steps = notes.at("decode_steps").get<int64_t>();
    const int64_t V = c.vocab_size, total = prompt + steps;
    GPT<float> m(c);
    m.load(file, "step1.param.");
    const std::vector<int64_t> idx = file.read_i64("input.idx");  // row 0 is the prompt and its continuation

    const std::vector<float> full = full_logits(m, idx.data(), total);
    const double full_err = rel_error<float, float>(full, file.read_f32("kv.full_logits"));

    // Prefill the prompt, then feed the following tokens one at a time.
    KVCache<float> cache(c, 1, total);
    std::vector<float> prefill(static_cast<size_t>(prompt * V)), decode(static_cast<size_t>(steps * V));
    m.forward_cached(cache, idx.data(), prompt, prefill.data());
    std::copy(prefill.end() - V, prefill.end(), decode.begin());
    for (int64_t s = 1; s < steps; ++s)
      m.forward_cached(cache, idx.data() + prompt - 1 + s, 1, decode.data() + s * V);
    EXPECT_EQ(cache.pos(), prompt + steps - 1);
    const double decode_err = rel_error<float, float>(decode, file.read_f32("kv.decode_logits"));
    std::printf("[%s] kv.full_logits worst rel err %.2e, kv.decode_logits %.2e\n", path.stem().c_str(), full_err,
                decode_err);
    EXPECT_LE(full_err, kTolerance);
    EXPECT_LE(decode_err, kTolerance);
  }
}

GPTConfig small_config() {
  GPTConfig c;
  c.sequence_len = 160;  // short window 128 < 150 tokens: the cache path must honour it
  c.vocab_size = 70;
  c.n_layer = 4;
  c.n_head = 4;
  c.n_kv_head = 1;
  c.n_embd = 32;
  c.window_pattern = "S";
  return c;
}

TEST(KVCache, DecodeAndChunkedPrefillEqualTheFullForward) {
  const GPTConfig c = small_config();
  GPT<float> m(c);
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 0.3f);
  for (float& x : m.params()) x = normal(rng);
  m.param("smear_lambda")[0] = 0.7f;  // make the smear state matter
  const int64_t T = 150, B = 2, V = c.vocab_size;
  std::vector<int64_t> idx(static_cast<size_t>(B * T));
  for (auto& t : idx) t = static_cast<int64_t>(rng() % static_cast<unsigned>(V));
  std::vector<std::vector<float>> want;
  for (int64_t b = 0; b < B; ++b) want.push_back(full_logits(m, idx.data() + b * T, T));

  // Batched cache: prefill 20 tokens, a chunk of 100, then one token at a time.
  KVCache<float> cache(c, B, T);
  std::vector<float> got(static_cast<size_t>(B * T * V));
  auto feed = [&](int64_t start, int64_t n) {
    std::vector<int64_t> chunk;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = start; t < start + n; ++t) chunk.push_back(idx[static_cast<size_t>(b * T + t)]);
    std::vector<float> out(static_cast<size_t>(B * n * V));
    m.forward_cached(cache, chunk.data(), n, out.data());
    for (int64_t b = 0; b < B; ++b)
      std::copy(out.begin() + b * n * V, out.begin() + (b + 1) * n * V, got.begin() + (b * T + start) * V);
  };
  feed(0, 20);
  feed(20, 100);
  for (int64_t t = 120; t < T; ++t) feed(t, 1);
  for (int64_t b = 0; b < B; ++b) {
    const std::span<const float> row(got.data() + b * T * V, static_cast<size_t>(T * V));
    const double err = rel_error<float, float>(row, want[static_cast<size_t>(b)]);
    EXPECT_LE(err, 1e-6) << "row " << b;
  }
  EXPECT_THROW(feed(0, 1), Error);  // the cache is full
}

}  // namespace
}  // namespace nanochat::model
