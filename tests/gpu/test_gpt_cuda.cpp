// The whole GPT on the GPU (model::GptCuda) against the CPU reference (model::GPT<float>): the same
// weights (rounded to bf16 first, so both read identical values), the same tokens, and the loss and
// every parameter gradient compared at bf16 tolerance. Also: bitwise determinism, the eval path,
// ignored targets and gradient accumulation.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "gpu/gpu_test_support.h"
#include "nanochat/core/bf16.h"
#include "nanochat/model/activations.h"
#include "nanochat/model/gpt.h"
#include "nanochat/model/gpt_cuda.h"
#include "nanochat/train/init_weights.h"

namespace nanochat::gpu_test {
namespace {

using model::GPTConfig;

GPTConfig small_config(int64_t n_head, int64_t n_kv_head) {
  GPTConfig c;
  c.sequence_len = 64;
  c.vocab_size = 500;  // padded to 512: the padding rows must stay untouched
  c.n_layer = 4;
  c.n_head = n_head;
  c.n_kv_head = n_kv_head;
  c.n_embd = 256;
  c.window_pattern = "SL";
  return c;
}

// init_weights leaves the output projections zero (so most gradients vanish at step 0); add noise
// everywhere so every gradient is exercised, then round to bf16 so CPU and GPU see the same weights.
std::vector<float> test_weights(model::GPT<float>& cpu, uint32_t seed) {
  train::init_weights(cpu, seed);
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0.0f, 0.02f);
  std::vector<float> w(cpu.params().begin(), cpu.params().end());
  for (const model::ParamEntry& e : cpu.layout().params()) {
    const bool padded_table = e.shape.size() == 2 && e.shape[0] == cpu.config().padded_vocab_size();
    for (size_t j = 0; j < e.numel; ++j) {
      // Rows of the padded vocabulary beyond vocab_size are never read; leave them as initialised.
      if (padded_table && static_cast<int64_t>(j) / e.shape[1] >= cpu.config().vocab_size) continue;
      w[e.offset + j] = ::nanochat::bf16::round(w[e.offset + j] + noise(rng));
    }
  }
  std::copy(w.begin(), w.end(), cpu.params().begin());
  return w;
}

struct Batch {
  std::vector<int64_t> idx, targets;
};
Batch random_batch(int64_t B, int64_t T, int64_t V, uint32_t seed, double ignore_fraction = 0.0) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int64_t> tok(0, V - 1);
  std::uniform_real_distribution<double> u(0, 1);
  Batch b;
  for (int64_t i = 0; i < B * T; ++i) {
    b.idx.push_back(tok(rng));
    b.targets.push_back(u(rng) < ignore_fraction ? -1 : tok(rng));
  }
  return b;
}

class GptCudaTest : public GpuTest {};

void compare_step(cuda::CudaContext& ctx, const GPTConfig& config, double ignore_fraction, int64_t B = 2,
                  int64_t T = 64, int64_t logits_chunk_rows = 0) {
  model::GPT<float> cpu(config);
  const std::vector<float> w = test_weights(cpu, 7);
  const Batch batch = random_batch(B, T, config.vocab_size, 11, ignore_fraction);

  model::Activations<float> acts(config, B, T);
  cpu.zero_grads();
  const float cpu_loss = cpu.forward(acts, batch.idx.data(), batch.targets.data());
  cpu.backward(acts, 1.0f);

  model::GptCuda gpu(config, ctx);
  gpu.upload_params(w);
  model::CudaActivations gacts(config, B, T, logits_chunk_rows);
  gpu.zero_grads();
  gpu.forward_backward(gacts, batch.idx.data(), batch.targets.data(), 1.0f);
  const float gpu_loss = gpu.read_loss(gacts);
  const std::vector<float> grads = gpu.download_grads();

  std::printf("  loss cpu %.6f gpu %.6f\n", cpu_loss, gpu_loss);
  ASSERT_TRUE(std::isfinite(gpu_loss));
  EXPECT_NEAR(gpu_loss, cpu_loss, 5e-3 * std::fabs(cpu_loss));
  for (const model::ParamEntry& e : cpu.layout().params()) {
    const std::span<const float> want(cpu.grads().data() + e.offset, e.numel);
    const std::span<const float> got(grads.data() + e.offset, e.numel);
    // Scalars and tiny gate matrices are sums over every position (B*T*C terms) of products of bf16
    // activations, with cancellation: their relative error grows with T, and any change in where bf16
    // rounding happens upstream moves it by whole percents (x0_lambdas at T=512 measured 8.7e-2, 0.134 with
    // the wgmma attention kernels, 0.154 once the rotary + QK-norm kernel summed its squares in another
    // order; every matrix stays near 1e-2), so they get a looser bound.
    const double bound = e.numel < 64 ? 2.5e-1 : 5e-2;
    expect_close(("grad " + e.name).c_str(), got, want, bound);
  }
  // The padding rows of lm_head / wte / value tables get no gradient.
  const model::ParamEntry& lm = cpu.layout().at("lm_head.weight");
  for (size_t j = static_cast<size_t>(config.vocab_size * config.n_embd); j < lm.numel; ++j)
    ASSERT_EQ(grads[lm.offset + j], 0.0f) << "lm_head padding row gradient at " << j;
}

