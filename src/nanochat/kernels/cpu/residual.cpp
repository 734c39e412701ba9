// nanochat's residual-stream extras: the per-layer resid/x0 lambda mix (§3.2 step 5.1, §4.4), the
// smear of the previous token's embedding (§3.2 step 3, §4.6) and the gated value embeddings
// (§3.2 5a.2, §4.5 step 5). Scalar and small-matrix gradients are reduced in double, in a fixed
// order, so results do not depend on the thread count.
#include <cmath>
#include <vector>

#include "nanochat/kernels/ops.h"

namespace nanochat::kernels::cpu {

namespace {

template <class F>
F sigmoid(double z) {
  return static_cast<F>(1.0 / (1.0 + std::exp(-z)));
}

}  // namespace

template <class F>
void residual_mix_forward(F* z, const F* x, const F* x0, F alpha, F beta, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) z[i] = alpha * x[i] + beta * x0[i];
}

template <class F>
void residual_mix_backward(F* gx, F* gx0, F* g_alpha, F* g_beta, const F* gz, const F* x, const F* x0, F alpha,
                           F beta, int64_t n) {
  double sa = 0, sb = 0;
#pragma omp parallel for schedule(static) reduction(+ : sa, sb)
  for (int64_t i = 0; i < n; ++i) {
    const F g = gz[i];
    sa += static_cast<double>(g) * x[i];
    sb += static_cast<double>(g) * x0[i];
    gx0[i] += beta * g;
    gx[i] = alpha * g;
  }
  *g_alpha += static_cast<F>(sa);
  *g_beta += static_cast<F>(sb);
}

template <class F>
void smear_forward(F* out, F* sig, const F* xn, const F* w, F lambda, int64_t B, int64_t T, int64_t C) {
  constexpr int64_t G = kSmearGateChannels;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t t = 0; t < T; ++t) {
      const F* xt = xn + (b * T + t) * C;
      F* ot = out + (b * T + t) * C;
      if (t == 0) {
        sig[b * T] = F(0);
        for (int64_t c = 0; c < C; ++c) ot[c] = xt[c];
        continue;
      }
      double z = 0;
      for (int64_t c = 0; c < G; ++c) z += static_cast<double>(xt[c]) * w[c];
      const F s = sigmoid<F>(z);
      sig[b * T + t] = s;
      const F gate = lambda * s;
      const F* xp = xt - C;
      for (int64_t c = 0; c < C; ++c) ot[c] = xt[c] + gate * xp[c];
    }
  }
}

template <class F>
void smear_backward(F* gxn, F* gw, F* g_lambda, const F* gout, const F* xn, const F* sig, const F* w, F lambda,
                    int64_t B, int64_t T, int64_t C) {
  constexpr int64_t G = kSmearGateChannels;
  // gz[b,t]: gradient of the gate's pre-activation; dgs[b,t]: d/d(lambda) contribution.
  std::vector<double> gz(static_cast<size_t>(B * T), 0.0), dgs(static_cast<size_t>(B * T), 0.0);
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t t = 1; t < T; ++t) {
      const F* go = gout + (b * T + t) * C;
      const F* xp = xn + (b * T + t - 1) * C;
      double dg = 0;
      for (int64_t c = 0; c < C; ++c) dg += static_cast<double>(go[c]) * xp[c];
      const double s = sig[b * T + t];
      dgs[static_cast<size_t>(b * T + t)] = dg * s;
      gz[static_cast<size_t>(b * T + t)] = dg * static_cast<double>(lambda) * s * (1.0 - s);
    }
  }
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t t = 0; t < T; ++t) {
      const F* go = gout + (b * T + t) * C;
      F* gx = gxn + (b * T + t) * C;
      // Token t feeds its own output, and (as "previous") the output of token t+1.
      const bool has_next = t + 1 < T;
      const F gate_next = has_next ? lambda * sig[b * T + t + 1] : F(0);
      const F* go_next = go + C;
      for (int64_t c = 0; c < C; ++c) gx[c] = has_next ? go[c] + gate_next * go_next[c] : go[c];
      if (t >= 1) {
        const double g = gz[static_cast<size_t>(b * T + t)];
        for (int64_t c = 0; c < G; ++c) gx[c] += static_cast<F>(g * w[c]);
      }
    }
  }
  double sl = 0;
  std::vector<double> sw(G, 0.0);
  for (int64_t r = 0; r < B * T; ++r) {
    if (r % T == 0) continue;
    sl += dgs[static_cast<size_t>(r)];
    const double g = gz[static_cast<size_t>(r)];
    const F* xt = xn + r * C;
    for (int64_t c = 0; c < G; ++c) sw[static_cast<size_t>(c)] += g * xt[c];
  }
  *g_lambda += static_cast<F>(sl);
  for (int64_t c = 0; c < G; ++c) gw[c] += static_cast<F>(sw[static_cast<size_t>(c)]);
}

