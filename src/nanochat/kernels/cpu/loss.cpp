// Logit softcap and cross-entropy with ignore_index -1 (spec §3.1.7, backward §4.1).
#include <algorithm>
#include <cmath>
#include <limits>

#include "nanochat/kernels/ops.h"

namespace nanochat::kernels::cpu {

template <class F>
void softcap_cross_entropy_forward(F* logits, F* loss, F* lse, const int64_t* targets, int64_t rows, int64_t V,
                                   F cap) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    F* z = logits + r * V;
    double m = -std::numeric_limits<double>::infinity();
    for (int64_t c = 0; c < V; ++c) {
      z[c] = cap * std::tanh(z[c] / cap);
      m = std::max(m, static_cast<double>(z[c]));
    }
    if (targets == nullptr) continue;
    const int64_t y = targets[r];
    if (y < 0) {
      loss[r] = F(0);
      if (lse != nullptr) lse[r] = F(0);
      continue;
    }
    double s = 0;
    for (int64_t c = 0; c < V; ++c) s += std::exp(z[c] - m);
    const double l = m + std::log(s);
    if (lse != nullptr) lse[r] = static_cast<F>(l);
    loss[r] = static_cast<F>(l - z[y]);
  }
}

template <class F>
void softcap_cross_entropy_backward(F* z, const F* lse, const int64_t* targets, int64_t rows, int64_t V, F cap,
                                    F scale) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    F* zr = z + r * V;
    const int64_t y = targets[r];
    if (y < 0) {
      std::fill(zr, zr + V, F(0));
      continue;
    }
    const double l = lse[r];
    for (int64_t c = 0; c < V; ++c) {
      const double p = std::exp(zr[c] - l);
      const double gz = static_cast<double>(scale) * (p - (c == y ? 1.0 : 0.0));
      const double t = static_cast<double>(zr[c]) / cap;
      zr[c] = static_cast<F>(gz * (1.0 - t * t));
    }
  }
}

#define NC_INSTANTIATE(F)                                                                                  \
  template void softcap_cross_entropy_forward<F>(F*, F*, F*, const int64_t*, int64_t, int64_t, F);      \
  template void softcap_cross_entropy_backward<F>(F*, const F*, const int64_t*, int64_t, int64_t, F, F);
NC_INSTANTIATE(float)
NC_INSTANTIATE(double)
#undef NC_INSTANTIATE

}  // namespace nanochat::kernels::cpu
