// cuBLASLt GEMM wrapper vs the CPU Linear products on the same bf16-valued inputs, at shapes that
// are not multiples of any tile size.
#include <cmath>

#include "gpu_test_support.h"
#include "nanochat/core/error.h"
#include "nanochat/kernels/cuda/gemm.h"
#include "nanochat/kernels/cuda/gemm_plan_cache.h"
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


// ---- strided batches and the separate input c (out = alpha*op(a)*op(b) + beta*c) ----

// Double-precision reference of one product: out[i][j] = alpha * sum_k op(a)[i][k] op(b)[k][j] + beta*c[i][j].
std::vector<float> reference_product(const float* a, bool ta, const float* b, bool tb, const float* c, int64_t M,
                                     int64_t N, int64_t K, float alpha, float beta) {
  std::vector<float> out(static_cast<size_t>(M * N));
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k)
        s += static_cast<double>(ta ? a[k * M + i] : a[i * K + k]) * (tb ? b[j * K + k] : b[k * N + j]);
      out[static_cast<size_t>(i * N + j)] =
          static_cast<float>(alpha * s + (c != nullptr ? beta * static_cast<double>(c[i * N + j]) : 0.0));
    }
  return out;
}

TEST_F(GemmArgsTest, StridedBatchesWithPaddingMatchPerMatrixProducts) {
  const int64_t batch = 3, M = 37, N = 45, K = 70;
  const int64_t sa = M * K + 9, sb = N * K + 3, so = M * N + 5;  // padded strides (odd: 2-byte aligned)
  std::mt19937 rng(11);
  const Bf16Data a = random_bf16(batch * sa, rng), b = random_bf16(batch * sb, rng);
  auto da = upload_bits(a.bits), db = upload_bits(b.bits);
  auto out = poisoned_f32(batch * so);
  cuda::GemmArgs args{.out = out.data(), .out_type = cuda::GemmOut::kF32, .a = as_bf16(da), .trans_a = false,
                      .b = as_bf16(db), .trans_b = true, .M = M, .N = N, .K = K, .alpha = 0.5f};
  args.batch = batch;
  args.stride_a = sa;
  args.stride_b = sb;
  args.stride_out = so;
  cuda::gemm(ctx(), args);
  sync();
  const std::vector<float> got = out.to_host();
  for (int64_t i = 0; i < batch; ++i) {
    const auto want =
        reference_product(a.values.data() + i * sa, false, b.values.data() + i * sb, true, nullptr, M, N, K, 0.5f, 0);
    expect_close("batched gemm, padded strides", std::span<const float>(got).subspan(i * so, M * N), want, 1e-5);
    EXPECT_TRUE(std::isnan(got[static_cast<size_t>(i * so + M * N)])) << "padding between outputs was written";
  }
  // The key separates batch counts and strides.
  cuda::GemmArgs single = args;
  single.batch = 1;
  EXPECT_FALSE(cuda::gemm_plan_key(ctx(), single) == cuda::gemm_plan_key(ctx(), args));
  cuda::GemmArgs packed = args;
  packed.stride_a = 0;
  EXPECT_FALSE(cuda::gemm_plan_key(ctx(), packed) == cuda::gemm_plan_key(ctx(), args));
}

