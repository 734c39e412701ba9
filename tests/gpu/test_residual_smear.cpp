// Residual lambda blends (also the backout), the elementwise helpers and the smear vs the CPU
// reference; scalar-parameter gradients must also be bitwise reproducible run to run.
#include <cstring>

#include "gpu_test_support.h"
#include "nanochat/core/bf16.h"
#include "nanochat/core/error.h"
#include "nanochat/kernels/ops.h"

namespace nanochat::gpu_test {
namespace {

namespace kc = kernels::cuda;
namespace cpu = kernels::cpu;

std::vector<float> one(float v) { return {v}; }
bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

class ResidualMixTest : public GpuTest, public ::testing::WithParamInterface<int64_t> {};

TEST_P(ResidualMixTest, LambdaBlendForwardAndBackwardMatchCpu) {
  const int64_t n = GetParam();
  std::mt19937 rng(static_cast<unsigned>(n));
  const float alpha = 0.83f, beta = 0.21f;
  const Bf16Data x = random_bf16(n, rng), x0 = random_bf16(n, rng), gz = random_bf16(n, rng);
  auto dx = upload_bits(x.bits), dx0 = upload_bits(x0.bits), dgz = upload_bits(gz.bits);
  auto dalpha = upload(one(alpha)), dbeta = upload(one(beta));
  const kc::ScalarParam pa{dalpha.data(), 1.0f}, pb{dbeta.data(), 1.0f};

  std::vector<float> want_z(n);
  cpu::residual_mix_forward(want_z.data(), x.values.data(), x0.values.data(), alpha, beta, n);
  auto z = poisoned_bf16(n);
  kc::residual_mix_forward(as_bf16(z), as_bf16(dx), as_bf16(dx0), pa, pb, n, stream());
  sync();
  expect_close("residual_mix forward", download_bf16(z), want_z, 1e-2);

  // Backward: gx overwrites gz in place (as the model calls it); gx0 and the lambdas accumulate.
  const std::vector<float> gx0_init = random_f32(n, rng, 0.1f);
  const float ga_init = 0.5f, gb_init = -0.25f;
  std::vector<float> want_gx(n), want_gx0 = gx0_init;
  float want_ga = ga_init, want_gb = gb_init;
  cpu::residual_mix_backward(want_gx.data(), want_gx0.data(), &want_ga, &want_gb, gz.values.data(), x.values.data(),
                             x0.values.data(), alpha, beta, n);
  std::vector<float> runs_ga, runs_gb;
  for (int run = 0; run < 2; ++run) {
    auto g = upload_bits(gz.bits);
    auto gx0 = upload(gx0_init);
    auto ga = upload(one(ga_init)), gb = upload(one(gb_init));
    kc::residual_mix_backward(as_bf16(g), gx0.data(), ga.data(), gb.data(), as_bf16(g), as_bf16(dx), as_bf16(dx0), pa,
                              pb, n, stream());
    sync();
    if (run == 0) {
      expect_close("residual_mix backward gx (in place)", download_bf16(g), want_gx, 1e-2);
      expect_close("residual_mix backward gx0 (+=, fp32)", gx0.to_host(), want_gx0, 1e-6);
      expect_close("residual_mix backward g_alpha (+=)", ga.to_host(), one(want_ga), 1e-4);
      expect_close("residual_mix backward g_beta (+=)", gb.to_host(), one(want_gb), 1e-4);
    }
    runs_ga.push_back(ga.to_host()[0]);
    runs_gb.push_back(gb.to_host()[0]);
  }
  EXPECT_TRUE(same_bits({runs_ga[0], runs_gb[0]}, {runs_ga[1], runs_gb[1]})) << "scalar gradients must be reproducible";
}

INSTANTIATE_TEST_SUITE_P(Sizes, ResidualMixTest, ::testing::Values(int64_t{1}, int64_t{1000}, int64_t{3000017}));

class BackoutTest : public GpuTest {};

// x_f = x_L - lambda_b * x_b: alpha is the constant 1, beta is {lambda_b, -1}, and the gradient
// lands on lambda_b itself (the CPU model negates d/d(beta) by hand).
TEST_F(BackoutTest, ConstantAndNegatedParameterMatchCpu) {
  const int64_t n = 4099;
  std::mt19937 rng(7);
  const float lambda = 0.37f;
  const Bf16Data x = random_bf16(n, rng), xb = random_bf16(n, rng), gz = random_bf16(n, rng);
  auto dx = upload_bits(x.bits), dxb = upload_bits(xb.bits), dgz = upload_bits(gz.bits);
  auto dl = upload(one(lambda));
  const kc::ScalarParam pa{nullptr, 1.0f}, pb{dl.data(), -1.0f};
  std::vector<float> want_z(n);
  cpu::residual_mix_forward(want_z.data(), x.values.data(), xb.values.data(), 1.0f, -lambda, n);
  auto z = poisoned_bf16(n);
  kc::residual_mix_forward(as_bf16(z), as_bf16(dx), as_bf16(dxb), pa, pb, n, stream());

  std::vector<float> want_gx(n), want_gxb(n, 0.0f);
  float unused = 0, g_neg = 0;
  cpu::residual_mix_backward(want_gx.data(), want_gxb.data(), &unused, &g_neg, gz.values.data(), x.values.data(),
                             xb.values.data(), 1.0f, -lambda, n);
  auto gx = poisoned_bf16(n);
  auto gxb = upload(std::vector<float>(n, 0.0f));
  auto gl = upload(one(0.125f));
  kc::residual_mix_backward(as_bf16(gx), gxb.data(), nullptr, gl.data(), as_bf16(dgz), as_bf16(dx), as_bf16(dxb), pa,
                            pb, n, stream());
  sync();
  expect_close("backout forward", download_bf16(z), want_z, 1e-2);
  expect_close("backout backward gx", download_bf16(gx), want_gx, 1e-2);
  expect_close("backout backward gxb (fp32)", gxb.to_host(), want_gxb, 1e-6);
  expect_close("backout backward g_lambda", gl.to_host(), one(0.125f - g_neg), 1e-4);
}

class ElementwiseTest : public GpuTest {};

TEST_F(ElementwiseTest, AddAxpyScaleMatchCpu) {
  const int64_t n = 100003;
  std::mt19937 rng(11);
  const Bf16Data y = random_bf16(n, rng), x = random_bf16(n, rng);
  const std::vector<float> yf = random_f32(n, rng), xf = random_f32(n, rng);
  auto dx = upload_bits(x.bits);
  auto dxf = upload(xf);

  std::vector<float> want = y.values;
  cpu::add_inplace(want.data(), x.values.data(), n);
  auto d1 = upload_bits(y.bits);
  kc::add_inplace(as_bf16(d1), as_bf16(dx), n, stream());
  std::vector<float> want_f = yf;
  cpu::add_inplace(want_f.data(), x.values.data(), n);
  auto d2 = upload(yf);
  kc::add_inplace(d2.data(), as_bf16(dx), n, stream());
  std::vector<float> want_bf = y.values;
  cpu::add_inplace(want_bf.data(), xf.data(), n);
  auto d3 = upload_bits(y.bits);
  kc::add_inplace(as_bf16(d3), dxf.data(), n, stream());
  std::vector<float> want_axpy = yf;
  for (int64_t i = 0; i < n; ++i) want_axpy[i] += -0.75f * xf[i];
  auto d4 = upload(yf);
  kc::axpy(d4.data(), -0.75f, dxf.data(), n, stream());
  std::vector<float> want_scale(n);
  for (int64_t i = 0; i < n; ++i) want_scale[i] = 3.5f * x.values[i];
  auto d5 = upload_bits(x.bits);
  kc::scale(as_bf16(d5), as_bf16(d5), 3.5f, n, stream());
  sync();
  // One fp32 operation rounded once: bit-exact with the CPU's fp32 result rounded to bf16.
  EXPECT_EQ(download_bf16(d1), bf16_of(want).values) << "bf16 += bf16";
  expect_close("add_inplace fp32 += bf16", d2.to_host(), want_f, 1e-7);
  EXPECT_EQ(download_bf16(d3), bf16_of(want_bf).values) << "bf16 += fp32";
  expect_close("axpy fp32", d4.to_host(), want_axpy, 1e-7);
  EXPECT_EQ(download_bf16(d5), bf16_of(want_scale).values) << "scale in place";
}

struct SmearShape {
  int64_t B, T, C;
};

class SmearTest : public GpuTest, public ::testing::WithParamInterface<SmearShape> {};

TEST_P(SmearTest, ForwardBackwardAndStepMatchCpu) {
  const auto [B, T, C] = GetParam();
  const int64_t rows = B * T, G = kernels::kSmearGateChannels;
  std::mt19937 rng(static_cast<unsigned>(B * 5 + T * 7 + C));
  const float lambda = 0.6f;
  const Bf16Data xn = random_bf16(rows * C, rng), w = random_bf16(G, rng, 0.3f);
  auto dxn = upload_bits(xn.bits), dw = upload_bits(w.bits);
  auto dl = upload(one(lambda));

  std::vector<float> want_out(rows * C), want_sig(rows);
  cpu::smear_forward(want_out.data(), want_sig.data(), xn.values.data(), w.values.data(), lambda, B, T, C);
  auto out = poisoned_bf16(rows * C);
  auto sig = poisoned_f32(rows);
  kc::smear_forward(as_bf16(out), sig.data(), as_bf16(dxn), as_bf16(dw), dl.data(), B, T, C, stream());
  sync();
  expect_close("smear forward out", download_bf16(out), want_out, 1e-2);
  expect_close("smear forward sigmoid (fp32)", sig.to_host(), want_sig, 1e-5);

  const std::vector<float> gout = random_f32(rows * C, rng);
  const std::vector<float> gw_init = random_f32(G, rng, 0.1f);
  std::vector<float> want_gxn(rows * C), want_gw = gw_init;
  float want_gl = 0.25f;
  cpu::smear_backward(want_gxn.data(), want_gw.data(), &want_gl, gout.data(), xn.values.data(), want_sig.data(),
                      w.values.data(), lambda, B, T, C);
  auto dgout = upload(gout), dsig = upload(want_sig);
  std::vector<std::vector<float>> runs;
  for (int run = 0; run < 2; ++run) {
    auto gxn = poisoned_bf16(rows * C);
    auto gw = upload(gw_init);
    auto gl = upload(one(0.25f));
    kc::smear_backward(as_bf16(gxn), gw.data(), gl.data(), dgout.data(), as_bf16(dxn), dsig.data(), as_bf16(dw),
                       dl.data(), B, T, C, stream());
    sync();
    std::vector<float> got_gw = gw.to_host();
    if (run == 0) {
      expect_close("smear backward gxn", download_bf16(gxn), want_gxn, 1e-2);
      expect_close("smear backward g_gate (+=, fp32)", got_gw, want_gw, 1e-4);
      expect_close("smear backward g_lambda (+=)", gl.to_host(), one(want_gl), 1e-4);
    }
    got_gw.push_back(gl.to_host()[0]);
    runs.push_back(got_gw);
  }
  EXPECT_TRUE(same_bits(runs[0], runs[1])) << "gate and lambda gradients must be reproducible";

  // Decode step: each row's previous embedding comes from a cache buffer.
  const Bf16Data prev = random_bf16(rows * C, rng);
  std::vector<float> want_step(rows * C);
  cpu::smear_step(want_step.data(), xn.values.data(), prev.values.data(), w.values.data(), lambda, rows, C);
  auto dprev = upload_bits(prev.bits);
  auto step = poisoned_bf16(rows * C);
  kc::smear_step(as_bf16(step), as_bf16(dxn), as_bf16(dprev), as_bf16(dw), dl.data(), rows, C, stream());
  sync();
  expect_close("smear step", download_bf16(step), want_step, 1e-2);
}

INSTANTIATE_TEST_SUITE_P(Shapes, SmearTest,
                         ::testing::Values(SmearShape{1, 1, 24}, SmearShape{2, 9, 100}, SmearShape{3, 257, 768}));

TEST_F(ElementwiseTest, SmearRejectsNarrowRows) {
  cuda::DeviceBuffer<uint16_t> buf(40);
  cuda::DeviceBuffer<float> f(4);
  EXPECT_THROW(kc::smear_forward(as_bf16(buf), f.data(), as_bf16(buf), as_bf16(buf), f.data(), 1, 2, 20, stream()),
               Error);
}

}  // namespace
}  // namespace nanochat::gpu_test
