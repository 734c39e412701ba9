// Rotary position embeddings (spec §3.1.4-3.1.5): split halves, rotation by -theta, base 100000.
#include <cmath>

#include "nanochat/kernels/ops.h"

namespace nanochat::kernels::cpu {

void rotary_tables(float* cos_out, float* sin_out, int64_t max_pos, int64_t head_dim) {
  const int64_t half = head_dim / 2;
  for (int64_t j = 0; j < half; ++j) {
    // fp32 throughout, as torch: inv_freq = 1 / base^(float(2j)/float(d)), theta = float(t)*inv_freq.
    const float exponent = static_cast<float>(2 * j) / static_cast<float>(head_dim);
    const float inv_freq = 1.0f / std::pow(100000.0f, exponent);
    for (int64_t t = 0; t < max_pos; ++t) {
      const float theta = static_cast<float>(t) * inv_freq;
      cos_out[t * half + j] = std::cos(theta);
      sin_out[t * half + j] = std::sin(theta);
    }
  }
}

namespace {

// Rotates each (x[j], x[j + d/2]) pair of every head by -sign*theta(t, j). The forward rotates by
// -theta (sign +1); its gradient is the inverse rotation (sign -1). Negating sin is exact, so both
// directions are bit-for-bit what writing them out separately gives.
template <class F>
void rotate(F* x, const F* cos, const F* sin, int64_t B, int64_t T, int64_t heads, int64_t d, int64_t pos0, F sign) {
  const int64_t half = d / 2;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t t = 0; t < T; ++t) {
      const F* c = cos + (pos0 + t) * half;
      const F* s = sin + (pos0 + t) * half;
      for (int64_t h = 0; h < heads; ++h) {
        F* xh = x + ((b * T + t) * heads + h) * d;
        for (int64_t j = 0; j < half; ++j) {
          const F x1 = xh[j], x2 = xh[j + half], sj = sign * s[j];
          xh[j] = x1 * c[j] + x2 * sj;
          xh[j + half] = x1 * (-sj) + x2 * c[j];
        }
      }
    }
  }
}

}  // namespace

template <class F>
void rotary_forward(F* x, const F* cos, const F* sin, int64_t B, int64_t T, int64_t heads, int64_t d, int64_t pos0) {
  rotate(x, cos, sin, B, T, heads, d, pos0, F(1));
}

template <class F>
void rotary_backward(F* g, const F* cos, const F* sin, int64_t B, int64_t T, int64_t heads, int64_t d, int64_t pos0) {
  rotate(g, cos, sin, B, T, heads, d, pos0, F(-1));
}

#define NC_INSTANTIATE(F)                                                                                  \
  template void rotary_forward<F>(F*, const F*, const F*, int64_t, int64_t, int64_t, int64_t, int64_t);  \
  template void rotary_backward<F>(F*, const F*, const F*, int64_t, int64_t, int64_t, int64_t, int64_t);
NC_INSTANTIATE(float)
NC_INSTANTIATE(double)
#undef NC_INSTANTIATE

}  // namespace nanochat::kernels::cpu