TEST_F(GemmArgsTest, SeparateInputWithBetaFp32AndBf16) {
  const int64_t M = 65, N = 48, K = 33;
  std::mt19937 rng(12);
  const Bf16Data a = random_bf16(K * M, rng), b = random_bf16(K * N, rng);
  const std::vector<float> c32 = random_f32(M * N, rng);
  const Bf16Data c16 = random_bf16(M * N, rng);
  auto da = upload_bits(a.bits), db = upload_bits(b.bits), dc16 = upload_bits(c16.bits);
  auto dc32 = upload(c32);
  // fp32 out, c a separate buffer (and not modified).
  auto out = poisoned_f32(M * N);
  cuda::GemmArgs args{.out = out.data(), .out_type = cuda::GemmOut::kF32, .a = as_bf16(da), .trans_a = true,
                      .b = as_bf16(db), .trans_b = false, .M = M, .N = N, .K = K, .alpha = -1.5f};
  args.c = dc32.data();
  args.beta = 0.75f;
  cuda::gemm(ctx(), args);
  sync();
  expect_close("gemm + beta*c (fp32, separate c)", out.to_host(),
               reference_product(a.values.data(), true, b.values.data(), false, c32.data(), M, N, K, -1.5f, 0.75f),
               1e-5);
  EXPECT_EQ(dc32.to_host(), c32) << "c must be read only";
  cuda::GemmArgs same = args;
  same.c = out.data();
  EXPECT_FALSE(cuda::gemm_plan_key(ctx(), same) == cuda::gemm_plan_key(ctx(), args)) << "separate c is its own key";

  // bf16 out, c = out (in place).
  auto io = upload_bits(c16.bits);
  cuda::GemmArgs inplace{.out = io.data(), .out_type = cuda::GemmOut::kBF16, .a = as_bf16(da), .trans_a = true,
                         .b = as_bf16(db), .trans_b = false, .M = M, .N = N, .K = K, .alpha = 2.0f};
  inplace.c = io.data();
  inplace.beta = -0.5f;
  cuda::gemm(ctx(), inplace);
  // bf16 out, separate bf16 c.
  auto out16 = poisoned_bf16(M * N);
  cuda::GemmArgs sep16 = inplace;
  sep16.out = out16.data();
  sep16.c = dc16.data();
  cuda::gemm(ctx(), sep16);
  sync();
  const auto want16 =
      reference_product(a.values.data(), true, b.values.data(), false, c16.values.data(), M, N, K, 2.0f, -0.5f);
  expect_close("gemm + beta*c (bf16, c = out)", download_bf16(io), want16, 1e-2);
  expect_close("gemm + beta*c (bf16, separate c)", download_bf16(out16), want16, 1e-2);
}

// Polar Express's shape of call: a batch of products with bf16 out and a separate batched bf16 c.
TEST_F(GemmArgsTest, BatchedBf16WithSeparateBatchedInput) {
  const int64_t batch = 4, M = 24, N = 40, K = 24;
  std::mt19937 rng(13);
  const Bf16Data a = random_bf16(batch * M * K, rng), b = random_bf16(batch * K * N, rng),
                 c = random_bf16(batch * M * N, rng);
  auto da = upload_bits(a.bits), db = upload_bits(b.bits), dc = upload_bits(c.bits);
  auto out = poisoned_bf16(batch * M * N);
  cuda::GemmArgs args{.out = out.data(), .out_type = cuda::GemmOut::kBF16, .a = as_bf16(da), .b = as_bf16(db),
                      .M = M, .N = N, .K = K, .alpha = 1.0f};
  args.c = dc.data();
  args.beta = 3.25f;
  args.batch = batch;
  cuda::gemm(ctx(), args);
  sync();
  const std::vector<float> got = download_bf16(out);
  for (int64_t i = 0; i < batch; ++i)
    expect_close("batched bf16 gemm + beta*c", std::span<const float>(got).subspan(i * M * N, M * N),
                 reference_product(a.values.data() + i * M * K, false, b.values.data() + i * K * N, false,
                                   c.values.data() + i * M * N, M, N, K, 1.0f, 3.25f),
                 1e-2);
}

TEST_F(GemmArgsTest, RejectsInconsistentBetaArguments) {
  cuda::DeviceBuffer<uint16_t> x(64);
  cuda::DeviceBuffer<float> out(64), c(64);
  const cuda::GemmArgs base{.out = out.data(), .a = as_bf16(x), .b = as_bf16(x), .M = 4, .N = 4, .K = 4};
  cuda::GemmArgs both = base;
  both.accumulate = true;
  both.c = c.data();
  EXPECT_THROW(cuda::gemm(ctx(), both), Error);
  cuda::GemmArgs no_c = base;
  no_c.beta = 1.0f;
  EXPECT_THROW(cuda::gemm(ctx(), no_c), Error);
  cuda::GemmArgs overlap = base;
  overlap.c = out.data() + 3;
  overlap.beta = 1.0f;
  EXPECT_THROW(cuda::gemm(ctx(), overlap), Error);
  cuda::GemmArgs bad_batch = base;
  bad_batch.batch = 0;
  EXPECT_THROW(cuda::gemm(ctx(), bad_batch), Error);
}

}  // namespace
}  // namespace nanochat::gpu_test
