// Logit softcap and cross-entropy with ignore_index -1 (spec §3.1.7, backward §4.1).
// Over a 32k vocabulary these loops touch every logit, so they are written to vectorize: fp32
// softcap and exponentials (vec_math.h), the sum of exponentials accumulated in double.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "nanochat/kernels/cpu/vec_math.h"
#include "nanochat/kernels/ops.h"

namespace nanochat::kernels::cpu {

namespace {

// z = cap*tanh(l/cap) in place; returns max(z).
template <class F>
NC_ALWAYS_INLINE F softcap_row_impl(F* z, int64_t V, F cap) {
  F m = -std::numeric_limits<F>::infinity();
#pragma omp simd reduction(max : m)
  for (int64_t c = 0; c < V; ++c) {
    const F v = cap * tanh_f(z[c] / cap);
    z[c] = v;
    m = v > m ? v : m;
  }
  return m;
}

// sum(exp(z - m)): vectorized F sums over short spans, added up in double.
template <class F>
NC_ALWAYS_INLINE double sum_exp_row_impl(const F* z, int64_t V, F m) {
  constexpr int64_t kSpan = 256;
  double s = 0;
  for (int64_t c0 = 0; c0 < V; c0 += kSpan) {
    const int64_t c1 = std::min(V, c0 + kSpan);
    F part = 0;
#pragma omp simd reduction(+ : part)
    for (int64_t c = c0; c < c1; ++c) part += exp_f(z[c] - m);
    s += static_cast<double>(part);
  }
  return s;
}

// l (n raw logits) -> scale*softmax(z)*(1 - tanh^2), the gradient without the one-hot term.
template <class F>
NC_ALWAYS_INLINE void softcap_ce_grad_row_impl(F* l, int64_t n, F cap, F lse, F scale) {
#pragma omp simd
  for (int64_t c = 0; c < n; ++c) {
    const F t = tanh_f(l[c] / cap);
    const F p = exp_f(cap * t - lse);
    l[c] = scale * p * (F(1) - t * t);
  }
}

// z (n softcapped logits) -> scale*softmax(z)*(1 - (z/cap)^2): as above, but from the capped values
// the forward left behind, so no tanh is needed.
template <class F>
NC_ALWAYS_INLINE void softcap_ce_grad_capped_row_impl(F* z, int64_t n, F cap, F lse, F scale) {
#pragma omp simd
  for (int64_t c = 0; c < n; ++c) {
    const F t = z[c] / cap;
    z[c] = scale * exp_f(z[c] - lse) * (F(1) - t * t);
  }
}

NC_SIMD_CLONES float softcap_row_f32(float* z, int64_t V, float cap) { return softcap_row_impl(z, V, cap); }
NC_SIMD_CLONES double sum_exp_row_f32(const float* z, int64_t V, float m) { return sum_exp_row_impl(z, V, m); }
NC_SIMD_CLONES void softcap_ce_grad_row_f32(float* l, int64_t n, float cap, float lse, float scale) {
  softcap_ce_grad_row_impl(l, n, cap, lse, scale);
}
NC_SIMD_CLONES void softcap_ce_grad_capped_row_f32(float* z, int64_t n, float cap, float lse, float scale) {
  softcap_ce_grad_capped_row_impl(z, n, cap, lse, scale);
}

template <class F>
F softcap_row(F* z, int64_t V, F cap) {
  if constexpr (std::is_same_v<F, float>) return softcap_row_f32(z, V, cap);
  else return softcap_row_impl(z, V, cap);
}
template <class F>
double sum_exp_row(const F* z, int64_t V, F m) {
  if constexpr (std::is_same_v<F, float>) return sum_exp_row_f32(z, V, m);
  else return sum_exp_row_impl(z, V, m);
}
template <class F>
void softcap_ce_grad_row(F* l, int64_t n, F cap, F lse, F scale) {
  if constexpr (std::is_same_v<F, float>) softcap_ce_grad_row_f32(l, n, cap, lse, scale);
  else softcap_ce_grad_row_impl(l, n, cap, lse, scale);
}
template <class F>
void softcap_ce_grad_capped_row(F* z, int64_t n, F cap, F lse, F scale) {
  if constexpr (std::is_same_v<F, float>) softcap_ce_grad_capped_row_f32(z, n, cap, lse, scale);
  else softcap_ce_grad_capped_row_impl(z, n, cap, lse, scale);
}

}  // namespace

template <class F>
void softcap_cross_entropy_forward(F* logits, F* loss, F* lse, const int64_t* targets, int64_t rows, int64_t V,
                                   F cap) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    F* z = logits + r * V;
    const F m = softcap_row(z, V, cap);
    if (targets == nullptr) continue;
    const int64_t y = targets[r];
    if (y < 0) {
      loss[r] = F(0);
      if (lse != nullptr) lse[r] = F(0);
      continue;
    }
    const double l = static_cast<double>(m) + std::log(sum_exp_row(z, V, m));
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
    const F z_target = zr[y];
    softcap_ce_grad_capped_row(zr, V, cap, lse[r], scale);
    const F t = z_target / cap;  // the one-hot term at the target
    zr[y] = scale * (exp_f(z_target - lse[r]) - F(1)) * (F(1) - t * t);
  }
}

template <class F>
void softcap_cross_entropy_backward_block(F* l, const F* lse, const int64_t* targets, int64_t rows, int64_t n,
                                          int64_t v0, F cap, F scale) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    F* lr = l + r * n;
    const int64_t y = targets[r];
    if (y < 0) {
      std::fill(lr, lr + n, F(0));
      continue;
    }
    const bool target_here = y >= v0 && y < v0 + n;
    const F target_logit = target_here ? lr[y - v0] : F(0);
    softcap_ce_grad_row(lr, n, cap, lse[r], scale);
    if (target_here) {  // the one-hot term: scale*(p - 1)*(1 - t^2) at the target
      const F t = tanh_f(target_logit / cap);
      const F p = exp_f(cap * t - lse[r]);
      lr[y - v0] = scale * (p - F(1)) * (F(1) - t * t);
    }
  }
}

#define NC_INSTANTIATE(F)                                                                                  \
  template void softcap_cross_entropy_forward<F>(F*, F*, F*, const int64_t*, int64_t, int64_t, F);      \
  template void softcap_cross_entropy_backward<F>(F*, const F*, const int64_t*, int64_t, int64_t, F, F); \
  template void softcap_cross_entropy_backward_block<F>(F*, const F*, const int64_t*, int64_t, int64_t, int64_t, F, F);
NC_INSTANTIATE(float)
NC_INSTANTIATE(double)
#undef NC_INSTANTIATE

}  // namespace nanochat::kernels::cpu
