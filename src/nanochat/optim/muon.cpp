#include "nanochat/optim/muon.h"

#include <algorithm>
#include <cmath>
#include <omp.h>

#include "nanochat/core/error.h"
#include "nanochat/kernels/cpu/profile.h"
#include "nanochat/optim/adamw.h"

namespace nanochat::optim {

double muon_lr_factor(int64_t rows, int64_t cols) {
  return std::sqrt(std::max(1.0, static_cast<double>(rows) / static_cast<double>(cols)));
}

namespace {

double sum_squares(const float* x, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  return s;
}

// Muon+ then NorMuon on one orthogonalized matrix o (m, n), updating its second-moment slice v.
void renormalize_and_reduce_variance(float* o, float* v, int64_t m, int64_t n, float beta2, std::vector<float>& stat) {
  // Muon+: snap ‖O‖_F to sqrt(min(m, n)), the norm of an exactly semi-orthogonal matrix.
  const float target = static_cast<float>(std::sqrt(static_cast<double>(std::min(m, n))));
  const float norm = std::max(static_cast<float>(std::sqrt(sum_squares(o, m * n))), 1e-6f);
  const float snap = target / norm;
  for (int64_t i = 0; i < m * n; ++i) o[i] = o[i] * snap;

  // NorMuon: mean of O² along the reduced dimension, one statistic per row (m >= n) or column.
  const bool per_row = muon_stats_per_row(m, n);
  const int64_t stats = per_row ? m : n;
  const int64_t reduced = per_row ? n : m;
  const auto reduced_f = static_cast<float>(reduced);
  stat.assign(static_cast<size_t>(stats), 0.0f);
  if (per_row) {
    for (int64_t r = 0; r < m; ++r) stat[static_cast<size_t>(r)] = static_cast<float>(sum_squares(o + r * n, n) / static_cast<double>(n));
  } else {
    std::vector<double> acc(static_cast<size_t>(n), 0.0);
    for (int64_t r = 0; r < m; ++r)
      for (int64_t c = 0; c < n; ++c) acc[static_cast<size_t>(c)] += static_cast<double>(o[r * n + c]) * o[r * n + c];
    for (int64_t c = 0; c < n; ++c) stat[static_cast<size_t>(c)] = static_cast<float>(acc[static_cast<size_t>(c)] / static_cast<double>(m));
  }
  double stat_sum = 0;
  for (float s : stat) stat_sum += s;
  const float v_norm = std::sqrt(static_cast<float>(stat_sum) * reduced_f);  // = ‖O‖_F

  const float w = 1.0f - beta2;
  double scaled_sum = 0;
  for (int64_t i = 0; i < stats; ++i) {
    const size_t k = static_cast<size_t>(i);
    v[i] = lerp_f32(v[i], stat[k], w);
    const float step = 1.0f / std::sqrt(std::max(v[i], 1e-10f));  // rsqrt
    scaled_sum += static_cast<double>((stat[k] * reduced_f) * (step * step));
    stat[k] = step;  // reuse: the per-row/column step size
  }
  const float v_norm_new = std::sqrt(static_cast<float>(scaled_sum));  // = ‖O ⊙ step‖_F
  const float ratio = v_norm / std::max(v_norm_new, 1e-10f);
  for (int64_t r = 0; r < m; ++r) {
    for (int64_t c = 0; c < n; ++c) {
      const float step = stat[static_cast<size_t>(per_row ? r : c)];
      o[r * n + c] = o[r * n + c] * (step * ratio);
    }
  }
}

}  // namespace

namespace {

// Steps 1 (Nesterov momentum, in place of the original's lerps on the stacked grads) for a stack;
// u receives the update to orthogonalize.
void nesterov_momentum(const MuonStack& st, float* u) {
  const int64_t total = st.K * st.m * st.n;
  const float mu = static_cast<float>(st.h.momentum);
  const float one_minus_mu = 1.0f - mu;
  float* mbuf = st.momentum_buffer;
  const float* g = st.grads;
#pragma omp parallel for schedule(static) if (total > (1 << 16))
  for (int64_t i = 0; i < total; ++i) {
    const float mb = lerp_f32(mbuf[i], g[i], one_minus_mu);
    mbuf[i] = mb;
    u[i] = lerp_f32(g[i], mb, mu);
  }
}

// Steps 2-8 for matrix k of a stack; o = that matrix's update (overwritten).
void update_matrix(const MuonStack& st, int64_t k, float* o, MuonWorkspace& w, OrthoPrecision precision) {
  const int64_t m = st.m, n = st.n, mn = m * n;
  const float beta2 = static_cast<float>(st.h.beta2);
  const float lr = static_cast<float>(st.h.lr * muon_lr_factor(m, n));
  const float lr_wd = lr * static_cast<float>(st.h.weight_decay);
  // 2-5. Orthogonalize (the original's bf16 cast applies only when CD = bf16).
  if (precision == OrthoPrecision::Double) {
    muon_orthogonalize(o, o, m, n, st.h.ns_steps, w.pe64);
  } else {
    muon_orthogonalize(o, o, m, n, st.h.ns_steps, w.pe32);
  }
  // 6-7. Muon+ and NorMuon.
  renormalize_and_reduce_variance(o, st.second_moment + k * muon_second_moment_size(m, n), m, n, beta2, w.stat);
  // 8. Cautious weight decay: decay only where the update and the parameter agree in sign (or
  // either is zero, so an all-zero update decays the whole matrix).
  float* p = st.params + k * mn;
  for (int64_t i = 0; i < mn; ++i) {
    const float g = o[i];
    const bool agree = g * p[i] >= 0.0f;
    const float decay = agree ? lr_wd * p[i] : 0.0f;
    p[i] = p[i] - (lr * g + decay);
  }
}

}  // namespace

void muon_step_stacks(const std::vector<MuonStack>& stacks, MuonWorkspace& ws, OrthoPrecision precision) {
  std::vector<int64_t> offset(stacks.size() + 1, 0);  // of each stack's updates in ws.update
  for (size_t s = 0; s < stacks.size(); ++s) {
    const MuonStack& st = stacks[s];
    NC_CHECK(st.K >= 0 && st.m > 0 && st.n > 0, "muon_step: bad stack shape ({}, {}, {})", st.K, st.m, st.n);
    offset[s + 1] = offset[s] + st.K * st.m * st.n;
  }
  ws.update.resize(static_cast<size_t>(offset.back()));

  kernels::cpu::PhaseTimer t_momentum("optim.muon.momentum");
  for (size_t s = 0; s < stacks.size(); ++s) nesterov_momentum(stacks[s], ws.update.data() + offset[s]);
  t_momentum.stop();

  // The matrices are independent. With enough of them, one per thread (single-threaded GEMMs, own
  // scratch), the largest first so the small ones fill in behind them; otherwise one at a time with
  // parallel GEMMs. The arithmetic per matrix is the same either way.
  struct Task {
    size_t stack;
    int64_t k, size;
  };
  std::vector<Task> tasks;
  for (size_t s = 0; s < stacks.size(); ++s)
    for (int64_t k = 0; k < stacks[s].K; ++k) tasks.push_back({s, k, stacks[s].m * stacks[s].n});
  std::stable_sort(tasks.begin(), tasks.end(), [](const Task& a, const Task& b) { return a.size > b.size; });
  auto run = [&](const Task& t, MuonWorkspace& w) {
    const MuonStack& st = stacks[t.stack];
    update_matrix(st, t.k, ws.update.data() + offset[t.stack] + t.k * st.m * st.n, w, precision);
  };
  kernels::cpu::PhaseTimer t_matrices("optim.muon.matrices");
  const auto n_tasks = static_cast<int64_t>(tasks.size());
  if (n_tasks > 1 && 2 * n_tasks >= omp_get_max_threads() && !omp_in_parallel()) {
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t i = 0; i < n_tasks; ++i) {
      thread_local MuonWorkspace local;
      run(tasks[static_cast<size_t>(i)], local);
    }
  } else {
    for (const Task& t : tasks) run(t, ws);
  }
}

void muon_step(float* params, const float* grads, float* momentum_buffer, float* second_moment, int64_t K, int64_t m,
               int64_t n, const MuonHyper& h, MuonWorkspace& ws, OrthoPrecision precision) {
  muon_step_stacks({MuonStack{params, grads, momentum_buffer, second_moment, K, m, n, h}}, ws, precision);
}

}  // namespace nanochat::optim
