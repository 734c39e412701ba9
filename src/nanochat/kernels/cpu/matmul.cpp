// GEMMs through OpenBLAS (cblas): row-major buffers, PyTorch's (out, in) weight layout.
#include <cblas.h>

#include "nanochat/kernels/ops.h"

namespace nanochat::kernels::cpu {

namespace {

void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta, tb, static_cast<blasint>(M), static_cast<blasint>(N), static_cast<blasint>(K), 1.0f,
              A, static_cast<blasint>(lda), B, static_cast<blasint>(ldb), beta, C, static_cast<blasint>(ldc));
}

void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int64_t N, int64_t K, const double* A, int64_t lda,
          const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, ta, tb, static_cast<blasint>(M), static_cast<blasint>(N), static_cast<blasint>(K), 1.0,
              A, static_cast<blasint>(lda), B, static_cast<blasint>(ldb), beta, C, static_cast<blasint>(ldc));
}

}  // namespace

template <class F>
void linear_forward(F* out, const F* x, const F* w, int64_t M, int64_t N, int64_t K, bool accumulate) {
  if (M == 0 || N == 0) return;
  gemm(CblasNoTrans, CblasTrans, M, N, K, x, K, w, K, accumulate ? F(1) : F(0), out, N);
}

template <class F>
void linear_backward_weight(F* gw, const F* gy, const F* x, int64_t M, int64_t N, int64_t K) {
  if (M == 0 || N == 0) return;
  gemm(CblasTrans, CblasNoTrans, N, K, M, gy, N, x, K, F(1), gw, K);
}

template <class F>
void linear_backward_input(F* gx, const F* gy, const F* w, int64_t M, int64_t N, int64_t K, bool accumulate) {
  if (M == 0 || K == 0) return;
  gemm(CblasNoTrans, CblasNoTrans, M, K, N, gy, N, w, K, accumulate ? F(1) : F(0), gx, K);
}

#define NC_INSTANTIATE(F)                                                                          \
  template void linear_forward<F>(F*, const F*, const F*, int64_t, int64_t, int64_t, bool);       \
  template void linear_backward_weight<F>(F*, const F*, const F*, int64_t, int64_t, int64_t);     \
  template void linear_backward_input<F>(F*, const F*, const F*, int64_t, int64_t, int64_t, bool);
NC_INSTANTIATE(float)
NC_INSTANTIATE(double)
#undef NC_INSTANTIATE

}  // namespace nanochat::kernels::cpu
