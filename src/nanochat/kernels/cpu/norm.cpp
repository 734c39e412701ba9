// RMSNorm without a weight (spec §3.1.1, backward §4.2). Sums run in double, so the float
// instantiation is a slightly better-than-fp32 reference; results are rounded once to F.
#include <cmath>

#include "nanochat/kernels/ops.h"

namespace nanochat::kernels::cpu {

template <class F>
void rmsnorm_forward(F* y, F* rstd, const F* x, int64_t rows, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const F* xr = x + r * n;
    double ss = 0;
    for (int64_t j = 0; j < n; ++j) ss += static_cast<double>(xr[j]) * xr[j];
    // PyTorch computes the rstd in the input's opmath type (fp32 for fp32 input).
    const F rs = static_cast<F>(1.0 / std::sqrt(ss / static_cast<double>(n) + kRmsNormEps));
    if (rstd != nullptr) rstd[r] = rs;
    F* yr = y + r * n;
    for (int64_t j = 0; j < n; ++j) yr[j] = xr[j] * rs;
  }
}

template <class F>
void rmsnorm_backward(F* gx, const F* gy, const F* y, const F* rstd, int64_t rows, int64_t n, bool accumulate) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const F* gyr = gy + r * n;
    const F* yr = y + r * n;
    double dot = 0;
    for (int64_t j = 0; j < n; ++j) dot += static_cast<double>(gyr[j]) * yr[j];
    const double mean = dot / static_cast<double>(n);
    const double rs = rstd[r];
    F* gxr = gx + r * n;
    for (int64_t j = 0; j < n; ++j) {
      const F g = static_cast<F>(rs * (gyr[j] - yr[j] * mean));
      gxr[j] = accumulate ? gxr[j] + g : g;
    }
  }
}

template <class F>
void scaled_rmsnorm_forward(F* x, F* rstd, int64_t rows, int64_t n, F scale) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    F* xr = x + r * n;
    double ss = 0;
    for (int64_t j = 0; j < n; ++j) ss += static_cast<double>(xr[j]) * xr[j];
    const F rs = static_cast<F>(1.0 / std::sqrt(ss / static_cast<double>(n) + kRmsNormEps));
    if (rstd != nullptr) rstd[r] = rs;
    // Two roundings, as the original: norm(x) first, then the 1.2 multiply.
    for (int64_t j = 0; j < n; ++j) xr[j] = (xr[j] * rs) * scale;
  }
}

template <class F>
void scaled_rmsnorm_backward(F* g, const F* out, const F* rstd, int64_t rows, int64_t n, F scale) {
  // With y = out/scale the normalized vector and gy = scale*g: gx = rstd*(gy - y*mean(gy*y))
  //   = rstd*(scale*g - out*mean(g*out)/scale).
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    F* gr = g + r * n;
    const F* outr = out + r * n;
    double dot = 0;
    for (int64_t j = 0; j < n; ++j) dot += static_cast<double>(gr[j]) * outr[j];
    const double mean = dot / static_cast<double>(n) / static_cast<double>(scale);
    const double rs = rstd[r];
    for (int64_t j = 0; j < n; ++j) gr[j] = static_cast<F>(rs * (static_cast<double>(scale) * gr[j] - outr[j] * mean));
  }
}

#define NC_INSTANTIATE(F)                                                                             \
  template void rmsnorm_forward<F>(F*, F*, const F*, int64_t, int64_t);                              \
  template void rmsnorm_backward<F>(F*, const F*, const F*, const F*, int64_t, int64_t, bool);       \
  template void scaled_rmsnorm_forward<F>(F*, F*, int64_t, int64_t, F);                              \
  template void scaled_rmsnorm_backward<F>(F*, const F*, const F*, int64_t, int64_t, F);
NC_INSTANTIATE(float)
NC_INSTANTIATE(double)
#undef NC_INSTANTIATE

}  // namespace nanochat::kernels::cpu
