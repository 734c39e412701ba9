// The Linear layer's three GEMMs, row-major, PyTorch's (out, in) weight layout (gemm.h: OpenBLAS
// tiles on OpenMP threads).
#include "nanochat/kernels/cpu/gemm.h"
#include "nanochat/kernels/ops.h"

namespace nanochat::kernels::cpu {

template <class F>
void linear_forward(F* out, const F* x, const F* w, int64_t M, int64_t N, int64_t K, bool accumulate) {
  if (M == 0 || N == 0) return;
  gemm<F>(false, true, M, N, K, F(1), x, K, w, K, accumulate ? F(1) : F(0), out, N);
}

template <class F>
void linear_backward_weight(F* gw, const F* gy, const F* x, int64_t M, int64_t N, int64_t K) {
  if (M == 0 || N == 0) return;
  gemm<F>(true, false, N, K, M, F(1), gy, N, x, K, F(1), gw, K);
}

template <class F>
void linear_backward_input(F* gx, const F* gy, const F* w, int64_t M, int64_t N, int64_t K, bool accumulate) {
  if (M == 0 || K == 0) return;
  gemm<F>(false, false, M, K, N, F(1), gy, N, w, K, accumulate ? F(1) : F(0), gx, K);
}

#define NC_INSTANTIATE(F)                                                                          \
  template void linear_forward<F>(F*, const F*, const F*, int64_t, int64_t, int64_t, bool);       \
  template void linear_backward_weight<F>(F*, const F*, const F*, int64_t, int64_t, int64_t);     \
  template void linear_backward_input<F>(F*, const F*, const F*, int64_t, int64_t, int64_t, bool);
NC_INSTANTIATE(float)
NC_INSTANTIATE(double)
#undef NC_INSTANTIATE

}  // namespace nanochat::kernels::cpu
