// decode_gemv (kernels/cuda/decode_gemv.h) against the unfused kernels it replaces in a decode step:
// mix_rmsnorm / rmsnorm_forward, linear_forward (cuBLASLt) with or without its residual, relu2_forward.
// Same bf16 roundings, fp32 sums in another order: the outputs agree to bf16 rounding, z exactly.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <tuple>
#include <vector>

#include "gpu_test_support.h"
#include "nanochat/core/error.h"
#include "nanochat/kernels/cuda/decode_gemv.h"
#include "nanochat/kernels/cuda/inference_ops.h"
#include "nanochat/kernels/cuda/linear.h"

namespace nanochat::gpu_test {
namespace {

namespace kc = kernels::cuda;

// rows M, N outputs, K inputs
class DecodeGemvTest : public GpuTest, public ::testing::WithParamInterface<std::tuple<int64_t, int64_t, int64_t>> {};

TEST_P(DecodeGemvTest, MatchesTheUnfusedKernels) {
  const auto [M, N, K] = GetParam();
  std::mt19937 rng(static_cast<unsigned>(M * 131 + N * 7 + K));
  const Bf16Data w = random_bf16(N * K, rng, 0.05f), x = random_bf16(M * K, rng), x0 = random_bf16(M * K, rng);
  const Bf16Data res = random_bf16(M * N, rng);
  const auto dw = upload_bits(w.bits), dx = upload_bits(x.bits), dx0 = upload_bits(x0.bits), dres = upload_bits(res.bits);
  const std::vector<float> lambdas = {0.8f, 0.15f};
  const auto dl = upload(lambdas);
  const kc::ScalarParam alpha{dl.data(), 1.0f}, beta{dl.data() + 1, 1.0f};

  // Reference: the unfused sequence of a decode step's layer.
  auto z_ref = poisoned_bf16(M * K), h_ref = poisoned_bf16(M * K), y_ref = poisoned_bf16(M * N);
  kc::mix_rmsnorm(as_bf16(z_ref), as_bf16(h_ref), as_bf16(dx), as_bf16(dx0), alpha, beta, M, K, stream());
  cuda::linear_forward(ctx(), as_bf16(y_ref), as_bf16(h_ref), as_bf16(dw), M, N, K);
  sync();
  const std::vector<float> want_z = download_bf16(z_ref), want_h = download_bf16(h_ref), want_mix = download_bf16(y_ref);

  kc::DecodeGemvArgs a;
  a.w = as_bf16(dw);
  a.M = M, a.N = N, a.K = K;

  // mix_rmsnorm prologue (c_q|c_k|c_v): z and h published, y the product of h.
  auto z = poisoned_bf16(M * K), h = poisoned_bf16(M * K), y = poisoned_bf16(M * N);
  a.x = as_bf16(dx);
  a.x0 = as_bf16(dx0);
  a.alpha = alpha, a.beta = beta;
  a.z_out = as_bf16(z), a.h_out = as_bf16(h), a.y = as_bf16(y);
  a.prologue = kc::GemvPrologue::mix_rmsnorm;
  kc::decode_gemv(a, stream());
  sync();
  EXPECT_EQ(download_bf16(z), want_z);
  expect_close("mix_rmsnorm h", download_bf16(h), want_h, 4e-3);
  const std::vector<float> got_mix = download_bf16(y);
  expect_close("mix_rmsnorm product", got_mix, want_mix, 1e-2);

  // Launched to overlap the kernel before it, which writes this product's input: the same bits, so the
  // product waited for that input (the first run read the same values, already in place).
  auto x_late = poisoned_bf16(M * K), y_pdl = poisoned_bf16(M * N), z2 = poisoned_bf16(M * K), h2 = poisoned_bf16(M * K);
  kc::DecodeGemvArgs copy;  // x_late = bf16(1.0 * x + 0 * x0): a kernel that writes the input late
  copy.w = as_bf16(dw), copy.M = M, copy.N = N, copy.K = K, copy.x = as_bf16(dx), copy.x0 = as_bf16(dx0);
  copy.prologue = kc::GemvPrologue::mix_rmsnorm;
  copy.alpha = kc::ScalarParam{nullptr, 1.0f}, copy.beta = kc::ScalarParam{nullptr, 0.0f};
  copy.z_out = as_bf16(x_late), copy.h_out = as_bf16(h2), copy.y = as_bf16(y_pdl);
  kc::decode_gemv(copy, stream());
  kc::DecodeGemvArgs late = a;
  late.x = as_bf16(x_late), late.z_out = as_bf16(z2), late.h_out = as_bf16(h2), late.y = as_bf16(y_pdl);
  late.overlap_previous = true;
  kc::decode_gemv(late, stream());
  sync();
  EXPECT_EQ(download_bf16(z2), want_z);
  EXPECT_EQ(download_bf16(y_pdl), got_mix);

  // Plain product with the residual (c_proj, mlp c_proj).
  auto y_res_ref = poisoned_bf16(M * N), y_res = poisoned_bf16(M * N);
  cuda::linear_forward(ctx(), as_bf16(y_res_ref), as_bf16(dx), as_bf16(dw), M, N, K, as_bf16(dres));
  a.prologue = kc::GemvPrologue::none;
  a.epilogue = kc::GemvEpilogue::residual;
  a.residual = as_bf16(dres);
  a.y = as_bf16(y_res);
  kc::decode_gemv(a, stream());
  sync();
  expect_close("residual product", download_bf16(y_res), download_bf16(y_res_ref), 1e-2);

  // rmsnorm prologue and relu² epilogue (c_fc).
  auto hn = poisoned_bf16(M * K), u = poisoned_bf16(M * N), act_ref = poisoned_bf16(M * N), act = poisoned_bf16(M * N);
  kc::rmsnorm_forward(as_bf16(hn), nullptr, as_bf16(dx), M, K, stream());
  cuda::linear_forward(ctx(), as_bf16(u), as_bf16(hn), as_bf16(dw), M, N, K);
  kc::relu2_forward(as_bf16(act_ref), as_bf16(u), M * N, stream());
  a.prologue = kc::GemvPrologue::rmsnorm;
  a.epilogue = kc::GemvEpilogue::relu2;
  a.residual = nullptr;
  a.y = as_bf16(act);
  kc::decode_gemv(a, stream());
  sync();
  const std::vector<float> got_act = download_bf16(act), want_act = download_bf16(act_ref);
  expect_close("rmsnorm + relu2 product", got_act, want_act, 2e-2);
  for (float v : got_act) ASSERT_GE(v, 0.0f);
}

INSTANTIATE_TEST_SUITE_P(Shapes, DecodeGemvTest,
                         ::testing::Values(std::tuple<int64_t, int64_t, int64_t>{1, 512, 256},
                                           std::tuple<int64_t, int64_t, int64_t>{1, 37, 1024},  // odd N: a lone last row
                                           std::tuple<int64_t, int64_t, int64_t>{2, 1536, 768},
                                           std::tuple<int64_t, int64_t, int64_t>{3, 129, 5120},
                                           std::tuple<int64_t, int64_t, int64_t>{4, 640, 5120}));

TEST_F(DecodeGemvTest, RefusesWhatItCannotDo) {
  EXPECT_FALSE(kc::decode_gemv_supported(5, 256));
  EXPECT_FALSE(kc::decode_gemv_supported(1, 100));       // K not a multiple of 8
  EXPECT_FALSE(kc::decode_gemv_supported(4, 8 * 1024));  // 64 KB of input rows
  EXPECT_TRUE(kc::decode_gemv_supported(4, 5120));
  kc::DecodeGemvArgs a;
  a.M = 5, a.N = 8, a.K = 256;
  EXPECT_THROW(kc::decode_gemv(a, stream()), Error);
  auto buf = poisoned_bf16(256 * 8);
  a.M = 1;
  a.w = as_bf16(buf), a.x = as_bf16(buf), a.y = as_bf16(buf);
  a.epilogue = kc::GemvEpilogue::residual;  // without a residual
  EXPECT_THROW(kc::decode_gemv(a, stream()), Error);
}

}  // namespace
}  // namespace nanochat::gpu_test
