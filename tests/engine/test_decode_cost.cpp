#include <gtest/gtest.h>

#include "nanochat/engine/decode_cost.h"
#include "nanochat/model/model_stats.h"

using namespace nanochat;

namespace {
model::GPTConfig config_d4_T256() {
  model::GPTConfig c;
  c.sequence_len = 256;
  c.vocab_size = 4096;
  c.n_layer = 4;
  c.n_head = 2;
  c.n_kv_head = 2;
  c.n_embd = 256;
  c.window_pattern = "SSSL";
  return c;
}
}  // namespace

TEST(DecodeCost, AttendedPairsCountTheCausalBand) {
  // brute force: query t sees keys max(0, t-w)..t
  for (int64_t n : {1, 5, 17, 64}) {
    for (int64_t w : {0, 3, 16, 100}) {
      int64_t brute = 0;
      for (int64_t t = 0; t < n; ++t) brute += t - std::max<int64_t>(0, t - w) + 1;
      EXPECT_EQ(engine::attended_pairs(n, w), brute) << n << " " << w;
    }
  }
}

TEST(DecodeCost, KvBytesFollowTheWindows) {
  const auto c = config_d4_T256();  // short window = ceil(64/128)*128 = 128 for S layers, 256 for the last
  EXPECT_EQ(engine::kv_bytes_per_token(c, 4), 4 * 2 * 2 * 128 * 4);
  // context 144: three S layers read 128 positions, the L layer 144
  EXPECT_EQ(engine::kv_read_bytes_per_step(c, 144, 4), 2 * 2 * 128 * 4 * (3 * 128 + 144));
  EXPECT_EQ(engine::kv_read_bytes_per_step(c, 10, 4), 2 * 2 * 128 * 4 * (4 * 10));
}

TEST(DecodeCost, FlopsAddMatmulsAndAttention) {
  const auto c = config_d4_T256();
  const int64_t mm = model::num_matmul_params(c);
  EXPECT_EQ(engine::decode_flops_per_token(c, 144), 2 * mm + 4 * 2 * 128 * (3 * 128 + 144));
  EXPECT_EQ(engine::prefill_flops(c, 1), 2 * mm + 4 * 2 * 128 * 4);  // one token attends itself in every layer
  EXPECT_EQ(engine::prefill_flops(c, 200),
            2 * mm * 200 + 4 * 2 * 128 * (3 * engine::attended_pairs(200, 128) + engine::attended_pairs(200, 256)));
}

TEST(DecodeCost, DecodeReadBytesCountWeightsTableRowsAndCache) {
  const model::GPTConfig c = config_d4_T256();  // C 256, KV 256, 4 layers, value embeds on layers 1 and 3
  const int64_t C = 256, per_layer = 3 * C * C + C * C + 8 * C * C;
  const int64_t weights = 4 * per_layer + 2 * 2 * 12 + 4096 * C;  // blocks, two ve gates (2 heads x 12), lm_head
  const int64_t rows = C + 2 * C;                                  // wte + two value-embedding tables
  for (int64_t batch : {1, 8}) {
    const int64_t kv = engine::kv_read_bytes_per_step(c, 100, 2);
    EXPECT_EQ(engine::decode_read_bytes_per_step(c, batch, 100, 2), 2 * (weights + batch * rows) + batch * kv);
  }
  // The cache term grows with the context up to the window.
  EXPECT_LT(engine::decode_read_bytes_per_step(c, 1, 10, 2), engine::decode_read_bytes_per_step(c, 1, 100, 2));
}