TEST_F(GptCudaTest, TrainingStepMatchesCpuReference) { compare_step(ctx(), small_config(4, 4), 0.0); }

// Real vocabularies split the logits into chunks of rows (lm_head's gradient accumulates over them); at
// the test's vocabulary one chunk holds the whole batch unless it is pinned smaller: 3 chunks, the last
// one partial.
TEST_F(GptCudaTest, TrainingStepMatchesCpuReferenceWithLogitsInChunks) {
  compare_step(ctx(), small_config(4, 4), 0.1, 2, 64, 48);
}

TEST_F(GptCudaTest, TrainingStepMatchesCpuReferenceWithGqaAndIgnoredTargets) {
  compare_step(ctx(), small_config(4, 2), 0.25);
}

// The parity run's shape: T = 512 with "SSSL", so the short layers really slide (window 128 < T) and
// attention spans several query and key tiles.
TEST_F(GptCudaTest, TrainingStepMatchesCpuReferenceWithSlidingWindowsAtT512) {
  GPTConfig c = small_config(3, 3);
  c.sequence_len = 512;
  c.n_layer = 6;
  c.n_embd = 384;  // head_dim 128, as base_train's shapes
  c.window_pattern = "SSSL";
  ASSERT_EQ(c.window(0), 128);
  compare_step(ctx(), c, 0.0, 1, 512);
}

TEST_F(GptCudaTest, StepIsBitwiseDeterministicAndEvalLossEqualsTrainingLoss) {
  const GPTConfig config = small_config(4, 2);
  const int64_t B = 2, T = 64;
  model::GPT<float> cpu(config);
  const std::vector<float> w = test_weights(cpu, 3);
  const Batch batch = random_batch(B, T, config.vocab_size, 5);
  model::GptCuda gpu(config, ctx());
  gpu.upload_params(w);
  model::CudaActivations acts(config, B, T);
  std::vector<std::vector<float>> runs;
  std::vector<float> losses;
  for (int r = 0; r < 2; ++r) {
    gpu.zero_grads();
    gpu.forward_backward(acts, batch.idx.data(), batch.targets.data(), 1.0f);
    losses.push_back(gpu.read_loss(acts));
    runs.push_back(gpu.download_grads());
  }
  EXPECT_EQ(losses[0], losses[1]);
  ASSERT_EQ(runs[0].size(), runs[1].size());
  size_t differing = 0;
  for (size_t i = 0; i < runs[0].size(); ++i) differing += runs[0][i] != runs[1][i] ? 1 : 0;
  EXPECT_EQ(differing, 0u) << "gradients differ between two identical steps";

  gpu.forward_loss(acts, batch.idx.data(), batch.targets.data());
  EXPECT_EQ(gpu.read_loss(acts), losses[0]) << "the eval forward must compute the training forward's loss";
  const std::vector<float> rows = gpu.read_row_losses(acts);
  double sum = 0;
  for (float x : rows) sum += x;
  EXPECT_NEAR(sum / static_cast<double>(rows.size()), losses[0], 1e-4);
}

TEST_F(GptCudaTest, TwoHalfScaledMicroStepsAccumulateLikeOneStep) {
  const GPTConfig config = small_config(4, 4);
  const int64_t B = 2, T = 64;
  model::GPT<float> cpu(config);
  const std::vector<float> w = test_weights(cpu, 9);
  const Batch batch = random_batch(B, T, config.vocab_size, 13);
  model::GptCuda gpu(config, ctx());
  gpu.upload_params(w);
  model::CudaActivations acts(config, B, T);
  gpu.zero_grads();
  gpu.forward_backward(acts, batch.idx.data(), batch.targets.data(), 1.0f);
  const std::vector<float> once = gpu.download_grads();
  gpu.zero_grads();
  gpu.forward_backward(acts, batch.idx.data(), batch.targets.data(), 0.5f);
  gpu.forward_backward(acts, batch.idx.data(), batch.targets.data(), 0.5f);
  const std::vector<float> twice = gpu.download_grads();
  expect_close("accumulated gradients", twice, once, 2e-2);
}

TEST_F(GptCudaTest, RejectsOutOfVocabularyTokensNamingThePosition) {
  const GPTConfig config = small_config(4, 4);
  model::GptCuda gpu(config, ctx());
  model::CudaActivations acts(config, 1, 8);
  std::vector<int64_t> idx(8, 1), targets(8, 1);
  idx[5] = config.vocab_size;
  try {
    gpu.forward_backward(acts, idx.data(), targets.data(), 1.0f);
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("position 5"), std::string::npos) << e.what();
  }
  idx[5] = 1;
  targets[2] = -2;
  EXPECT_THROW(gpu.forward_backward(acts, idx.data(), targets.data(), 1.0f), std::exception);
}

}  // namespace
}  // namespace nanochat::gpu_test
