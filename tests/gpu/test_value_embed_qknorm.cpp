// Gated value embeddings and the scaled RMSNorm of the QK norm vs the CPU reference.
#include <cstring>

#include "gpu_test_support.h"
#include "nanochat/core/error.h"
#include "nanochat/kernels/ops.h"

namespace nanochat::gpu_test {
namespace {

namespace kc = kernels::cuda;
namespace cpu = kernels::cpu;

struct VeShape {
  int64_t rows, C, Hk, d, vocab;
};

class ValueEmbedTest : public GpuTest, public ::testing::WithParamInterface<VeShape> {};

TEST_P(ValueEmbedTest, ForwardAndBackwardMatchCpu) {
  const auto [rows, C, Hk, d, vocab] = GetParam();
  const int64_t G = kernels::kVeGateChannels, width = Hk * d;
  std::mt19937 rng(static_cast<unsigned>(rows + C * 3 + Hk * 5 + d * 7));
  const Bf16Data h = random_bf16(rows * C, rng), wg = random_bf16(Hk * G, rng, 0.3f);
  const Bf16Data table = random_bf16(vocab * width, rng), v0 = random_bf16(rows * width, rng);
  std::vector<int64_t> idx(rows);
  std::uniform_int_distribution<int64_t> tok(0, vocab - 1);
  for (auto& i : idx) i = rng() % 4 == 0 ? 1 : tok(rng);  // repeated ids: the scatter must combine them
  auto dh = upload_bits(h.bits), dwg = upload_bits(wg.bits), dtable = upload_bits(table.bits);
  auto didx = upload(idx);

  std::vector<float> want_v = v0.values, want_gate(rows * Hk);
  cpu::value_embed_forward(want_v.data(), want_gate.data(), h.values.data(), wg.values.data(), table.values.data(),
                           idx.data(), rows, C, Hk, d);
  auto v = upload_bits(v0.bits);
  auto gate = poisoned_f32(rows * Hk);
  kc::value_embed_forward(as_bf16(v), gate.data(), as_bf16(dh), as_bf16(dwg), as_bf16(dtable), didx.data(), rows, C,
                          Hk, d, stream());
  sync();
  expect_close("value_embed forward v (+=)", download_bf16(v), want_v, 1e-2);
  expect_close("value_embed forward gate (fp32)", gate.to_host(), want_gate, 1e-5);

  // Backward from the reference gates. gh starts small so that the first 12 columns measure the
  // added gradient; the other columns must stay untouched.
  const Bf16Data gv = random_bf16(rows * width, rng), gh0 = random_bf16(rows * C, rng, 0.01f);
  const std::vector<float> gwg0 = random_f32(Hk * G, rng, 0.1f), gt0 = random_f32(vocab * width, rng, 0.1f);
  std::vector<float> want_gh = gh0.values, want_gwg = gwg0, want_gt = gt0;
  cpu::value_embed_backward(want_gh.data(), want_gwg.data(), want_gt.data(), gv.values.data(), want_gate.data(),
                            h.values.data(), wg.values.data(), table.values.data(), idx.data(), rows, C, Hk, d);
  auto dgv = upload_bits(gv.bits);
  auto dgate = upload(want_gate);
  std::vector<std::vector<float>> runs;
  for (int run = 0; run < 2; ++run) {
    auto gh = upload_bits(gh0.bits);
    auto gwg = upload(gwg0), gt = upload(gt0);
    kc::value_embed_backward(as_bf16(gh), gwg.data(), gt.data(), as_bf16(dgv), dgate.data(), as_bf16(dh), as_bf16(dwg),
                             as_bf16(dtable), didx.data(), rows, C, Hk, d, vocab, stream());
    sync();
    const std::vector<float> got_gh = download_bf16(gh);
    std::vector<float> got_gwg = gwg.to_host(), got_gt = gt.to_host();
    if (run == 0) {
      std::vector<float> got_head, want_head;
      size_t changed_tail = 0;
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < C; ++c) {
          const size_t i = static_cast<size_t>(r * C + c);
          if (c < G) {
            got_head.push_back(got_gh[i]);
            want_head.push_back(want_gh[i]);
          } else if (std::memcmp(&got_gh[i], &gh0.values[i], sizeof(float)) != 0) {
            ++changed_tail;
          }
        }
      expect_close("value_embed backward gh[:, :12] (+=)", got_head, want_head, 1e-2);
      EXPECT_EQ(changed_tail, 0u) << "columns past the gate channels must not change";
      expect_close("value_embed backward g_gate_w (+=, fp32)", got_gwg, want_gwg, 1e-4);
      expect_close("value_embed backward g_table (+=, fp32)", got_gt, want_gt, 1e-5);
    }
    got_gwg.insert(got_gwg.end(), got_gt.begin(), got_gt.end());
    runs.push_back(got_gwg);
  }
  ASSERT_EQ(runs[0].size(), runs[1].size());
  EXPECT_EQ(std::memcmp(runs[0].data(), runs[1].data(), runs[0].size() * sizeof(float)), 0)
      << "gate weight and table gradients must be reproducible";
}

INSTANTIATE_TEST_SUITE_P(Shapes, ValueEmbedTest,
                         ::testing::Values(VeShape{5, 16, 1, 8, 3}, VeShape{70, 96, 3, 32, 50},
                                           VeShape{1030, 768, 6, 128, 2000},
                                           // the backward's one-warp-per-row path: a partial last group of
                                           // heads (d 64: 4 heads per step), d20's 10 heads, d 256
                                           VeShape{333, 320, 5, 64, 90}, VeShape{257, 1280, 10, 128, 300},
                                           VeShape{65, 768, 3, 256, 40},
                                           VeShape{40, 64, 33, 128, 20}));  // more heads than lanes: block path

// The shape check runs on the host before any launch: this test needs no device.
TEST(ValueEmbedArgs, RejectsTooManyHeads) {
  EXPECT_THROW(kc::value_embed_forward(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, 4, 768, 300, 64, nullptr),
               Error);
}

struct QkShape {
  int64_t rows, n;
};

class ScaledRmsNormTest : public GpuTest, public ::testing::WithParamInterface<QkShape> {};

TEST_P(ScaledRmsNormTest, ForwardAndBackwardMatchCpu) {
  const auto [rows, n] = GetParam();
  const float scale = 1.2f;  // model::kQkScale
  std::mt19937 rng(static_cast<unsigned>(rows * 3 + n));
  const Bf16Data x = random_bf16(rows * n, rng, 2.0f);
  std::vector<float> want_x = x.values, want_rstd(rows);
  cpu::scaled_rmsnorm_forward(want_x.data(), want_rstd.data(), rows, n, scale);
  auto dx = upload_bits(x.bits);
  auto rstd = poisoned_f32(rows);
  kc::scaled_rmsnorm_forward(as_bf16(dx), rstd.data(), rows, n, scale, stream());
  sync();
  const std::vector<float> got_x = download_bf16(dx);
  expect_close("scaled rmsnorm forward (in place)", got_x, want_x, 1e-2);
  expect_close("scaled rmsnorm forward rstd (fp32)", rstd.to_host(), want_rstd, 1e-5);

  // Backward from the GPU's bf16 output and the reference rstd.
  const Bf16Data out = bf16_of(got_x), g = random_bf16(rows * n, rng);
  std::vector<float> want_g = g.values;
  cpu::scaled_rmsnorm_backward(want_g.data(), out.values.data(), want_rstd.data(), rows, n, scale);
  auto dout = upload_bits(out.bits), dg = upload_bits(g.bits);
  auto drs = upload(want_rstd);
  kc::scaled_rmsnorm_backward(as_bf16(dg), as_bf16(dout), drs.data(), rows, n, scale, stream());
  sync();
  expect_close("scaled rmsnorm backward (in place)", download_bf16(dg), want_g, 1e-2);
}

INSTANTIATE_TEST_SUITE_P(Shapes, ScaledRmsNormTest,
                         ::testing::Values(QkShape{1, 128}, QkShape{37 * 6, 128}, QkShape{1001, 64},
                                           QkShape{9, 100}));

}  // namespace
}  // namespace nanochat::gpu_test
