// Embedding lookup (bit-exact copy) and the deterministic scatter-add backward vs the CPU reference.
#include "gpu_test_support.h"
#include "nanochat/kernels/ops.h"

namespace nanochat::gpu_test {
namespace {

namespace kc = kernels::cuda;
namespace cpu = kernels::cpu;

struct EmbedShape {
  int64_t vocab, dim, rows;
};

class EmbeddingTest : public GpuTest, public ::testing::WithParamInterface<EmbedShape> {};

TEST_P(EmbeddingTest, ForwardAndBackwardMatchCpu) {
  const auto [vocab, dim, rows] = GetParam();
  std::mt19937 rng(static_cast<unsigned>(vocab + dim * 3 + rows * 7));
  const Bf16Data table = random_bf16(vocab * dim, rng);
  std::vector<int64_t> idx(rows);
  // Skewed ids so that many rows share a token (the case that needs a deterministic reduction).
  std::uniform_int_distribution<int64_t> tok(0, vocab - 1), hot(0, 3);
  for (auto& i : idx) i = (rng() % 3 == 0) ? hot(rng) : tok(rng);
  idx.back() = vocab - 1;

  std::vector<float> want_out(rows * dim);
  cpu::embedding_forward(want_out.data(), table.values.data(), idx.data(), rows, dim);
  auto dtable = upload_bits(table.bits);
  auto didx = upload(idx);
  auto out = poisoned_bf16(rows * dim);
  kc::embedding_forward(as_bf16(out), as_bf16(dtable), didx.data(), rows, dim, stream());
  sync();
  const std::vector<float> got_out = download_bf16(out);
  EXPECT_EQ(count_nan(got_out), 0u);
  EXPECT_EQ(got_out, want_out) << "the lookup is a copy: bit-exact";

  const Bf16Data gout = random_bf16(rows * dim, rng);
  const std::vector<float> g0 = random_f32(vocab * dim, rng);
  std::vector<float> want_g = g0;
  cpu::embedding_backward(want_g.data(), gout.values.data(), idx.data(), rows, dim);
  auto dgout = upload_bits(gout.bits);
  auto g1 = upload(g0), g2 = upload(g0);
  kc::embedding_backward(g1.data(), as_bf16(dgout), didx.data(), rows, dim, vocab, stream());
  kc::embedding_backward(g2.data(), as_bf16(dgout), didx.data(), rows, dim, vocab, stream());
  sync();
  const std::vector<float> got1 = g1.to_host(), got2 = g2.to_host();
  expect_close("embedding backward (+=, fp32)", got1, want_g, 1e-5);
  EXPECT_EQ(got1, got2) << "two runs must be bitwise identical";
}

// One token filling most positions (SFT's padding): its run spans many of the backward's 64-row segments,
// whose pieces are summed in a second pass; runs that start or end exactly on a segment boundary too.
TEST_F(GpuTest, EmbeddingBackwardOfADominantTokenMatchesCpu) {
  const int64_t vocab = 300, dim = 136, rows = 64 * 37 + 5;
  std::mt19937 rng(11);
  std::vector<int64_t> idx(static_cast<size_t>(rows), 7);
  std::uniform_int_distribution<int64_t> tok(0, vocab - 1);
  for (int64_t r = 0; r < rows; r += 9) idx[static_cast<size_t>(r)] = tok(rng);
  // After the stable sort, id 0 holds sorted positions 0..63 exactly (one whole segment), and id 1
  // starts at 64 and runs to 191 (two whole segments).
  for (int64_t r = 0; r < rows; ++r) idx[static_cast<size_t>(r)] = idx[static_cast<size_t>(r)] < 2 ? 3 : idx[static_cast<size_t>(r)];
  for (int64_t r = 0; r < 64; ++r) idx[static_cast<size_t>(r * 3)] = 0;
  for (int64_t r = 0; r < 128; ++r) idx[static_cast<size_t>(r * 3 + 1)] = 1;
  const Bf16Data gout = random_bf16(rows * dim, rng);
  const std::vector<float> g0 = random_f32(vocab * dim, rng);
  std::vector<float> want = g0;
  cpu::embedding_backward(want.data(), gout.values.data(), idx.data(), rows, dim);
  auto didx = upload(idx);
  auto dgout = upload_bits(gout.bits);
  for (const bool aligned : {true, false}) {  // 16-byte path and the scalar path (odd offset)
    auto g1 = upload(g0), g2 = upload(g0);
    cuda::DeviceBuffer<uint16_t> shifted(static_cast<size_t>(rows * dim + 1));
    NC_CUDA_CHECK(cudaMemcpy(shifted.data() + 1, dgout.data(), static_cast<size_t>(rows * dim) * 2,
                             cudaMemcpyDeviceToDevice));
    const bf16* src = aligned ? as_bf16(dgout) : as_bf16(shifted) + 1;
    kc::embedding_backward(g1.data(), src, didx.data(), rows, dim, vocab, stream());
    kc::embedding_backward(g2.data(), src, didx.data(), rows, dim, vocab, stream());
    sync();
    const std::vector<float> got1 = g1.to_host(), got2 = g2.to_host();
    expect_close(aligned ? "dominant token, vector path" : "dominant token, scalar path", got1, want, 1e-5);
    EXPECT_EQ(got1, got2) << "two runs must be bitwise identical";
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, EmbeddingTest,
                         ::testing::Values(EmbedShape{50, 70, 300}, EmbedShape{32768, 768, 1030},
                                           EmbedShape{1000, 1280, 4097}));

}  // namespace
}  // namespace nanochat::gpu_test
