// cuBLASLt GEMM wrapper vs the CPU Linear products on the same bf16-valued inputs, at shapes that
// are not multiples of any tile size.
#include "gpu_test_support.h"
#include "nanochat/core/error.h"
#include "nanochat/kernels/cuda/gemm.h"
#include "nanochat/kernels/ops.h"

namespace nanochat::gpu_test {
namespace {

struct GemmShape {
  int64_t M, N, K;
};

class GemmTest : public GpuTest, public ::testing::WithParamInterface<GemmShape> {};

TEST_P(GemmTest, LinearProductsMatchCpu) {
  const auto [M, N, K] = GetParam();
  std::mt19937 rng(static_cast<unsigned>(M * 7 + N * 13 + K));
  const Bf16Data x = random_bf16(M * K, rng), w = random_bf16(N * K, rng), gy = random_bf16(M * N, rng);
  auto dx = upload_bits(x.bits), dw = upload_bits(w.bits), dgy = upload_bits(gy.bits);

  // forward, fp32 out: y = x w^T
  std::vector<float> want(M * N);
  kernels::cpu::linear_forward(want.data(), x.values.data(), w.values.data(), M, N, K);
  auto y32 = poisoned_f32(M * N);
  cuda::gemm(ctx(), {.out = y32.data(), .out_type = cuda::GemmOut::kF32, .a = as_bf16(dx), .trans_a = false,
                     .b = as_bf16(dw), .trans_b = true, .M = M, .N = N, .K = K});
  // forward, bf16 out
  auto y16 = poisoned_bf16(M * N);
  cuda::gemm(ctx(), {.out = y16.data(), .out_type = cuda::GemmOut::kBF16, .a = as_bf16(dx), .trans_a = false,
                     .b = as_bf16(dw), .trans_b = true, .M = M, .N = N, .K = K});
  sync();
  expect_close("gemm forward fp32 out", y32.to_host(), want, 1e-5);
  expect_close("gemm forward bf16 out", download_bf16(y16), want, 1e-2);

  // backward input: gx = gy w
  std::vector<float> want_gx(M * K);
  kernels::cpu::linear_backward_input(want_gx.data(), gy.values.data(), w.values.data(), M, N, K, false);
  auto gx = poisoned_f32(M * K);
  cuda::gemm(ctx(), {.out = gx.data(), .out_type = cuda::GemmOut::kF32, .a = as_bf16(dgy), .trans_a = false,
                     .b = as_bf16(dw), .trans_b = false, .M = M, .N = K, .K = N});
  sync();
  expect_close("gemm backward input", gx.to_host(), want_gx, 1e-5);

  // backward weight, accumulating into an fp32 master gradient: gw += gy^T x
  std::vector<float> gw0 = random_f32(N * K, rng);
  std::vector<float> want_gw = gw0;
  kernels::cpu::linear_backward_weight(want_gw.data(), gy.values.data(), x.values.data(), M, N, K);
  auto gw = upload(gw0);
  cuda::gemm(ctx(), {.out = gw.data(), .out_type = cuda::GemmOut::kF32, .a = as_bf16(dgy), .trans_a = true,
                     .b = as_bf16(dx), .trans_b = false, .M = N, .N = K, .K = M, .accumulate = true});
  sync();
  expect_close("gemm backward weight (+=)", gw.to_host(), want_gw, 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Shapes, GemmTest,
                         ::testing::Values(GemmShape{37, 45, 70}, GemmShape{256, 768, 512},
                                           GemmShape{129, 1000, 96}));

class GemmArgsTest : public GpuTest {};

TEST_F(GemmArgsTest, RejectsEmptyShapes) {
  cuda::DeviceBuffer<float> out(4);
  EXPECT_THROW(cuda::gemm(ctx(), {.out = out.data(), .M = 0, .N = 2, .K = 2}), Error);
}

}  // namespace
}  // namespace nanochat::gpu_test
