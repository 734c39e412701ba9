// The lm_head backward fused into the training forward (Activations::fuse_lm_head_backward) must give
// the same loss and gradients as the plain forward + backward, for any loss_scale (gradient
// accumulation passes 1/A), with ignored targets, and after being switched off again.
#include <gtest/gtest.h>

#include <cmath>

#include "golden_support.h"
#include "nanochat/core/safetensors.h"
#include "nanochat/model/gpt.h"

using namespace nanochat;
using namespace nanochat::model;

namespace {
double rel_err(std::span<const float> a, std::span<const float> b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    den += static_cast<double>(b[i]) * b[i];
  }
  return std::sqrt(num / std::max(den, 1e-300));
}
}  // namespace

TEST(FusedLmHeadBackward, SameLossAndGradientsAsThePlainPath) {
  const auto path = test::golden_dir() / "gpt_tiny_gqa_window.safetensors";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "missing " << path.string();
  SafetensorsReader file(path);
  const GPTConfig c = GPTConfig::from_json(file.metadata_value("config"));
  GPT<float> m(c);
  m.load(file, "param.");
  const std::vector<int64_t> idx = file.read_i64("input.idx"), targets = file.read_i64("input.targets");
  const auto& shape = file.info("input.idx").shape;
  const int64_t B = shape[0], T = shape[1];
  ASSERT_NE(std::find(targets.begin(), targets.end(), -1), targets.end()) << "the golden targets include ignored ones";

  for (const float scale : {1.0f, 0.5f}) {
    Activations<float> plain(c, B, T), fused(c, B, T);
    fused.fuse_lm_head_backward = true;
    m.zero_grads();
    const float loss_plain = m.forward(plain, idx.data(), targets.data());
    m.backward(plain, scale);
    const std::vector<float> g_plain(m.grads().begin(), m.grads().end());
    m.zero_grads();
    const float loss_fused = m.forward(fused, idx.data(), targets.data());
    m.backward(fused, scale);
    const std::vector<float> g_fused(m.grads().begin(), m.grads().end());
    EXPECT_EQ(loss_plain, loss_fused) << "scale " << scale;
    EXPECT_LT(rel_err(g_fused, g_plain), 1e-6) << "scale " << scale;
    // Switched off again, the same activations behave as plain ones.
    fused.fuse_lm_head_backward = false;
    m.zero_grads();
    EXPECT_EQ(m.forward(fused, idx.data(), targets.data()), loss_plain);
    m.backward(fused, scale);
    EXPECT_LT(rel_err(m.grads(), g_plain), 1e-7);
  }
}
