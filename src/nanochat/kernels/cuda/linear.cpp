#include "nanochat/kernels/cuda/linear.h"

#include "nanochat/kernels/cuda/gemm.h"

namespace nanochat::cuda {

namespace {

GemmArgs forward_args(void* out, GemmOut out_type, const __nv_bfloat16* x, const __nv_bfloat16* w, int64_t M,
                      int64_t N, int64_t K) {
  GemmArgs a;
  a.out = out;
  a.out_type = out_type;
  a.a = x;
  a.b = w;
  a.trans_b = true;
  a.M = M;
  a.N = N;
  a.K = K;
  return a;
}

}  // namespace

void linear_forward(CudaContext& ctx, __nv_bfloat16* out, const __nv_bfloat16* x, const __nv_bfloat16* w, int64_t M,
                    int64_t N, int64_t K, const __nv_bfloat16* residual) {
  GemmArgs a = forward_args(out, GemmOut::kBF16, x, w, M, N, K);
  if (residual != nullptr) {
    a.c = residual;
    a.beta = 1.0f;
  }
  gemm(ctx, a);
}

void linear_forward(CudaContext& ctx, float* out, const __nv_bfloat16* x, const __nv_bfloat16* w, int64_t M, int64_t N,
                    int64_t K) {
  gemm(ctx, forward_args(out, GemmOut::kF32, x, w, M, N, K));
}

void linear_backward_weight(CudaContext& ctx, float* gw, const __nv_bfloat16* gy, const __nv_bfloat16* x, int64_t M,
                            int64_t N, int64_t K) {
  GemmArgs a;
  a.out = gw;
  a.out_type = GemmOut::kF32;
  a.a = gy;
  a.trans_a = true;
  a.b = x;
  a.M = N;
  a.N = K;
  a.K = M;
  a.accumulate = true;
  gemm(ctx, a);
}

void linear_backward_input(CudaContext& ctx, __nv_bfloat16* gx, const __nv_bfloat16* gy, const __nv_bfloat16* w,
                           int64_t M, int64_t N, int64_t K, bool accumulate) {
  GemmArgs a;
  a.out = gx;
  a.out_type = GemmOut::kBF16;
  a.a = gy;
  a.b = w;
  a.M = M;
  a.N = K;
  a.K = N;
  a.accumulate = accumulate;
  gemm(ctx, a);
}

}  // namespace nanochat::cuda
