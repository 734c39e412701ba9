// RMSNorm, relu^2 and rotary kernels vs the CPU reference on the same bf16-valued inputs.
#include "gpu_test_support.h"
#include "nanochat/kernels/ops.h"

namespace nanochat::gpu_test {
namespace {

namespace kc = kernels::cuda;
namespace cpu = kernels::cpu;

struct RowsShape {
  int64_t rows, n;
};

class RmsNormTest : public GpuTest, public ::testing::WithParamInterface<RowsShape> {};

TEST_P(RmsNormTest, ForwardAndBackwardMatchCpu) {
  const auto [rows, n] = GetParam();
  std::mt19937 rng(static_cast<unsigned>(rows * 31 + n));
  const Bf16Data x = random_bf16(rows * n, rng, 3.0f);
  std::vector<float> want_y(rows * n), want_rstd(rows);
  cpu::rmsnorm_forward(want_y.data(), want_rstd.data(), x.values.data(), rows, n);
  auto dx = upload_bits(x.bits);
  auto y = poisoned_bf16(rows * n);
  auto rstd = poisoned_f32(rows);
  kc::rmsnorm_forward(as_bf16(y), rstd.data(), as_bf16(dx), rows, n, stream());
  sync();
  expect_close("rmsnorm forward y (bf16)", download_bf16(y), want_y, 1e-2);
  expect_close("rmsnorm forward rstd (fp32)", rstd.to_host(), want_rstd, 1e-5);

  // In place (y aliases x) gives the same values.
  kc::rmsnorm_forward(as_bf16(dx), nullptr, as_bf16(dx), rows, n, stream());
  sync();
  expect_close("rmsnorm forward in place", download_bf16(dx), download_bf16(y), 0.0);

  // Backward from the GPU's y (bf16) and the reference rstd, overwriting and accumulating.
  const Bf16Data yb = bf16_of(download_bf16(y));
  const Bf16Data gy = random_bf16(rows * n, rng);
  auto dgy = upload_bits(gy.bits), dyb = upload_bits(yb.bits);
  auto drs = upload(want_rstd);
  std::vector<float> want_gx(rows * n);
  cpu::rmsnorm_backward(want_gx.data(), gy.values.data(), yb.values.data(), want_rstd.data(), rows, n, false);
  auto gx = poisoned_bf16(rows * n);
  kc::rmsnorm_backward(as_bf16(gx), as_bf16(dgy), as_bf16(dyb), drs.data(), rows, n, false, stream());
  sync();
  expect_close("rmsnorm backward (=)", download_bf16(gx), want_gx, 1e-2);

  const Bf16Data g0 = random_bf16(rows * n, rng);
  std::vector<float> want_acc = g0.values;
  cpu::rmsnorm_backward(want_acc.data(), gy.values.data(), yb.values.data(), want_rstd.data(), rows, n, true);
  auto gacc = upload_bits(g0.bits);
  kc::rmsnorm_backward(as_bf16(gacc), as_bf16(dgy), as_bf16(dyb), drs.data(), rows, n, true, stream());
  sync();
  expect_close("rmsnorm backward (+=)", download_bf16(gacc), want_acc, 1e-2);
}

INSTANTIATE_TEST_SUITE_P(Shapes, RmsNormTest,
                         ::testing::Values(RowsShape{7, 100}, RowsShape{64, 768}, RowsShape{5, 2050}));

class Relu2Test : public GpuTest, public ::testing::WithParamInterface<int64_t> {};

TEST_P(Relu2Test, ForwardAndBackwardMatchCpu) {
  const int64_t n = GetParam();
  std::mt19937 rng(static_cast<unsigned>(n));
  const Bf16Data u = random_bf16(n, rng), ga = random_bf16(n, rng);
  std::vector<float> want_a(n), want_gu(n);
  cpu::relu2_forward(want_a.data(), u.values.data(), n);
  cpu::relu2_backward(want_gu.data(), ga.values.data(), u.values.data(), n);
  auto du = upload_bits(u.bits), dga = upload_bits(ga.bits);
  auto a = poisoned_bf16(n), gu = poisoned_bf16(n);
  kc::relu2_forward(as_bf16(a), as_bf16(du), n, stream());
  kc::relu2_backward(as_bf16(gu), as_bf16(dga), as_bf16(du), n, stream());
  sync();
  expect_close("relu2 forward", download_bf16(a), want_a, 1e-2);
  expect_close("relu2 backward", download_bf16(gu), want_gu, 1e-2);
  // The products of bf16 values rounded once: bit-exact with the CPU's fp32 result rounded to bf16.
  EXPECT_EQ(download_bf16(a), bf16_of(want_a).values);
}

INSTANTIATE_TEST_SUITE_P(Sizes, Relu2Test, ::testing::Values(int64_t{17}, int64_t{1000003}));

struct RotaryShape {
  int64_t B, T, H, d, pos0;
};

class RotaryTest : public GpuTest, public ::testing::WithParamInterface<RotaryShape> {};

TEST_P(RotaryTest, ForwardAndBackwardMatchCpu) {
  const auto [B, T, H, d, pos0] = GetParam();
  const int64_t half = d / 2, max_pos = pos0 + T, n = B * T * H * d;
  std::vector<float> cos(max_pos * half), sin(max_pos * half);
  cpu::rotary_tables(cos.data(), sin.data(), max_pos, d);
  std::mt19937 rng(static_cast<unsigned>(B + T * 3 + H * 5 + d * 7 + pos0));
  const Bf16Data x = random_bf16(n, rng), g = random_bf16(n, rng);
  std::vector<float> want_x = x.values, want_g = g.values;
  cpu::rotary_forward(want_x.data(), cos.data(), sin.data(), B, T, H, d, pos0);
  cpu::rotary_backward(want_g.data(), cos.data(), sin.data(), B, T, H, d, pos0);
  auto dcos = upload(cos), dsin = upload(sin);
  auto dx = upload_bits(x.bits), dg = upload_bits(g.bits);
  // In place: an element the kernel skipped would keep its input value, far from the rotated one.
  kc::rotary_forward(as_bf16(dx), dcos.data(), dsin.data(), B, T, H, d, pos0, stream());
  kc::rotary_backward(as_bf16(dg), dcos.data(), dsin.data(), B, T, H, d, pos0, stream());
  sync();
  expect_close("rotary forward", download_bf16(dx), want_x, 1e-2);
  expect_close("rotary backward", download_bf16(dg), want_g, 1e-2);
  // Backward is the forward's transpose (an inverse rotation): fwd then bwd returns x up to rounding.
  kc::rotary_backward(as_bf16(dx), dcos.data(), dsin.data(), B, T, H, d, pos0, stream());
  sync();
  expect_close("rotary backward(forward(x)) = x", download_bf16(dx), x.values, 1e-2);
}

INSTANTIATE_TEST_SUITE_P(Shapes, RotaryTest,
                         ::testing::Values(RotaryShape{2, 5, 3, 64, 3}, RotaryShape{1, 33, 6, 128, 0},
                                           RotaryShape{3, 17, 10, 128, 100}));

}  // namespace
}  // namespace nanochat::gpu_test
