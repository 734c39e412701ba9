// The fused elementwise ops (residual blend + RMSNorm forward and backward, relu² backward with its
// recomputed forward, rotary + QK norm forward and backward, softcap CE forward + backward) vs the
// CPU reference running the separate ops with the same bf16 roundings in between. Shapes cover the
// vectorized fast paths, their tails, and the fallbacks (widths not a multiple of 8, other head
// sizes, vocabularies too wide for registers).
#include <cmath>
#include <cstring>
#include <string>

#include "gpu_test_support.h"
#include "nanochat/core/bf16.h"
#include "nanochat/kernels/ops.h"

namespace nanochat::gpu_test {
namespace {

namespace kc = kernels::cuda;
namespace cpu = kernels::cpu;

std::vector<float> rounded(std::vector<float> v) {
  for (float& x : v) x = ::nanochat::bf16::round(x);
  return v;
}
std::vector<float> one(float v) { return {v}; }
bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

struct RowsShape {
  int64_t rows, n;
};

class ResidualNormFusionTest : public GpuTest, public ::testing::WithParamInterface<RowsShape> {};

TEST_P(ResidualNormFusionTest, ForwardMatchesCpuAndTheSeparateOps) {
  const auto [rows, n] = GetParam();
  std::mt19937 rng(static_cast<unsigned>(rows * 13 + n));
  const float alpha = 0.83f, beta = 0.21f;
  const Bf16Data x = random_bf16(rows * n, rng, 2.0f), x0 = random_bf16(rows * n, rng);
  auto dx = upload_bits(x.bits), dx0 = upload_bits(x0.bits);
  auto da = upload(one(alpha)), db = upload(one(beta));
  const kc::ScalarParam pa{da.data(), 1.0f}, pb{db.data(), 1.0f};

  // CPU: the blend, rounded to bf16 (the stored residual), then the norm of the rounded values.
  std::vector<float> want_z(rows * n), want_y(rows * n), want_rstd(rows);
  cpu::residual_mix_forward(want_z.data(), x.values.data(), x0.values.data(), alpha, beta, rows * n);
  want_z = rounded(want_z);
  cpu::rmsnorm_forward(want_y.data(), want_rstd.data(), want_z.data(), rows, n);

  auto z = poisoned_bf16(rows * n), y = poisoned_bf16(rows * n);
  auto rstd = poisoned_f32(rows);
  kc::residual_mix_rmsnorm_forward(as_bf16(z), as_bf16(y), rstd.data(), as_bf16(dx), as_bf16(dx0), pa, pb, rows, n,
                                   stream());
  sync();
  const std::vector<float> got_z = download_bf16(z), got_y = download_bf16(y), got_rstd = rstd.to_host();
  expect_close("mix+norm forward z", got_z, want_z, 1e-2);
  expect_close("mix+norm forward y", got_y, want_y, 1e-2);
  expect_close("mix+norm forward rstd", got_rstd, want_rstd, 1e-5);

  // The separate GPU ops give the same bits.
  auto z2 = poisoned_bf16(rows * n), y2 = poisoned_bf16(rows * n);
  auto rstd2 = poisoned_f32(rows);
  kc::residual_mix_forward(as_bf16(z2), as_bf16(dx), as_bf16(dx0), pa, pb, rows * n, stream());
  kc::rmsnorm_forward(as_bf16(y2), rstd2.data(), as_bf16(z2), rows, n, stream());
  sync();
  EXPECT_EQ(download_bf16(z2), got_z);
  EXPECT_EQ(download_bf16(y2), got_y);
  EXPECT_TRUE(same_bits(rstd2.to_host(), got_rstd));
}

TEST_P(ResidualNormFusionTest, BackwardMatchesCpuAndIsReproducible) {
  const auto [rows, n] = GetParam();
  std::mt19937 rng(static_cast<unsigned>(rows * 17 + n));
  const float alpha = 0.9f, beta = -0.3f;
  const Bf16Data gy = random_bf16(rows * n, rng), x = random_bf16(rows * n, rng), x0 = random_bf16(rows * n, rng);
  const Bf16Data g_in = random_bf16(rows * n, rng);
  // y and rstd as a forward would leave them.
  std::vector<float> y(rows * n), rs(rows);
  const Bf16Data src = random_bf16(rows * n, rng, 3.0f);
  cpu::rmsnorm_forward(y.data(), rs.data(), src.values.data(), rows, n);
  const Bf16Data yb = bf16_of(y);
  const std::vector<float> gx0_init = random_f32(rows * n, rng, 0.1f);
  auto dgy = upload_bits(gy.bits), dy = upload_bits(yb.bits), dx = upload_bits(x.bits), dx0 = upload_bits(x0.bits);
  auto drs = upload(rs);
  auto da = upload(one(alpha)), db = upload(one(beta));
  const kc::ScalarParam pa{da.data(), 1.0f}, pb{db.data(), 1.0f};

  for (const bool accumulate : {false, true}) {
    // CPU: the norm's gradient (+= the incoming g when accumulating) rounded to bf16, then the blend's.
    std::vector<float> want_g = accumulate ? g_in.values : std::vector<float>(rows * n);
    cpu::rmsnorm_backward(want_g.data(), gy.values.data(), yb.values.data(), rs.data(), rows, n, accumulate);
    want_g = rounded(want_g);
    std::vector<float> want_gx(rows * n), want_gx0 = gx0_init;
    float want_ga = 0.5f, want_gb = -0.25f;
    cpu::residual_mix_backward(want_gx.data(), want_gx0.data(), &want_ga, &want_gb, want_g.data(), x.values.data(),
                               x0.values.data(), alpha, beta, rows * n);
    std::vector<std::vector<float>> runs;
    for (int run = 0; run < 2; ++run) {
      auto g = accumulate ? upload_bits(g_in.bits) : poisoned_bf16(rows * n);
      auto gx0 = upload(gx0_init);
      auto ga = upload(one(0.5f)), gb = upload(one(-0.25f));
      kc::rmsnorm_residual_mix_backward(as_bf16(g), gx0.data(), ga.data(), gb.data(), as_bf16(dgy), as_bf16(dy),
                                        drs.data(), accumulate, as_bf16(dx), as_bf16(dx0), pa, pb, rows, n, stream());
      sync();
      std::vector<float> got = download_bf16(g), got_gx0 = gx0.to_host();
      const std::vector<float> got_ga = ga.to_host(), got_gb = gb.to_host();
      if (run == 0) {
        const char* mode = accumulate ? " (+=)" : " (=)";
        expect_close((std::string("norm+mix backward gx") + mode).c_str(), got, want_gx, 1e-2);
        expect_close((std::string("norm+mix backward gx0 fp32") + mode).c_str(), got_gx0, want_gx0, 1e-4);
        expect_close((std::string("norm+mix backward g_alpha") + mode).c_str(), got_ga, one(want_ga), 1e-3);
        expect_close((std::string("norm+mix backward g_beta") + mode).c_str(), got_gb, one(want_gb), 1e-3);
      }
      got.insert(got.end(), got_gx0.begin(), got_gx0.end());
      got.push_back(got_ga[0]);
      got.push_back(got_gb[0]);
      runs.push_back(std::move(got));
    }
    EXPECT_TRUE(same_bits(runs[0], runs[1])) << "fused norm+mix backward must be bitwise reproducible";
  }
}

// 1280 = the d20 width (5 vectors per lane); 2048 the widest fast path; 8 one vector per row for 8
// lanes; 100 and 2056 fall back to the separate ops.
INSTANTIATE_TEST_SUITE_P(Shapes, ResidualNormFusionTest,
                         ::testing::Values(RowsShape{37, 1280}, RowsShape{9, 2048}, RowsShape{33, 8},
                                           RowsShape{5, 100}, RowsShape{3, 2056}, RowsShape{2050, 768}));

class Relu2FusionTest : public GpuTest, public ::testing::WithParamInterface<int64_t> {};

TEST_P(Relu2FusionTest, BackwardWithForwardMatchesCpu) {
  const int64_t n = GetParam();
  std::mt19937 rng(static_cast<unsigned>(n + 5));
  const Bf16Data u = random_bf16(n, rng), ga = random_bf16(n, rng);
  std::vector<float> want_a(n), want_gu(n);
  cpu::relu2_forward(want_a.data(), u.values.data(), n);
  cpu::relu2_backward(want_gu.data(), ga.values.data(), u.values.data(), n);
  // Separate poisoned outputs.
  auto du = upload_bits(u.bits), dga = upload_bits(ga.bits);
  auto a = poisoned_bf16(n), gu = poisoned_bf16(n);
  kc::relu2_backward_with_forward(as_bf16(gu), as_bf16(a), as_bf16(dga), as_bf16(du), n, stream());
  sync();
  EXPECT_EQ(download_bf16(a), rounded(want_a)) << "relu^2 recomputed";
  EXPECT_EQ(download_bf16(gu), rounded(want_gu)) << "relu^2 gradient";
  // In place, as the model calls it: a over u, gu over ga.
  kc::relu2_backward_with_forward(as_bf16(dga), as_bf16(du), as_bf16(dga), as_bf16(du), n, stream());
  sync();
  EXPECT_EQ(download_bf16(du), rounded(want_a)) << "relu^2 over u";
  EXPECT_EQ(download_bf16(dga), rounded(want_gu)) << "gradient over ga";
}

INSTANTIATE_TEST_SUITE_P(Sizes, Relu2FusionTest, ::testing::Values(int64_t{5}, int64_t{1000003}, int64_t{4096}));

struct RopeShape {
  int64_t B, T, H, d, pos0;
};

class RopeNormFusionTest : public GpuTest, public ::testing::WithParamInterface<RopeShape> {};

TEST_P(RopeNormFusionTest, ForwardAndBackwardMatchCpu) {
  const auto [B, T, H, d, pos0] = GetParam();
  const int64_t half = d / 2, max_pos = pos0 + T, rows = B * T * H, n = rows * d;
  const float scale = 1.2f;
  std::vector<float> cos(max_pos * half), sin(max_pos * half);
  cpu::rotary_tables(cos.data(), sin.data(), max_pos, d);
  cos = rounded(cos);  // as the model's tables
  sin = rounded(sin);
  std::mt19937 rng(static_cast<unsigned>(B * 3 + T * 5 + H * 7 + d + pos0));
  const Bf16Data x = random_bf16(n, rng, 2.0f), g = random_bf16(n, rng);
  auto dcos = upload(cos), dsin = upload(sin);

  // CPU forward: rotate, round (the stored bf16), norm and scale.
  std::vector<float> want_x = x.values, want_rstd(rows);
  cpu::rotary_forward(want_x.data(), cos.data(), sin.data(), B, T, H, d, pos0);
  want_x = rounded(want_x);
  cpu::scaled_rmsnorm_forward(want_x.data(), want_rstd.data(), rows, d, scale);
  auto dx = upload_bits(x.bits);
  auto rstd = poisoned_f32(rows);
  kc::rotary_scaled_rmsnorm_forward(as_bf16(dx), rstd.data(), dcos.data(), dsin.data(), B, T, H, d, pos0, scale,
                                    stream());
  sync();
  const std::vector<float> got_x = download_bf16(dx);
  expect_close("rope+qknorm forward (in place)", got_x, want_x, 1e-2);
  expect_close("rope+qknorm forward rstd", rstd.to_host(), want_rstd, 1e-5);
  // An element the kernel skipped would keep its input; every row must have unit-ish RMS * 1.2.
  for (int64_t r = 0; r < rows; ++r) {
    double ss = 0;
    for (int64_t j = 0; j < d; ++j) ss += double{got_x[r * d + j]} * got_x[r * d + j];
    ASSERT_NEAR(std::sqrt(ss / static_cast<double>(d)), 1.2, 2e-2) << "row " << r;
  }

  // CPU backward from the GPU's output: norm backward, round, rotate back.
  const Bf16Data out = bf16_of(got_x);
  std::vector<float> want_g = g.values;
  cpu::scaled_rmsnorm_backward(want_g.data(), out.values.data(), want_rstd.data(), rows, d, scale);
  want_g = rounded(want_g);
  cpu::rotary_backward(want_g.data(), cos.data(), sin.data(), B, T, H, d, pos0);
  auto dout = upload_bits(out.bits), dg = upload_bits(g.bits);
  auto drs = upload(want_rstd);
  kc::scaled_rmsnorm_rotary_backward(as_bf16(dg), as_bf16(dout), drs.data(), dcos.data(), dsin.data(), B, T, H, d,
                                     pos0, scale, stream());
  sync();
  expect_close("qknorm+rope backward (in place)", download_bf16(dg), want_g, 1e-2);
}

// d = 128 (the model), 64 and 256 take the fused kernels (odd row counts test the two-rows-per-warp
// tail); d = 32 and 96 fall back to the separate ops.
INSTANTIATE_TEST_SUITE_P(Shapes, RopeNormFusionTest,
                         ::testing::Values(RopeShape{2, 5, 3, 128, 3}, RopeShape{3, 33, 10, 128, 0},
                                           RopeShape{1, 7, 3, 64, 11}, RopeShape{2, 3, 1, 256, 0},
                                           RopeShape{1, 9, 2, 32, 1}, RopeShape{1, 4, 3, 96, 2}));

struct LossShape {
  int64_t rows, V;
};

class SoftcapFusionTest : public GpuTest, public ::testing::WithParamInterface<LossShape> {};

TEST_P(SoftcapFusionTest, ForwardBackwardMatchesCpu) {
  const auto [rows, V] = GetParam();
  const float cap = 15.0f, scale = 1.0f / static_cast<float>(rows);
  std::mt19937 rng(static_cast<unsigned>(rows * 7 + V));
  const Bf16Data logits = random_bf16(rows * V, rng, 8.0f);
  std::vector<int64_t> targets(rows);
  std::uniform_int_distribution<int64_t> tok(0, V - 1);
  for (int64_t r = 0; r < rows; ++r) targets[r] = (r % 4 == 2) ? -1 : tok(rng);
  targets[0] = V - 1;  // the last column (the last vector's last lane)

  std::vector<float> z = logits.values, want_loss(rows), want_lse(rows);
  cpu::softcap_cross_entropy_forward(z.data(), want_loss.data(), want_lse.data(), targets.data(), rows, V, cap);
  std::vector<float> want_g = logits.values;
  cpu::softcap_cross_entropy_backward_block(want_g.data(), want_lse.data(), targets.data(), rows, V, 0, cap, scale);

  auto dl = upload_bits(logits.bits);
  auto dt = upload(targets);
  auto loss = poisoned_f32(rows), lse = poisoned_f32(rows);
  kc::softcap_cross_entropy_forward_backward(loss.data(), lse.data(), as_bf16(dl), dt.data(), rows, V, cap, scale,
                                             stream());
  sync();
  const std::vector<float> got_loss = loss.to_host(), got_lse = lse.to_host();
  expect_close("softcap CE fused loss", got_loss, want_loss, 1e-5);
  expect_close("softcap CE fused lse", got_lse, want_lse, 1e-5);
  const std::vector<float> got_g = download_bf16(dl);
  expect_close("softcap CE fused gradient (in place)", got_g, want_g, 1e-2);
  for (int64_t r = 0; r < rows; ++r) {
    if (targets[r] >= 0) continue;
    EXPECT_EQ(got_loss[r], 0.0f) << "ignored row " << r;
    for (int64_t c = 0; c < V; ++c) ASSERT_EQ(got_g[r * V + c], 0.0f) << "ignored row " << r << " col " << c;
  }

  // The separate kernels (forward, then backward) agree (their sums run in another order).
  auto dl2 = upload_bits(logits.bits);
  auto loss2 = poisoned_f32(rows), lse2 = poisoned_f32(rows);
  kc::softcap_cross_entropy_forward(loss2.data(), lse2.data(), as_bf16(dl2), dt.data(), rows, V, cap, stream());
  kc::softcap_cross_entropy_backward(as_bf16(dl2), as_bf16(dl2), lse2.data(), dt.data(), rows, V, 0, cap, scale,
                                     stream());
  sync();
  expect_close("softcap CE separate vs fused gradient", download_bf16(dl2), got_g, 1e-3);
  expect_close("softcap CE separate vs fused lse", lse2.to_host(), got_lse, 1e-6);
  if (V % 8 == 0 && V <= 32768) {
    // The forward alone runs the fused kernel's first half: the eval loss is the training loss exactly.
    EXPECT_TRUE(same_bits(lse2.to_host(), got_lse));
    EXPECT_TRUE(same_bits(loss2.to_host(), got_loss));
  }
}

// 32768 (the model's vocabulary) and 1000 take the fused kernel; 50257 (odd) and 65536 (too wide
// for registers) the two passes.
INSTANTIATE_TEST_SUITE_P(Shapes, SoftcapFusionTest,
                         ::testing::Values(LossShape{9, 1000}, LossShape{21, 32768}, LossShape{3, 50257},
                                           LossShape{2, 65536}));

}  // namespace
}  // namespace nanochat::gpu_test
