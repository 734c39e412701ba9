// The MLP's squared ReLU (spec §3.1.7).
#include "nanochat/kernels/ops.h"

namespace nanochat::kernels::cpu {

template <class F>
void relu2_forward(F* a, const F* u, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const F r = u[i] > F(0) ? u[i] : F(0);
    a[i] = r * r;
  }
}

template <class F>
void relu2_backward(F* gu, const F* ga, const F* u, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) gu[i] = u[i] > F(0) ? ga[i] * (F(2) * u[i]) : F(0);
}

template void relu2_forward<float>(float*, const float*, int64_t);
template void relu2_forward<double>(double*, const double*, int64_t);
template void relu2_backward<float>(float*, const float*, const float*, int64_t);
template void relu2_backward<double>(double*, const double*, const double*, int64_t);

}  // namespace nanochat::kernels::cpu
