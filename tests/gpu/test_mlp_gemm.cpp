// The fused MLP GEMMs (kernels/cuda/mlp_gemm.h) against the path they replace: cuBLASLt (linear.h)
// followed by the relu^2 rules of mlp.cu. The product may differ from cuBLASLt's in the last bf16 bit
// (another accumulation order); everything computed from it must follow bit for bit:
//  - forward: a == bf16(relu(u)^2) of the kernel's own u;
//  - backward: u_inout == bf16(relu(u)^2) of the old u, and g_u == bf16(relu2_grad(G, u)) for the
//    kernel's own G (taken from the same kernel with a plain store epilogue), which equals the
//    cuBLASLt path's g_u wherever the two G round to the same bf16.
// Outputs start as NaN, so an element a kernel fails to write fails the test.
#include <cmath>
#include <cstring>

#include "gpu_test_support.h"
#include "nanochat/core/bf16.h"
#include "nanochat/core/error.h"
#include "nanochat/kernels/cuda/linear.h"
#include "nanochat/kernels/cuda/mlp_gemm.h"

namespace nanochat::gpu_test {
namespace {

namespace kc = kernels::cuda;

struct MlpShape {
  int64_t M, N, K;  // N = 4C (the hidden width), K = C
};

float relu2_host(float x) {
  const float r = std::fmax(x, 0.0f);
  return r * r;
}
float relu2_grad_host(float ga, float x) { return x > 0.0f ? ga * (2.0f * x) : 0.0f; }
uint16_t bits_of(float rounded) { return nanochat::bf16::from_float(rounded); }

std::vector<uint16_t> download_bits(const cuda::DeviceBuffer<uint16_t>& b) { return b.to_host(); }

// Both products are fp32 sums of the same terms in different orders: they may round to neighbouring
// bf16 values, never further apart (plus a small absolute slack for sums that cancel).
void expect_same_product(const char* what, const std::vector<uint16_t>& got, const std::vector<uint16_t>& want,
                         double abs_slack) {
  size_t far = 0, equal = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const float g = nanochat::bf16::to_float(got[i]), w = nanochat::bf16::to_float(want[i]);
    if (got[i] == want[i]) ++equal;
    if (!(std::fabs(g - w) <= std::ldexp(std::fabs(w), -7) + abs_slack)) ++far;
  }
  EXPECT_EQ(far, 0u) << what << ": elements beyond one bf16 step of cuBLASLt's";
  EXPECT_GT(static_cast<double>(equal), 0.8 * static_cast<double>(got.size())) << what << ": too few identical";
  std::printf("[ mlp_gemm ] %s: %.4f of %zu elements bitwise equal to cuBLASLt\n", what,
              static_cast<double>(equal) / static_cast<double>(got.size()), got.size());
}

class MlpGemmTest : public GpuTest, public ::testing::WithParamInterface<MlpShape> {};

TEST_P(MlpGemmTest, ForwardMatchesCublasThenRelu2) {
  const auto [M, N, K] = GetParam();
  ASSERT_TRUE(kc::mlp_gemm_supported(M, N, K));
  std::mt19937 rng(static_cast<unsigned>(M + 3 * N + 7 * K));
  const Bf16Data h2 = random_bf16(M * K, rng), w = random_bf16(N * K, rng, 1.0f / std::sqrt(float(K)));
  auto dh2 = upload_bits(h2.bits), dw = upload_bits(w.bits);
  auto u_ref = poisoned_bf16(M * N), u = poisoned_bf16(M * N), a = poisoned_bf16(M * N);
  cuda::linear_forward(ctx(), as_bf16(u_ref), as_bf16(dh2), as_bf16(dw), M, N, K);
  kc::fc_relu2_forward(as_bf16(u), as_bf16(a), as_bf16(dh2), as_bf16(dw), M, N, K, stream());
  sync();
  const auto got_u = download_bits(u), want_u = download_bits(u_ref), got_a = download_bits(a);
  expect_same_product("forward u", got_u, want_u, 1e-3);
  size_t a_mismatch = 0;
  for (size_t i = 0; i < got_a.size(); ++i)
    if (got_a[i] != bits_of(relu2_host(nanochat::bf16::to_float(got_u[i])))) ++a_mismatch;
  EXPECT_EQ(a_mismatch, 0u) << "a != bf16(relu(u)^2) of the kernel's own u";

  // The plain-store variant of the same kernel gives the same u.
  auto c = poisoned_bf16(M * N);
  kc::mlp_gemm_plain(as_bf16(c), as_bf16(dh2), as_bf16(dw), false, M, N, K, stream());
  sync();
  EXPECT_TRUE(download_bits(c) == got_u) << "plain GEMM differs from the fused forward's u";
}

TEST_P(MlpGemmTest, BackwardMatchesCublasThenRelu2Backward) {
  const auto [M, N, K] = GetParam();
  std::mt19937 rng(static_cast<unsigned>(5 * M + N + 11 * K));
  // g (M x K) = dL/d(MLP output); w_proj (K x N) = the down projection's (C, 4C) weight; u (M x N).
  const Bf16Data g = random_bf16(M * K, rng), w = random_bf16(K * N, rng, 1.0f / std::sqrt(float(N)));
  Bf16Data u0 = random_bf16(M * N, rng);
  for (size_t i = 0; i < u0.bits.size(); i += 97) u0.bits[i] = 0x8000;  // -0: relu2_grad's x > 0 edge
  auto dg = upload_bits(g.bits), dw = upload_bits(w.bits), du = upload_bits(u0.bits);
  auto G_ref = poisoned_bf16(M * N), G_own = poisoned_bf16(M * N), gu = poisoned_bf16(M * N);
  cuda::linear_backward_input(ctx(), as_bf16(G_ref), as_bf16(dg), as_bf16(dw), M, K, N, false);
  kc::mlp_gemm_plain(as_bf16(G_own), as_bf16(dg), as_bf16(dw), true, M, N, K, stream());
  kc::mlp_proj_input_grad_relu2(as_bf16(gu), as_bf16(du), as_bf16(dg), as_bf16(dw), M, N, K, stream());
  sync();
  const auto want_G = download_bits(G_ref), own_G = download_bits(G_own), got_gu = download_bits(gu),
             got_u = download_bits(du);
  expect_same_product("backward G", own_G, want_G, 1e-3);
  size_t u_mismatch = 0, gu_own_mismatch = 0, gu_ref_mismatch = 0, gu_far = 0, same_G = 0;
  for (size_t i = 0; i < got_gu.size(); ++i) {
    const float x = nanochat::bf16::to_float(u0.bits[i]);
    if (got_u[i] != bits_of(relu2_host(x))) ++u_mismatch;
    if (got_gu[i] != bits_of(relu2_grad_host(nanochat::bf16::to_float(own_G[i]), x))) ++gu_own_mismatch;
    const uint16_t want_gu = bits_of(relu2_grad_host(nanochat::bf16::to_float(want_G[i]), x));
    if (own_G[i] == want_G[i]) {
      ++same_G;
      if (got_gu[i] != want_gu) ++gu_ref_mismatch;
    } else {
      const float gv = nanochat::bf16::to_float(got_gu[i]), wv = nanochat::bf16::to_float(want_gu);
      if (!(std::fabs(gv - wv) <= std::ldexp(std::fabs(wv), -6) + 4e-3f * std::fabs(x))) ++gu_far;
    }
  }
  EXPECT_EQ(u_mismatch, 0u) << "u_inout != bf16(relu(u)^2) of the old u";
  EXPECT_EQ(gu_own_mismatch, 0u) << "g_u != bf16(relu2_grad(G, u)) for the kernel's own G";
  EXPECT_EQ(gu_ref_mismatch, 0u) << "g_u differs from the cuBLASLt path where G agrees";
  EXPECT_EQ(gu_far, 0u) << "g_u far from the cuBLASLt path where G differs by a bit";
  EXPECT_GT(same_G, got_gu.size() / 2);
}

INSTANTIATE_TEST_SUITE_P(Shapes, MlpGemmTest,
                         ::testing::Values(MlpShape{256, 512, 128}, MlpShape{384, 768, 256}, MlpShape{256, 512, 768},
                                           MlpShape{384, 256, 64},
                                           MlpShape{2048, 3072, 768}));  // d12's widths (C = 768)

// Without cuBLASLt (so racecheck sees only our kernels): the fused kernels against the same kernel's
// plain product, at a shape where some CTAs run two tiles (140 tiles).
class MlpGemmSelfTest : public GpuTest {};

TEST_F(MlpGemmSelfTest, FusedEpiloguesFollowOwnProductBitwise) {
  const int64_t M = 128 * 70, N = 512, K = 128;
  std::mt19937 rng(99);
  const Bf16Data x = random_bf16(M * K, rng), w_fc = random_bf16(N * K, rng, 0.1f),
                 w_proj = random_bf16(K * N, rng, 0.1f), u0 = random_bf16(M * N, rng);
  auto dx = upload_bits(x.bits), dwf = upload_bits(w_fc.bits), dwp = upload_bits(w_proj.bits),
       du = upload_bits(u0.bits);
  auto c = poisoned_bf16(M * N), u = poisoned_bf16(M * N), a = poisoned_bf16(M * N), G = poisoned_bf16(M * N),
       gu = poisoned_bf16(M * N);
  kc::mlp_gemm_plain(as_bf16(c), as_bf16(dx), as_bf16(dwf), false, M, N, K, stream());
  kc::fc_relu2_forward(as_bf16(u), as_bf16(a), as_bf16(dx), as_bf16(dwf), M, N, K, stream());
  kc::mlp_gemm_plain(as_bf16(G), as_bf16(dx), as_bf16(dwp), true, M, N, K, stream());
  kc::mlp_proj_input_grad_relu2(as_bf16(gu), as_bf16(du), as_bf16(dx), as_bf16(dwp), M, N, K, stream());
  sync();
  const auto got_c = download_bits(c), got_u = download_bits(u), got_a = download_bits(a), got_G = download_bits(G),
             got_gu = download_bits(gu), got_u2 = download_bits(du);
  EXPECT_TRUE(got_u == got_c) << "fused forward's u differs from the plain product";
  size_t bad_a = 0, bad_gu = 0, bad_u2 = 0, nan = 0;
  for (size_t i = 0; i < got_u.size(); ++i) {
    const float uf = nanochat::bf16::to_float(got_u[i]), x0 = nanochat::bf16::to_float(u0.bits[i]);
    nan += std::isnan(uf) || std::isnan(nanochat::bf16::to_float(got_G[i]));
    bad_a += got_a[i] != bits_of(relu2_host(uf));
    bad_gu += got_gu[i] != bits_of(relu2_grad_host(nanochat::bf16::to_float(got_G[i]), x0));
    bad_u2 += got_u2[i] != bits_of(relu2_host(x0));
  }
  EXPECT_EQ(nan, 0u);
  EXPECT_EQ(bad_a, 0u);
  EXPECT_EQ(bad_gu, 0u);
  EXPECT_EQ(bad_u2, 0u);
}

class MlpGemmRejectTest : public GpuTest {};

TEST_F(MlpGemmRejectTest, UnsupportedShapesAndPointersThrow) {
  EXPECT_FALSE(kc::mlp_gemm_supported(200, 512, 128));
  EXPECT_FALSE(kc::mlp_gemm_supported(256, 500, 128));
  EXPECT_FALSE(kc::mlp_gemm_supported(256, 512, 100));
  EXPECT_FALSE(kc::mlp_gemm_supported(0, 512, 128));
  auto x = poisoned_bf16(384 * 512), w = poisoned_bf16(512 * 512), u = poisoned_bf16(384 * 512),
       a = poisoned_bf16(384 * 512);
  EXPECT_THROW(kc::fc_relu2_forward(as_bf16(u), as_bf16(a), as_bf16(x), as_bf16(w), 200, 512, 128, stream()),
               nanochat::Error);
  EXPECT_THROW(kc::mlp_proj_input_grad_relu2(as_bf16(u), as_bf16(a), as_bf16(x), as_bf16(w), 256, 500, 128, stream()),
               nanochat::Error);
  EXPECT_THROW(kc::fc_relu2_forward(as_bf16(u) + 1, as_bf16(a), as_bf16(x), as_bf16(w), 256, 512, 128, stream()),
               nanochat::Error);
  EXPECT_THROW(kc::mlp_proj_input_grad_relu2(as_bf16(u), as_bf16(u), as_bf16(x), as_bf16(w), 256, 512, 128, stream()),
               nanochat::Error);
}

}  // namespace
}  // namespace nanochat::gpu_test
