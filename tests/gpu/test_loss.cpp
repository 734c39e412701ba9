// Softcap + cross-entropy (ignore_index -1) vs the CPU reference on the same bf16 logits.
#include "gpu_test_support.h"
#include "nanochat/kernels/ops.h"

namespace nanochat::gpu_test {
namespace {

namespace kc = kernels::cuda;
namespace cpu = kernels::cpu;

struct LossShape {
  int64_t rows, V;
};

class SoftcapCrossEntropyTest : public GpuTest, public ::testing::WithParamInterface<LossShape> {};

TEST_P(SoftcapCrossEntropyTest, ForwardAndBackwardMatchCpu) {
  const auto [rows, V] = GetParam();
  const float cap = 15.0f, scale = 1.0f / static_cast<float>(rows);
  std::mt19937 rng(static_cast<unsigned>(rows * 101 + V));
  const Bf16Data logits = random_bf16(rows * V, rng, 8.0f);  // wide enough that the softcap bends
  std::vector<int64_t> targets(rows);
  std::uniform_int_distribution<int64_t> tok(0, V - 1);
  for (int64_t r = 0; r < rows; ++r) targets[r] = (r % 5 == 3) ? -1 : tok(rng);

  std::vector<float> z = logits.values, want_loss(rows), want_lse(rows);
  cpu::softcap_cross_entropy_forward(z.data(), want_loss.data(), want_lse.data(), targets.data(), rows, V, cap);
  auto dl = upload_bits(logits.bits);
  auto dt = upload(targets);
  auto loss = poisoned_f32(rows), lse = poisoned_f32(rows);
  kc::softcap_cross_entropy_forward(loss.data(), lse.data(), as_bf16(dl), dt.data(), rows, V, cap, stream());
  sync();
  const std::vector<float> got_loss = loss.to_host();
  expect_close("softcap CE forward loss (fp32)", got_loss, want_loss, 1e-5);
  expect_close("softcap CE forward lse (fp32)", lse.to_host(), want_lse, 1e-5);
  for (int64_t r = 0; r < rows; ++r) {
    if (targets[r] < 0) {
      EXPECT_EQ(got_loss[r], 0.0f) << "ignored row " << r;
    }
  }

  // Backward over the whole vocabulary, into a separate poisoned buffer.
  std::vector<float> want_g = logits.values;
  cpu::softcap_cross_entropy_backward_block(want_g.data(), want_lse.data(), targets.data(), rows, V, 0, cap, scale);
  auto dlse = upload(want_lse);
  auto g = poisoned_bf16(rows * V);
  kc::softcap_cross_entropy_backward(as_bf16(g), as_bf16(dl), dlse.data(), dt.data(), rows, V, 0, cap, scale,
                                     stream());
  sync();
  expect_close("softcap CE backward (full V)", download_bf16(g), want_g, 1e-2);

  // A block of vocabulary columns [v0, v0 + n), in place on its logits.
  const int64_t v0 = V / 3, n = V / 2 + 1;
  std::vector<uint16_t> block_bits(rows * n);
  std::vector<float> want_block(rows * n);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < n; ++c) {
      block_bits[r * n + c] = logits.bits[r * V + v0 + c];
      want_block[r * n + c] = logits.values[r * V + v0 + c];
    }
  cpu::softcap_cross_entropy_backward_block(want_block.data(), want_lse.data(), targets.data(), rows, n, v0, cap,
                                            scale);
  auto db = upload_bits(block_bits);
  kc::softcap_cross_entropy_backward(as_bf16(db), as_bf16(db), dlse.data(), dt.data(), rows, n, v0, cap, scale,
                                     stream());
  sync();
  expect_close("softcap CE backward (column block, in place)", download_bf16(db), want_block, 1e-2);
}

INSTANTIATE_TEST_SUITE_P(Shapes, SoftcapCrossEntropyTest,
                         ::testing::Values(LossShape{9, 1000}, LossShape{64, 32768}, LossShape{3, 50257}));

}  // namespace
}  // namespace nanochat::gpu_test
