// The per-shape cuBLASLt plan cache: one heuristic query per key, bitwise-identical repeated
// products, separate plans for misaligned operands (still correct), thread-safe lookups.
#include <cstring>
#include <thread>

#include "gpu_test_support.h"
#include "nanochat/kernels/cuda/gemm.h"
#include "nanochat/kernels/cuda/gemm_plan_cache.h"
#include "nanochat/kernels/ops.h"

namespace nanochat::gpu_test {
namespace {

class GemmPlanCacheTest : public GpuTest {};

TEST_F(GemmPlanCacheTest, RepeatedCallsReuseOnePlanAndAreBitwiseIdentical) {
  const int64_t M = 300, N = 520, K = 768;
  std::mt19937 rng(3);
  const Bf16Data x = random_bf16(M * K, rng), w = random_bf16(N * K, rng);
  auto dx = upload_bits(x.bits), dw = upload_bits(w.bits);
  const size_t before = ctx().gemm_plans().size();
  std::vector<std::vector<float>> outs;
  for (int i = 0; i < 4; ++i) {
    auto y = poisoned_f32(M * N);
    cuda::gemm(ctx(), {.out = y.data(), .out_type = cuda::GemmOut::kF32, .a = as_bf16(dx), .trans_a = false,
                       .b = as_bf16(dw), .trans_b = true, .M = M, .N = N, .K = K});
    sync();
    outs.push_back(y.to_host());
  }
  EXPECT_EQ(ctx().gemm_plans().size(), before + 1) << "one plan for one (shape, transpose, dtype, alignment) key";
  std::vector<float> want(M * N);
  kernels::cpu::linear_forward(want.data(), x.values.data(), w.values.data(), M, N, K);
  expect_close("cached-plan gemm forward", outs[0], want, 1e-5);
  for (size_t i = 1; i < outs.size(); ++i)
    EXPECT_EQ(std::memcmp(outs[0].data(), outs[i].data(), outs[0].size() * sizeof(float)), 0) << "call " << i;

  // A different output type is a different key.
  auto y16 = poisoned_bf16(M * N);
  cuda::gemm(ctx(), {.out = y16.data(), .out_type = cuda::GemmOut::kBF16, .a = as_bf16(dx), .trans_a = false,
                     .b = as_bf16(dw), .trans_b = true, .M = M, .N = N, .K = K});
  sync();
  EXPECT_EQ(ctx().gemm_plans().size(), before + 2);
  expect_close("cached-plan gemm forward bf16 out", download_bf16(y16), want, 1e-2);
}

// Operands that start one bf16 element past an allocation are only 2-byte aligned: the plan must
// be built for that alignment (cuBLASLt assumes 256 bytes unless told), and still be correct.
TEST_F(GemmPlanCacheTest, MisalignedOperandsGetTheirOwnPlan) {
  const int64_t M = 65, N = 33, K = 47;
  std::mt19937 rng(5);
  const Bf16Data x = random_bf16(M * K + 1, rng), w = random_bf16(N * K + 1, rng);
  auto dx = upload_bits(x.bits), dw = upload_bits(w.bits);
  auto y = poisoned_f32(M * N + 1);
  const cuda::GemmArgs args{.out = y.data() + 1, .out_type = cuda::GemmOut::kF32, .a = as_bf16(dx) + 1,
                            .trans_a = false, .b = as_bf16(dw) + 1, .trans_b = true, .M = M, .N = N, .K = K};
  const cuda::GemmPlanKey key = cuda::gemm_plan_key(ctx(), args);
  EXPECT_EQ(key.align_a, 2u);
  EXPECT_EQ(key.align_b, 2u);
  EXPECT_EQ(key.align_out, 4u);
  cuda::gemm(ctx(), args);
  sync();
  std::vector<float> want(M * N);
  kernels::cpu::linear_forward(want.data(), x.values.data() + 1, w.values.data() + 1, M, N, K);
  const std::vector<float> got = y.to_host();
  expect_close("gemm with 2-byte-aligned operands", std::span<const float>(got).subspan(1), want, 1e-5);
}

TEST_F(GemmPlanCacheTest, ConcurrentLookupsBuildOnePlan) {
  const cuda::GemmPlanKey key{.M = 128, .N = 256, .K = 64, .workspace_bytes = ctx().workspace_bytes()};
  const size_t before = ctx().gemm_plans().size();
  std::vector<const cuda::GemmPlan*> seen(8, nullptr);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < seen.size(); ++t)
    threads.emplace_back([&, t] { seen[t] = &ctx().gemm_plans().get(ctx().lt(), key); });
  for (auto& th : threads) th.join();
  EXPECT_EQ(ctx().gemm_plans().size(), before + 1);
  for (const cuda::GemmPlan* p : seen) EXPECT_EQ(p, seen[0]);
}

}  // namespace
}  // namespace nanochat::gpu_test
