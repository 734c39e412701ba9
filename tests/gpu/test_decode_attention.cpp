// kernels/cuda/inference_ops.h decode_attention (one query per batch row against its cache, split into
// chunks that the last-finishing block merges) against the CPU attention reference, row by row.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <tuple>
#include <vector>

#include "gpu/gpu_test_support.h"
#include "nanochat/core/error.h"
#include "nanochat/kernels/cuda/inference_ops.h"
#include "nanochat/kernels/ops.h"

namespace nanochat::gpu_test {
namespace {

namespace kc = kernels::cuda;

struct Case {
  int64_t B, H, Hk, d, Tmax, window, chunk;  // chunk 0: plan_decode_attention's choice
};

class DecodeAttentionTest : public GpuTest, public ::testing::WithParamInterface<Case> {};

// Each row's query sits at its own position (some near the start, so that later chunks are empty, one
// at the cache's end); the output must match the CPU reference for every row, on two calls in a row
// (the first call's merge must leave its counters ready for the second) and bitwise between them.
TEST_P(DecodeAttentionTest, MatchesCpuReferencePerRow) {
  const Case c = GetParam();
  std::mt19937 rng(static_cast<unsigned>(c.B * 1000 + c.H * 10 + c.d + c.chunk));
  const int64_t cache = c.B * c.Tmax * c.Hk * c.d, rows = c.B * c.H * c.d;
  const Bf16Data k = random_bf16(static_cast<size_t>(cache), rng), v = random_bf16(static_cast<size_t>(cache), rng);
  const Bf16Data q = random_bf16(static_cast<size_t>(rows), rng);
  std::vector<int32_t> pos(static_cast<size_t>(c.B));
  for (int64_t b = 0; b < c.B; ++b)
    pos[static_cast<size_t>(b)] = b == 0 ? static_cast<int32_t>(c.Tmax - 1)
                                         : static_cast<int32_t>(std::uniform_int_distribution<int64_t>(0, c.Tmax - 1)(rng));
  if (c.B > 1) pos[1] = 0;  // one key only

  const auto dk = upload_bits(k.bits), dv = upload_bits(v.bits), dq = upload_bits(q.bits);
  cuda::DeviceBuffer<int32_t> dpos(pos.size());
  dpos.copy_from_host(pos);
  const int64_t max_keys = std::min(c.Tmax, c.window + 1);
  kc::DecodeAttentionPlan plan = kc::plan_decode_attention(c.B, c.Hk, max_keys);
  if (c.chunk > 0) plan = kc::DecodeAttentionPlan{c.chunk, (max_keys + c.chunk - 1) / c.chunk};
  ASSERT_GE(plan.chunk * plan.splits, max_keys);
  cuda::DeviceBuffer<float> scratch(static_cast<size_t>(kc::decode_attention_scratch_floats(c.B, c.H, c.d, plan)));
  scratch.fill_bytes(0);

  std::vector<float> want(static_cast<size_t>(rows));
  for (int64_t b = 0; b < c.B; ++b) {
    const int64_t p = pos[static_cast<size_t>(b)];
    const kernels::cpu::AttentionShape s{1, 1, c.H, c.Hk, c.d, p + 1, c.Tmax, p, c.window};
    kernels::cpu::attention_forward<float>(want.data() + b * c.H * c.d, nullptr, q.values.data() + b * c.H * c.d,
                                           k.values.data() + b * c.Tmax * c.Hk * c.d,
                                           v.values.data() + b * c.Tmax * c.Hk * c.d, s);
  }
  std::vector<float> first;
  for (int call = 0; call < 2; ++call) {
    auto y = poisoned_bf16(static_cast<size_t>(rows));
    kc::decode_attention(as_bf16(y), as_bf16(dq), as_bf16(dk), as_bf16(dv), dpos.data(), c.B, c.H, c.Hk, c.d, c.Tmax,
                         c.window, plan, scratch.data(), stream());
    sync();
    const std::vector<float> got = download_bf16(y);
    expect_close("decode attention", got, want, 1e-2);
    if (call == 0)
      first = got;
    else
      EXPECT_EQ(got, first);
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, DecodeAttentionTest,
                         ::testing::Values(Case{1, 10, 10, 128, 768, 1024, 0},   // d20 at batch 1, planned
                                           Case{4, 10, 10, 128, 300, 2048, 64},  // uneven last chunk
                                           Case{3, 8, 2, 64, 257, 100, 32},      // GQA, a window shorter than the cache
                                           Case{2, 6, 6, 128, 200, 2048, 256},   // one chunk covers everything
                                           Case{5, 4, 1, 64, 129, 2048, 0}));    // 4 query heads per kv head

// The decoder's layers have different windows, so different plans, and share one scratch of the largest
// size: each call must find its counters at zero whatever the call before it wrote.
TEST_F(DecodeAttentionTest, PlansOfDifferentLayersShareOneScratch) {
  const int64_t B = 2, H = 4, Hk = 2, d = 64, Tmax = 200, window = 1000;
  std::mt19937 rng(7);
  const int64_t cache = B * Tmax * Hk * d, rows = B * H * d;
  const Bf16Data k = random_bf16(static_cast<size_t>(cache), rng), v = random_bf16(static_cast<size_t>(cache), rng);
  const Bf16Data q = random_bf16(static_cast<size_t>(rows), rng);
  const std::vector<int32_t> pos = {199, 150};
  const auto dk = upload_bits(k.bits), dv = upload_bits(v.bits), dq = upload_bits(q.bits);
  cuda::DeviceBuffer<int32_t> dpos(pos.size());
  dpos.copy_from_host(pos);
  std::vector<float> want(static_cast<size_t>(rows));
  for (int64_t b = 0; b < B; ++b) {
    const int64_t p = pos[static_cast<size_t>(b)];
    const kernels::cpu::AttentionShape s{1, 1, H, Hk, d, p + 1, Tmax, p, window};
    kernels::cpu::attention_forward<float>(want.data() + b * H * d, nullptr, q.values.data() + b * H * d,
                                           k.values.data() + b * Tmax * Hk * d, v.values.data() + b * Tmax * Hk * d, s);
  }
  const kc::DecodeAttentionPlan many{32, 7}, one{256, 1};
  const int64_t n = std::max(kc::decode_attention_scratch_floats(B, H, d, many),
                             kc::decode_attention_scratch_floats(B, H, d, one));
  cuda::DeviceBuffer<float> scratch(static_cast<size_t>(n));
  scratch.fill_bytes(0);
  for (const kc::DecodeAttentionPlan& plan : {many, one, many, one}) {
    auto y = poisoned_bf16(static_cast<size_t>(rows));
    kc::decode_attention(as_bf16(y), as_bf16(dq), as_bf16(dk), as_bf16(dv), dpos.data(), B, H, Hk, d, Tmax, window,
                         plan, scratch.data(), stream());
    sync();
    expect_close("decode attention after another plan", download_bf16(y), want, 1e-2);
  }
}

TEST_F(DecodeAttentionTest, RejectsBadPlansAndShapes) {
  cuda::DeviceBuffer<float> scratch(64);
  EXPECT_THROW(kc::decode_attention(nullptr, nullptr, nullptr, nullptr, nullptr, 1, 4, 4, 96, 16, 16,
                                    kc::DecodeAttentionPlan{16, 1}, scratch.data(), stream()),
               Error);  // head_dim 96
  EXPECT_THROW(kc::decode_attention(nullptr, nullptr, nullptr, nullptr, nullptr, 1, 4, 4, 64, 16, 16,
                                    kc::DecodeAttentionPlan{0, 0}, scratch.data(), stream()),
               Error);  // empty plan
  EXPECT_THROW(kc::decode_attention(nullptr, nullptr, nullptr, nullptr, nullptr, 1, 18, 1, 64, 16, 16,
                                    kc::DecodeAttentionPlan{16, 1}, scratch.data(), stream()),
               Error);  // 18 query heads per kv head
}

}  // namespace
}  // namespace nanochat::gpu_test
