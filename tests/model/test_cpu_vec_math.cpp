// The CPU kernels' fast paths against plain references: the vectorizable exp/tanh (vec_math.h), the
// tiled GEMM (gemm.h) and the vocabulary-block cross-entropy backward (loss.cpp).
#include <gtest/gtest.h>
#include <omp.h>

#include <cblas.h>
#include <cmath>
#include <random>
#include <vector>

#include "nanochat/kernels/cpu/gemm.h"
#include "nanochat/kernels/cpu/vec_math.h"
#include "nanochat/kernels/ops.h"

namespace nanochat::kernels::cpu {
namespace {

NC_SIMD_CLONES void exp_all(float* y, const float* x, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = exp_f(x[i]);
}
NC_SIMD_CLONES void tanh_all(float* y, const float* x, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = tanh_f(x[i]);
}

TEST(CpuVecMath, ExpWithinTwoUlp) {
  const int64_t n = 1 << 20;
  std::vector<float> x(n), y(n);
  for (int64_t i = 0; i < n; ++i) x[i] = -87.0f + 175.0f * static_cast<float>(i) / static_cast<float>(n);
  exp_all(y.data(), x.data(), n);
  double worst = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double want = std::exp(static_cast<double>(x[i]));
    const float w = static_cast<float>(want);
    const double ulp = std::nextafter(w, INFINITY) - w;
    worst = std::max(worst, std::fabs(y[i] - want) / ulp);
  }
  EXPECT_LE(worst, 2.0);
}

TEST(CpuVecMath, TanhWithinThreeTenMillionths) {
  const int64_t n = 1 << 20;
  std::vector<float> x(n), y(n);
  for (int64_t i = 0; i < n; ++i) x[i] = -12.0f + 24.0f * static_cast<float>(i) / static_cast<float>(n);
  x[0] = 1e-30f;
  x[1] = -3e-8f;
  x[2] = 0.0f;
  tanh_all(y.data(), x.data(), n);
  double worst = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double want = std::tanh(static_cast<double>(x[i]));
    worst = std::max(worst, want == 0 ? std::fabs(y[i]) : std::fabs(y[i] - want) / std::fabs(want));
  }
  EXPECT_LE(worst, 3e-7);
  EXPECT_EQ(y[2], 0.0f);
}

// A NaN logit must stay NaN through the softcap (15*tanh(x/15)); returning +-1 for NaN once turned a
// diverged model's logits into finite values and hid the divergence from the NaN check.
TEST(CpuVecMath, NonFiniteInputsPropagate) {
  using nanochat::kernels::cpu::exp_f;
  using nanochat::kernels::cpu::tanh_f;
  volatile float nan = NAN, inf = INFINITY;
  EXPECT_TRUE(std::isnan(tanh_f(static_cast<float>(nan))));
  EXPECT_TRUE(std::isnan(tanh_f(-static_cast<float>(nan))));
  EXPECT_TRUE(std::isnan(exp_f(static_cast<float>(nan))));
  EXPECT_EQ(tanh_f(static_cast<float>(inf)), 1.0f);
  EXPECT_EQ(tanh_f(-static_cast<float>(inf)), -1.0f);
}

TEST(CpuGemm, TiledMatchesOneBlasCall) {
  std::mt19937 rng(7);
  std::normal_distribution<float> dist;
  for (const bool ta : {false, true}) {
    for (const bool tb : {false, true}) {
      const int64_t M = 301, N = 203, K = 97;
      std::vector<float> A(M * K), B(K * N), C(M * N), want(M * N);
      for (float& v : A) v = dist(rng);
      for (float& v : B) v = dist(rng);
      for (size_t i = 0; i < C.size(); ++i) C[i] = want[i] = dist(rng);
      const int64_t lda = ta ? M : K, ldb = tb ? K : N;
      configure_blas();
      cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, 0.5f,
                  A.data(), lda, B.data(), ldb, 2.0f, want.data(), N);
      gemm<float>(ta, tb, M, N, K, 0.5f, A.data(), lda, B.data(), ldb, 2.0f, C.data(), N);
      double worst = 0;
      for (size_t i = 0; i < C.size(); ++i) worst = std::max(worst, std::fabs(static_cast<double>(C[i]) - want[i]));
      EXPECT_LE(worst, 1e-4) << "trans_a " << ta << " trans_b " << tb;
    }
  }
}

TEST(CpuLoss, VocabularyBlocksMatchTheWholeRowBackward) {
  const int64_t rows = 5, V = 1000, block = 300;
  const float cap = 15.0f, scale = 0.25f;
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0.0f, 8.0f);
  std::vector<float> raw(rows * V);
  for (float& v : raw) v = dist(rng);
  const std::vector<int64_t> targets = {3, -1, 999, 300, 599};
  std::vector<float> z = raw, loss(rows), lse(rows);
  softcap_cross_entropy_forward(z.data(), loss.data(), lse.data(), targets.data(), rows, V, cap);
  std::vector<float> want = z;
  softcap_cross_entropy_backward(want.data(), lse.data(), targets.data(), rows, V, cap, scale);
  for (int64_t v0 = 0; v0 < V; v0 += block) {
    const int64_t n = std::min(block, V - v0);
    std::vector<float> l(rows * n);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < n; ++c) l[r * n + c] = raw[r * V + v0 + c];
    softcap_cross_entropy_backward_block(l.data(), lse.data(), targets.data(), rows, n, v0, cap, scale);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < n; ++c) {
        const float w = want[r * V + v0 + c];
        EXPECT_NEAR(l[r * n + c], w, 1e-6 * scale + 1e-5 * std::fabs(w)) << "row " << r << " column " << v0 + c;
      }
  }
}

}  // namespace
}  // namespace nanochat::kernels::cpu