template <class F>
void smear_step(F* out, const F* xn, const F* prev, const F* w, F lambda, int64_t rows, int64_t C) {
  constexpr int64_t G = kSmearGateChannels;
  for (int64_t r = 0; r < rows; ++r) {
    const F* xt = xn + r * C;
    double z = 0;
    for (int64_t c = 0; c < G; ++c) z += static_cast<double>(xt[c]) * w[c];
    const F gate = lambda * sigmoid<F>(z);
    for (int64_t c = 0; c < C; ++c) out[r * C + c] = xt[c] + gate * prev[r * C + c];
  }
}

template <class F>
void value_embed_forward(F* v, F* gate, const F* h, const F* wg, const F* table, const int64_t* idx, int64_t rows,
                         int64_t C, int64_t Hk, int64_t d) {
  constexpr int64_t G = kVeGateChannels;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const F* hr = h + r * C;
    const F* ve = table + idx[r] * Hk * d;
    for (int64_t j = 0; j < Hk; ++j) {
      double a = 0;
      for (int64_t c = 0; c < G; ++c) a += static_cast<double>(hr[c]) * wg[j * G + c];
      const F gj = F(3) * sigmoid<F>(a);
      gate[r * Hk + j] = gj;
      F* vr = v + (r * Hk + j) * d;
      for (int64_t c = 0; c < d; ++c) vr[c] += gj * ve[j * d + c];
    }
  }
}

template <class F>
void value_embed_backward(F* gh, F* gwg, F* gtable, const F* gv, const F* gate, const F* h, const F* wg,
                          const F* table, const int64_t* idx, int64_t rows, int64_t C, int64_t Hk, int64_t d) {
  constexpr int64_t G = kVeGateChannels;
  std::vector<double> ga(static_cast<size_t>(rows * Hk));  // gradient of the gate pre-activation
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const F* ve = table + idx[r] * Hk * d;
    for (int64_t j = 0; j < Hk; ++j) {
      const F* g = gv + (r * Hk + j) * d;
      double gG = 0;
      for (int64_t c = 0; c < d; ++c) gG += static_cast<double>(g[c]) * ve[j * d + c];
      const double Gj = gate[r * Hk + j];
      ga[static_cast<size_t>(r * Hk + j)] = gG * Gj * (1.0 - Gj / 3.0);
    }
    F* ghr = gh + r * C;
    for (int64_t c = 0; c < G; ++c) {
      double s = 0;
      for (int64_t j = 0; j < Hk; ++j) s += ga[static_cast<size_t>(r * Hk + j)] * wg[j * G + c];
      ghr[c] += static_cast<F>(s);
    }
  }
  std::vector<double> sw(static_cast<size_t>(Hk * G), 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < Hk; ++j)
      for (int64_t c = 0; c < G; ++c) sw[static_cast<size_t>(j * G + c)] += ga[static_cast<size_t>(r * Hk + j)] * h[r * C + c];
  for (int64_t i = 0; i < Hk * G; ++i) gwg[i] += static_cast<F>(sw[static_cast<size_t>(i)]);
  // Scatter gate*gv into the table rows; threads split the columns (duplicate ids share rows).
  const int64_t width = Hk * d;
#pragma omp parallel for schedule(static)
  for (int64_t c0 = 0; c0 < width; c0 += 16) {
    const int64_t c1 = c0 + 16 < width ? c0 + 16 : width;
    for (int64_t r = 0; r < rows; ++r) {
      F* dst = gtable + idx[r] * width;
      for (int64_t c = c0; c < c1; ++c) dst[c] += gate[r * Hk + c / d] * gv[r * width + c];
    }
  }
}

template <class F>
void add_inplace(F* y, const F* x, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

#define NC_INSTANTIATE(F)                                                                                      \
  template void residual_mix_forward<F>(F*, const F*, const F*, F, F, int64_t);                               \
  template void residual_mix_backward<F>(F*, F*, F*, F*, const F*, const F*, const F*, F, F, int64_t);        \
  template void smear_forward<F>(F*, F*, const F*, const F*, F, int64_t, int64_t, int64_t);                   \
  template void smear_backward<F>(F*, F*, F*, const F*, const F*, const F*, const F*, F, int64_t, int64_t,    \
                                  int64_t);                                                                   \
  template void smear_step<F>(F*, const F*, const F*, const F*, F, int64_t, int64_t);                         \
  template void value_embed_forward<F>(F*, F*, const F*, const F*, const F*, const int64_t*, int64_t, int64_t, \
                                       int64_t, int64_t);                                                     \
  template void value_embed_backward<F>(F*, F*, F*, const F*, const F*, const F*, const F*, const F*,         \
                                        const int64_t*, int64_t, int64_t, int64_t, int64_t);                  \
  template void add_inplace<F>(F*, const F*, int64_t);
NC_INSTANTIATE(float)
NC_INSTANTIATE(double)
#undef NC_INSTANTIATE

}  // namespace nanochat::kernels::cpu
