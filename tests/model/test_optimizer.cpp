// MuonAdamW pieces against their definitions (spec §7): AdamW against a double-precision transcription
// of the formula, Muon's invariants (update norm, zero-gradient decay, tall/wide symmetry,
// orthogonality), the param groups of setup_optimizer, the schedule hook and determinism.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "nanochat/core/bf16.h"
#include "nanochat/core/error.h"
#include "nanochat/core/safetensors.h"
#include "nanochat/optim/adamw.h"
#include "nanochat/optim/muon.h"
#include "nanochat/optim/muon_adamw.h"
#include "nanochat/optim/polar_express.h"

namespace nanochat::optim {
namespace {

using model::GPTConfig;
using model::OptimKind;
using model::ParamLayout;

std::vector<float> random_vector(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

GPTConfig tiny_config() {
  GPTConfig c;
  c.sequence_len = 16;
  c.vocab_size = 64;
  c.n_layer = 2;
  c.n_head = 2;
  c.n_kv_head = 1;
  c.n_embd = 32;
  c.window_pattern = "L";
  return c;
}

TEST(AdamW, MatchesTheFormulaInDouble) {
  const size_t n = 1000;
  std::vector<float> p = random_vector(n, 1), m(n, 0.0f), v(n, 0.0f);
  std::vector<double> pd(p.begin(), p.end()), md(n, 0.0), vd(n, 0.0);
  const AdamWHyper h{0.01, 0.8, 0.95, 1e-3, 0.1};  // a large eps so that its placement matters
  for (int64_t step = 1; step <= 10; ++step) {
    const std::vector<float> g = random_vector(n, 100 + static_cast<uint32_t>(step), 0.01f);
    adamw_step(p.data(), g.data(), m.data(), v.data(), n, step, h);
    for (size_t i = 0; i < n; ++i) {
      pd[i] *= 1 - h.lr * h.weight_decay;  // decoupled decay first, with the scheduled lr
      md[i] = h.beta1 * md[i] + (1 - h.beta1) * g[i];
      vd[i] = h.beta2 * vd[i] + (1 - h.beta2) * g[i] * g[i];
      const double denom = std::sqrt(vd[i] / (1 - std::pow(h.beta2, step))) + h.eps;  // eps after the sqrt
      pd[i] -= h.lr / (1 - std::pow(h.beta1, step)) * md[i] / denom;
    }
  }
  for (size_t i = 0; i < n; ++i) {
    ASSERT_NEAR(p[i], pd[i], 1e-6 * (1 + std::fabs(pd[i]))) << i;
    ASSERT_NEAR(m[i], md[i], 1e-5 * std::fabs(md[i]) + 1e-9) << i;  // gradients are ~1e-2
    ASSERT_NEAR(v[i], vd[i], 1e-5 * std::fabs(vd[i]) + 1e-15) << i;
  }
}

TEST(AdamW, Bf16StorageRoundsParamAndMoments) {
  const size_t n = 257;
  std::vector<float> p = random_vector(n, 2), m(n, 0.0f), v(n, 0.0f);
  const std::vector<float> g = random_vector(n, 3, 0.1f);
  adamw_step(p.data(), g.data(), m.data(), v.data(), n, 1, {0.1, 0.8, 0.995, 1e-10, 0.001}, true);
  for (size_t i = 0; i < n; ++i)
    for (float x : {p[i], m[i], v[i]}) ASSERT_EQ(bf16::to_float(bf16::from_float(x)), x) << i;
}

TEST(AdamW, LerpUsesPyTorchsTwoBranches) {
  EXPECT_EQ(lerp_f32(3.0f, 7.0f, 0.0f), 3.0f);
  EXPECT_EQ(lerp_f32(3.0f, 7.0f, 1.0f), 7.0f);  // exact at w = 1 thanks to the second branch
  EXPECT_EQ(lerp_f32(1.0f, 2.0f, 0.25f), 1.25f);
  EXPECT_EQ(lerp_f32(0.1f, 0.3f, 0.95f), std::fma(0.95f - 1.0f, 0.3f - 0.1f, 0.3f));
}

// Runs one Muon step on K random (m, n) matrices and returns ||ΔP_k||_F / lr_eff per matrix.
std::vector<double> muon_update_norms(int64_t K, int64_t m, int64_t n, double wd, std::vector<float>* delta = nullptr) {
  const auto total = static_cast<size_t>(K * m * n);
  std::vector<float> p = random_vector(total, 5, 0.02f), g = random_vector(total, 6, 0.001f), mb(total, 0.0f);
  std::vector<float> vb(static_cast<size_t>(K * muon_second_moment_size(m, n)), 0.0f);
  const std::vector<float> before = p;
  MuonWorkspace ws;
  const MuonHyper h{0.02, 0.95, wd, 0.9, 5};
  muon_step(p.data(), g.data(), mb.data(), vb.data(), K, m, n, h, ws);
  const double lr_eff = 0.02 * muon_lr_factor(m, n);
  std::vector<double> norms;
  for (int64_t k = 0; k < K; ++k) {
    double s = 0;
    for (int64_t i = k * m * n; i < (k + 1) * m * n; ++i) {
      const double d = static_cast<double>(p[static_cast<size_t>(i)]) - before[static_cast<size_t>(i)];
      s += d * d;
    }
    norms.push_back(std::sqrt(s) / lr_eff);
  }
  if (delta != nullptr) {
    delta->resize(total);
    for (size_t i = 0; i < total; ++i) (*delta)[i] = p[i] - before[i];
  }
  return norms;
}

TEST(Muon, UpdateNormIsSqrtMinDimWithTheTallLrFactor) {
  // Muon+ snaps ||O||_F to sqrt(min(m, n)) and NorMuon preserves it; with wd = 0 the step is lr_eff·O.
  for (auto [m, n] : {std::pair<int64_t, int64_t>{32, 64}, {64, 32}, {48, 48}, {1, 12}, {13, 12}}) {
    SCOPED_TRACE(std::to_string(m) + "x" + std::to_string(n));
    for (double norm : muon_update_norms(3, m, n, 0.0))
      EXPECT_NEAR(norm, std::sqrt(static_cast<double>(std::min(m, n))), 2e-4 * std::sqrt(static_cast<double>(std::min(m, n))));
  }
  EXPECT_DOUBLE_EQ(muon_lr_factor(4 * 32, 32), 2.0);
  EXPECT_DOUBLE_EQ(muon_lr_factor(32, 4 * 32), 1.0);
  EXPECT_DOUBLE_EQ(muon_lr_factor(13, 12), std::sqrt(13.0 / 12.0));
}

TEST(Muon, ZeroGradientGetsFullNonCautiousDecay) {
  for (auto [m, n] : {std::pair<int64_t, int64_t>{16, 32}, {64, 16}}) {
    const auto total = static_cast<size_t>(2 * m * n);
    std::vector<float> p = random_vector(total, 7, 0.02f), g(total, 0.0f), mb(total, 0.0f);
    std::vector<float> vb(static_cast<size_t>(2 * muon_second_moment_size(m, n)), 0.0f);
    const std::vector<float> before = p;
    MuonWorkspace ws;
    muon_step(p.data(), g.data(), mb.data(), vb.data(), 2, m, n, {0.02, 0.95, 0.28, 0.9, 5}, ws);
    const float lr = static_cast<float>(0.02 * muon_lr_factor(m, n)), lr_wd = lr * 0.28f;
    for (size_t i = 0; i < total; ++i) ASSERT_EQ(p[i], before[i] - (lr * 0.0f + lr_wd * before[i])) << i;
  }
}

TEST(Muon, CautiousDecaySkipsEntriesWhereUpdateAndParamDisagree) {
  std::vector<float> d0, d1;
  muon_update_norms(1, 24, 40, 0.0, &d0);
  muon_update_norms(1, 24, 40, 0.5, &d1);
  const std::vector<float> p = random_vector(24 * 40, 5, 0.02f);
  size_t decayed = 0, kept = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    // Without decay the step is -lr·O; O agrees with P in sign exactly where -d0·P >= 0.
    const bool agree = -d0[i] * p[i] >= 0;
    const float extra = d1[i] - d0[i];
    if (agree) {
      EXPECT_NEAR(extra, -0.02f * 0.5f * p[i], 1e-8f) << i;
      ++decayed;
    } else {
      EXPECT_NEAR(extra, 0.0f, 1e-9f) << i;
      ++kept;
    }
  }
  EXPECT_GT(decayed, 100u);
  EXPECT_GT(kept, 100u);
}

TEST(PolarExpress, TallBranchIsTheTransposeOfTheWideBranch) {
  const int64_t m = 40, n = 24;
  const std::vector<float> x = random_vector(static_cast<size_t>(m * n), 9, 0.02f);
  std::vector<double> tall(x.begin(), x.end()), wide(static_cast<size_t>(m * n));
  double norm = 0;
  for (double v : tall) norm += v * v;
  for (double& v : tall) v /= 1.01 * std::sqrt(norm);
  for (int64_t r = 0; r < m; ++r)
    for (int64_t c = 0; c < n; ++c) wide[static_cast<size_t>(c * m + r)] = tall[static_cast<size_t>(r * n + c)];
  PolarExpressWorkspace<double> ws;
  polar_express(tall.data(), m, n, 5, ws);  // m > n: X·(bA + cA²), A = XᵀX
  polar_express(wide.data(), n, m, 5, ws);  // n < m: (bA + cA²)·X, A = XXᵀ
  for (int64_t r = 0; r < m; ++r)
    for (int64_t c = 0; c < n; ++c)
      ASSERT_NEAR(tall[static_cast<size_t>(r * n + c)], wide[static_cast<size_t>(c * m + r)], 1e-12);
}

TEST(PolarExpress, OutputIsNearlySemiOrthogonal) {
  const int64_t m = 32, n = 64;
  const std::vector<float> x = random_vector(static_cast<size_t>(m * n), 10);
  std::vector<float> o(x.size());
  PolarExpressWorkspace<double> ws;
  muon_orthogonalize(x.data(), o.data(), m, n, 5, ws);
  // O·Oᵀ ≈ I: the diagonal near 1 and the off-diagonal near 0 (Polar Express leaves singular
  // values within a band around 1 rather than at 1 exactly).
  double worst_diag = 0, worst_off = 0;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < m; ++j) {
      double s = 0;
      for (int64_t k = 0; k < n; ++k) s += static_cast<double>(o[static_cast<size_t>(i * n + k)]) * o[static_cast<size_t>(j * n + k)];
      if (i == j) worst_diag = std::max(worst_diag, std::fabs(s - 1));
      else worst_off = std::max(worst_off, std::fabs(s));
    }
  EXPECT_LT(worst_diag, 0.3);
  EXPECT_LT(worst_off, 0.2);
  std::printf("PolarExpress 32x64: max |diag(OOᵀ)-1| %.3f, max |offdiag| %.3f\n", worst_diag, worst_off);
}

TEST(MuonAdamW, DefaultGroupsFollowSetupOptimizer) {
  // d12 with base_train's CLI defaults: the spec's §8.2 table row (C = 768, so no d_model scaling).
  const ParamLayout layout(GPTConfig::from_depth(12, 32768, 2048));
  const std::vector<GroupHyper> g = default_param_groups(layout, {0.008, 0.3, 0.02, 0.28, 0.5});
  ASSERT_EQ(g.size(), 10u);  // 6 AdamW + (6,12), (768,768), (768,3072), (3072,768)
  const double want_lr[] = {0.008, 0.3, 0.15, 0.005, 0.5, 0.2, 0.02, 0.02, 0.02, 0.02};
  const double want_b1[] = {0.8, 0.8, 0.8, 0.8, 0.96, 0.8};
  const double want_b2[] = {0.96, 0.995, 0.995, 0.95, 0.95, 0.95};
  const double want_wd[] = {0.01, 0.001, 0.01, 0.05, 0.0, 0.0};
  for (size_t i = 0; i < g.size(); ++i) {
    SCOPED_TRACE(layout.groups()[i].label);
    EXPECT_NEAR(g[i].lr, want_lr[i], 1e-15);
    EXPECT_EQ(g[i].initial_lr, g[i].lr);
    if (i < 6) {
      EXPECT_EQ(g[i].kind, OptimKind::AdamW);
      EXPECT_EQ(g[i].beta1, want_b1[i]);
      EXPECT_EQ(g[i].beta2, want_b2[i]);
      EXPECT_EQ(g[i].eps, 1e-10);
      EXPECT_EQ(g[i].weight_decay, want_wd[i]);
    } else {
      EXPECT_EQ(g[i].kind, OptimKind::Muon);
      EXPECT_EQ(g[i].momentum, 0.95);
      EXPECT_EQ(g[i].ns_steps, 5);
      EXPECT_EQ(g[i].beta2, 0.9);
      EXPECT_EQ(g[i].weight_decay, 0.28);
    }
  }
  // d_model scaling (C/768)^-0.5 touches lm_head, wte and value_embeds only; smear stays 0.2.
  const ParamLayout small(tiny_config());  // C = 32
  const std::vector<GroupHyper> s = default_param_groups(small, {0.008, 0.3, 0.02, 0.28, 0.5});
  const double scale = std::sqrt(768.0 / 32.0);
  EXPECT_NEAR(s[0].lr, 0.008 * scale, 1e-15);
  EXPECT_NEAR(s[1].lr, 0.3 * scale, 1e-14);
  EXPECT_NEAR(s[2].lr, 0.15 * scale, 1e-14);
  EXPECT_EQ(s[3].lr, 0.005);
  EXPECT_EQ(s[5].lr, 0.2);
}

TEST(MuonAdamW, ApplyScheduleSetsLrOnAllAndMomentumWdOnMuon) {
  const ParamLayout layout(tiny_config());
  MuonAdamW opt(layout, OptimizerSetup{0.008, 0.3, 0.02, 0.28, 0.5});
  opt.apply_schedule(0.5, 0.9, 0.1);
  for (const GroupHyper& h : opt.groups()) {
    EXPECT_DOUBLE_EQ(h.lr, 0.5 * h.initial_lr);
    if (h.kind == OptimKind::Muon) {
      EXPECT_EQ(h.momentum, 0.9);
      EXPECT_EQ(h.weight_decay, 0.1);
    } else {
      EXPECT_NE(h.weight_decay, 0.1);  // AdamW decays are fixed per group
    }
  }
}

TEST(MuonAdamW, StepIsDeterministicAndStateMirrorsTheSlab) {
  const ParamLayout layout(tiny_config());
  std::vector<float> results[2];
  for (auto& out : results) {
    MuonAdamW opt(layout, OptimizerSetup{0.008, 0.3, 0.02, 0.28, 0.5});
    std::vector<float> params = random_vector(layout.total_floats(), 11, 0.05f);
    for (int s = 0; s < 3; ++s) opt.step(params, random_vector(layout.total_floats(), 20 + static_cast<uint32_t>(s), 0.01f));
    EXPECT_EQ(opt.first_moment().size(), layout.total_floats());
    for (size_t gi = 0; gi < layout.groups().size(); ++gi) {
      const auto& g = layout.groups()[gi];
      if (g.kind == OptimKind::AdamW) {
        EXPECT_EQ(opt.second_moment_offset(static_cast<int>(gi)), g.offset);
        for (int p : g.params) EXPECT_EQ(opt.adamw_step_count(p), 3);
      } else {
        // NorMuon buffers are positive after a step with non-zero gradients.
        const size_t off = opt.second_moment_offset(static_cast<int>(gi));
        const size_t count = g.params.size() * static_cast<size_t>(muon_second_moment_size(g.rows, g.cols));
        ASSERT_LE(off + count, opt.second_moment().size());
        for (size_t i = 0; i < count; ++i) ASSERT_GT(opt.second_moment()[off + i], 0.0f) << g.label;
      }
    }
    out = params;
  }
  EXPECT_EQ(results[0], results[1]);
}

TEST(MuonAdamW, RejectsMismatchedSlabsAndGroups) {
  const ParamLayout layout(tiny_config());
  MuonAdamW opt(layout, OptimizerSetup{});
  std::vector<float> params(layout.total_floats()), grads(layout.total_floats() - 1);
  EXPECT_THROW(opt.step(params, grads), Error);
  std::vector<GroupHyper> groups = default_param_groups(layout, OptimizerSetup{});
  groups.pop_back();
  EXPECT_THROW(MuonAdamW(layout, groups), Error);
  groups = default_param_groups(layout, OptimizerSetup{});
  groups.back().ns_steps = 6;
  EXPECT_THROW(MuonAdamW(layout, groups), Error);
}

}  // namespace
}  // namespace nanochat::optim
