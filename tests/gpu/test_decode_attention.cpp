// kernels/cuda/inference_ops.h decode_attention (one query per batch row against its cache, split into
// chunks that the last-finishing block merges) against the CPU attention reference, row by row.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <span>
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

// The CPU attention of each batch row's one query (heads H, at position pos[b]) against its cache.
std::vector<float> cpu_reference(const Bf16Data& q, const Bf16Data& k, const Bf16Data& v, const std::vector<int32_t>& pos,
                                 int64_t H, int64_t Hk, int64_t d, int64_t Tmax, int64_t window) {
  std::vector<float> want(pos.size() * static_cast<size_t>(H * d));
  for (size_t b = 0; b < pos.size(); ++b) {
    const int64_t p = pos[b], row = static_cast<int64_t>(b);
    const kernels::cpu::AttentionShape s{1, 1, H, Hk, d, p + 1, Tmax, p, window};
    kernels::cpu::attention_forward<float>(want.data() + row * H * d, nullptr, q.values.data() + row * H * d,
                                           k.values.data() + row * Tmax * Hk * d, v.values.data() + row * Tmax * Hk * d,
                                           s);
  }
  return want;
}

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

  const std::vector<float> want = cpu_reference(q, k, v, pos, c.H, c.Hk, c.d, c.Tmax, c.window);
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
  const std::vector<float> want = cpu_reference(q, k, v, pos, H, Hk, d, Tmax, window);
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

// decode_attention_with_post folds qkv_post into the attention kernel for decode steps: it must give
// exactly what qkv_post followed by decode_attention gives, output and cache both, with and without a
// value embedding, with GQA, and with the new key at the start, inside and at the end of a chunk.
TEST_F(DecodeAttentionTest, FoldedPostProcessingEqualsTheTwoKernelsBitwise) {
  struct PostCase {
    int64_t B, H, Hk, d, Tmax, window, chunk;
    bool value_embed;
  };
  for (const PostCase& c : {PostCase{4, 4, 2, 64, 130, 1000, 32, true}, PostCase{3, 10, 10, 128, 200, 64, 0, false},
                            PostCase{2, 8, 1, 128, 97, 1000, 96, true}}) {
    SCOPED_TRACE(::testing::Message() << "B=" << c.B << " H=" << c.H << " Hk=" << c.Hk << " d=" << c.d);
    std::mt19937 rng(static_cast<unsigned>(c.B * 31 + c.H + c.d));
    const int64_t C = c.H * c.d, KV = c.Hk * c.d, vocab = 50, half = c.d / 2, max_pos = c.Tmax + 1;
    const Bf16Data qkv = random_bf16(static_cast<size_t>(c.B * (C + 2 * KV)), rng);
    const Bf16Data h = random_bf16(static_cast<size_t>(c.B * C), rng), wg = random_bf16(static_cast<size_t>(c.Hk * 12), rng);
    const Bf16Data table = random_bf16(static_cast<size_t>(vocab * KV), rng);
    const Bf16Data cache0 = random_bf16(static_cast<size_t>(c.B * c.Tmax * KV), rng);
    std::vector<float> cosv(static_cast<size_t>(max_pos * half)), sinv(cosv.size());
    for (int64_t p = 0; p < max_pos; ++p)
      for (int64_t j = 0; j < half; ++j) {
        const double angle = static_cast<double>(p) / std::pow(10000.0, 2.0 * static_cast<double>(j) / static_cast<double>(c.d));
        cosv[static_cast<size_t>(p * half + j)] = static_cast<float>(std::cos(angle));
        sinv[static_cast<size_t>(p * half + j)] = static_cast<float>(std::sin(angle));
      }
    std::vector<int32_t> pos(static_cast<size_t>(c.B));
    std::vector<int64_t> idx(static_cast<size_t>(c.B));
    for (int64_t b = 0; b < c.B; ++b) {
      pos[static_cast<size_t>(b)] = b == 0 ? 0 : (b == 1 ? static_cast<int32_t>(c.Tmax - 1) : 31 + static_cast<int32_t>(b));
      idx[static_cast<size_t>(b)] = (b * 7) % vocab;
    }
    const auto dqkv = upload_bits(qkv.bits), dh = upload_bits(h.bits), dwg = upload_bits(wg.bits),
               dtable = upload_bits(table.bits);
    const auto dcos = upload(cosv), dsin = upload(sinv);
    const auto didx = upload(std::span<const int64_t>(idx));
    cuda::DeviceBuffer<int32_t> dpos(pos.size());
    dpos.copy_from_host(pos);
    const int64_t max_keys = std::min(c.Tmax, c.window + 1);
    kc::DecodeAttentionPlan plan = kc::plan_decode_attention(c.B, c.Hk, max_keys);
    if (c.chunk > 0) plan = kc::DecodeAttentionPlan{c.chunk, (max_keys + c.chunk - 1) / c.chunk};
    cuda::DeviceBuffer<float> scratch(static_cast<size_t>(kc::decode_attention_scratch_floats(c.B, c.H, c.d, plan)));
    scratch.fill_bytes(0);

    struct Run {
      std::vector<float> y, k, v;
    };
    auto run = [&](bool folded) {
      auto k = upload_bits(cache0.bits), v = upload_bits(cache0.bits);
      auto q = poisoned_bf16(static_cast<size_t>(c.B * C)), y = poisoned_bf16(static_cast<size_t>(c.B * C));
      kc::QkvPostArgs a;
      a.qkv = as_bf16(dqkv);
      a.h = as_bf16(dh);
      a.wg = c.value_embed ? as_bf16(dwg) : nullptr;
      a.table = c.value_embed ? as_bf16(dtable) : nullptr;
      a.idx = didx.data();
      a.pos = dpos.data();
      a.cos = dcos.data();
      a.sin = dsin.data();
      a.q_out = as_bf16(q);
      a.k_cache = as_bf16(k);
      a.v_cache = as_bf16(v);
      a.rows = c.B, a.T = 1, a.C = C, a.H = c.H, a.Hk = c.Hk, a.d = c.d, a.kv_stride = c.Tmax;
      a.qk_scale = 1.2f;
      if (folded) {
        kc::decode_attention_with_post(as_bf16(y), a, c.window, plan, scratch.data(), stream());
      } else {
        kc::qkv_post(a, stream());
        kc::decode_attention(as_bf16(y), as_bf16(q), as_bf16(k), as_bf16(v), dpos.data(), c.B, c.H, c.Hk, c.d, c.Tmax,
                             c.window, plan, scratch.data(), stream());
      }
      sync();
      return Run{download_bf16(y), download_bf16(k), download_bf16(v)};
    };
    const Run two = run(false), one = run(true);
    EXPECT_EQ(count_nan(one.y), 0u);
    EXPECT_EQ(one.y, two.y);
    EXPECT_EQ(one.k, two.k);
    EXPECT_EQ(one.v, two.v);
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
