// Finite-difference checks of the hand-written backward, independent of the golden files: the whole
// model in double precision on a tiny random config (GQA, a real sliding window, value embeddings,
// smear, backout, ignored targets), and the attention kernel alone with a small window.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "nanochat/kernels/ops.h"
#include "nanochat/model/gpt.h"

namespace nanochat::model {
namespace {

namespace k = nanochat::kernels::cpu;

// 3 layers, "SL": layer 0 has the short window 128 < T, layer 2 is forced long; GQA 4:2; VE on
// layers 0 and 2; backout after layer 1.
GPTConfig tiny_config() {
  GPTConfig c;
  c.sequence_len = 132;
  c.vocab_size = 50;
  c.n_layer = 3;
  c.n_head = 4;
  c.n_kv_head = 2;
  c.n_embd = 32;
  c.window_pattern = "SL";
  return c;
}

// Random weights with every path active: non-zero projections, smear and backout on, gates spread.
template <class F>
void randomize(GPT<F>& m, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  for (const ParamEntry& e : m.layout().params()) {
    const std::span<F> p = m.param(e.name);
    double std = e.shape.size() == 2 ? 1.0 / std::sqrt(static_cast<double>(e.shape[1])) : 0.1;
    double mean = 0;
    if (e.name == "transformer.wte.weight") std = 0.8;
    if (e.name.find("gate") != std::string::npos) std = 0.5;
    if (e.name == "resid_lambdas") mean = 1.1;
    if (e.name == "x0_lambdas") mean = 0.15;
    if (e.name == "smear_lambda") mean = 0.4;
    if (e.name == "backout_lambda") mean = 0.2;
    for (F& x : p) x = static_cast<F>(mean + std * normal(rng));
  }
}

TEST(GradCheck, WholeModelMatchesFiniteDifferencesInDouble) {
  const GPTConfig c = tiny_config();
  ASSERT_LT(c.window(0), c.sequence_len);  // a real sliding window is exercised
  const int64_t B = 2, T = c.sequence_len, BT = B * T;
  GPT<double> m(c);
  randomize(m, 1234);
  std::mt19937_64 rng(99);
  std::vector<int64_t> idx(static_cast<size_t>(BT)), targets(static_cast<size_t>(BT));
  for (int64_t r = 0; r < BT; ++r) {
    idx[static_cast<size_t>(r)] = static_cast<int64_t>(rng() % 20);  // repeated ids: scatter-add collisions
    targets[static_cast<size_t>(r)] = r % 7 == 3 ? -1 : static_cast<int64_t>(rng() % static_cast<uint64_t>(c.vocab_size));
  }
  Activations<double> acts(c, B, T);
  const double loss = m.forward(acts, idx.data(), targets.data());
  ASSERT_TRUE(std::isfinite(loss));
  m.zero_grads();
  m.backward(acts);
  const std::vector<double> grads(m.grads().begin(), m.grads().end());

  // mean reduction = sum of the per-position ("none") losses / number of valid targets.
  double sum = 0;
  for (int64_t r = 0; r < BT; ++r) sum += acts.loss[r];
  EXPECT_NEAR(loss, sum / static_cast<double>(acts.num_valid_targets), 1e-12);
  EXPECT_LT(acts.num_valid_targets, BT);

  auto loss_at = [&](size_t offset, double value) {
    std::span<double> p = m.params();
    const double saved = p[offset];
    p[offset] = value;
    const double l = m.forward(acts, idx.data(), targets.data());
    p[offset] = saved;
    return l;
  };
  const double eps = 1e-5;
  int checked = 0;
  double worst = 0;
  std::string worst_name;
  for (const ParamEntry& e : m.layout().params()) {
    // A few coordinates per tensor: the largest-gradient ones plus random ones.
    std::vector<size_t> coords;
    size_t best = 0;
    for (size_t i = 1; i < e.numel; ++i)
      if (std::fabs(grads[e.offset + i]) > std::fabs(grads[e.offset + best])) best = i;
    coords.push_back(best);
    for (int s = 0; s < 4 && coords.size() < e.numel; ++s) coords.push_back(static_cast<size_t>(rng() % e.numel));
    double max_abs = 0;
    for (size_t i = 0; i < e.numel; ++i) max_abs = std::max(max_abs, std::fabs(grads[e.offset + i]));
    ASSERT_GT(max_abs, 0.0) << e.name << " has an all-zero gradient: a path is missing";
    for (size_t i : coords) {
      const size_t off = e.offset + i;
      const double p0 = m.params()[off];
      const double fd = (loss_at(off, p0 + eps) - loss_at(off, p0 - eps)) / (2 * eps);
      const double an = grads[off];
      // Relative to the tensor's largest gradient, so tiny coordinates do not demand impossible digits.
      const double err = std::fabs(fd - an) / std::max(max_abs, 1e-12);
      if (err > worst) {
        worst = err;
        worst_name = e.name;
      }
      EXPECT_LT(err, 1e-6) << e.name << "[" << i << "] analytic " << an << " finite difference " << fd;
      ++checked;
    }
  }
  std::printf("finite differences: %d coordinates, worst error %.2e (relative to the tensor's max |grad|, %s)\n",
              checked, worst, worst_name.c_str());

  // Gradients accumulate across backward calls, scaled by loss_scale (micro-step accumulation).
  m.forward(acts, idx.data(), targets.data());
  m.backward(acts, 0.5);
  for (size_t i = 0; i < grads.size(); i += 97) EXPECT_NEAR(m.grads()[i], 1.5 * grads[i], 1e-12 + 1e-9 * std::fabs(grads[i]));
}

TEST(GradCheck, AttentionKernelWithSmallWindowMatchesFiniteDifferences) {
  k::AttentionShape s;
  s.B = 2;
  s.Tq = s.Tk = s.kv_stride = 9;
  s.H = 4;
  s.Hk = 2;
  s.d = 4;
  s.window = 3;
  const size_t nq = static_cast<size_t>(s.B * s.Tq * s.H * s.d), nk = static_cast<size_t>(s.B * s.Tk * s.Hk * s.d);
  std::mt19937_64 rng(7);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> q(nq), kk(nk), v(nk), R(nq), y(nq), lse(static_cast<size_t>(s.B * s.H * s.Tq));
  for (auto* vec : {&q, &kk, &v, &R})
    for (double& x : *vec) x = normal(rng);
  auto objective = [&] {  // sum(y * R): its gradient w.r.t. y is R
    k::attention_forward(y.data(), lse.data(), q.data(), kk.data(), v.data(), s);
    double o = 0;
    for (size_t i = 0; i < nq; ++i) o += y[i] * R[i];
    return o;
  };
  objective();
  std::vector<double> gq(nq), gk(nk), gv(nk);
  k::attention_backward(gq.data(), gk.data(), gv.data(), R.data(), q.data(), kk.data(), v.data(), y.data(), lse.data(),
                        s);
  const double eps = 1e-6;
  for (auto [x, g, name] : {std::tuple{&q, &gq, "q"}, std::tuple{&kk, &gk, "k"}, std::tuple{&v, &gv, "v"}}) {
    for (size_t i = 0; i < x->size(); ++i) {
      const double x0 = (*x)[i];
      (*x)[i] = x0 + eps;
      const double up = objective();
      (*x)[i] = x0 - eps;
      const double down = objective();
      (*x)[i] = x0;
      EXPECT_NEAR((*g)[i], (up - down) / (2 * eps), 1e-7) << name << "[" << i << "]";
    }
  }

  // A query chunk at pos0 > 0 over a longer key buffer (the KV-cache form) equals the same rows of
  // the full causal computation.
  objective();
  k::AttentionShape chunk = s;
  chunk.pos0 = 5;
  chunk.Tq = 4;
  std::vector<double> q_tail(static_cast<size_t>(s.B * chunk.Tq * s.H * s.d)), y_tail(q_tail.size());
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t t = 0; t < chunk.Tq; ++t)
      for (int64_t c = 0; c < s.H * s.d; ++c)
        q_tail[static_cast<size_t>((b * chunk.Tq + t) * s.H * s.d + c)] = q[static_cast<size_t>((b * s.Tq + chunk.pos0 + t) * s.H * s.d + c)];
  k::attention_forward<double>(y_tail.data(), nullptr, q_tail.data(), kk.data(), v.data(), chunk);
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t t = 0; t < chunk.Tq; ++t)
      for (int64_t c = 0; c < s.H * s.d; ++c)
        EXPECT_NEAR(y_tail[static_cast<size_t>((b * chunk.Tq + t) * s.H * s.d + c)],
                    y[static_cast<size_t>((b * s.Tq + chunk.pos0 + t) * s.H * s.d + c)], 1e-12);
}

}  // namespace
}  // namespace nanochat::model
