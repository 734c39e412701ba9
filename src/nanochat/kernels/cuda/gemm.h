// cuBLASLt GEMM in the model's row-major terms: out[M,N] (=|+=) alpha * op(a) * op(b), with a, b bf16
// and fp32 accumulation; out fp32 or bf16. op(x) = x^T when the trans flag is set, so a is stored
// (M,K) or, transposed, (K,M); b is stored (K,N) or, transposed, (N,K). The three Linear products:
//   forward          y[M,N]  = x[M,K] * w[N,K]^T      gemm(.., x, false, w, true, ..)
//   backward input   gx[M,K] = gy[M,N] * w[N,K]       gemm(.., gy, false, w, false, ..)
//   backward weight  gw[N,K] += gy[M,N]^T * x[M,K]    gemm(.., gy, true, x, false, .., accumulate, fp32 out)
// Two optional extensions (defaulted, so the calls above are unaffected):
//   - a separate input c with its own beta: out = alpha*op(a)*op(b) + beta*c, c an (M,N) matrix of the
//     out type, which may be out itself (Polar Express's a*X + B*X and b*A + c*A*A are one GEMM each);
//   - strided batches: `batch` products, matrix i of a/b/c/out starting i*stride_* elements in
//     (stride 0 = the matrices are packed back to back).
#pragma once
#include <cuda_bf16.h>

#include <cstdint>

#include "nanochat/kernels/cuda/context.h"

namespace nanochat::cuda {

enum class GemmOut { kF32, kBF16 };

struct GemmArgs {
  void* out = nullptr;  // (M, N) row-major, float or __nv_bfloat16 per out_type
  GemmOut out_type = GemmOut::kF32;
  const __nv_bfloat16* a = nullptr;
  bool trans_a = false;
  const __nv_bfloat16* b = nullptr;
  bool trans_b = false;
  int64_t M = 0, N = 0, K = 0;
  float alpha = 1.0f;
  bool accumulate = false;  // out += alpha*op(a)*op(b) instead of = (not with c)
  const void* c = nullptr;  // optional (M,N) input of the out type, may equal out: out = ... + beta*c
  float beta = 0.0f;        // only with c
  int64_t batch = 1;        // number of products
  int64_t stride_a = 0, stride_b = 0, stride_c = 0, stride_out = 0;  // elements between matrices (0 = packed)
};

// Enqueues the product on ctx.stream(). Throws nanochat::Error on bad shapes or a cuBLASLt failure.
// The algorithm is chosen once per plan key (ctx.gemm_plans()) and reused by every later call.
void gemm(CudaContext& ctx, const GemmArgs& args);

struct GemmPlanKey;
// The cache key a call with these arguments uses (shape, transposes, output type, alignments, batch
// and strides, whether c is separate from out).
GemmPlanKey gemm_plan_key(const CudaContext& ctx, const GemmArgs& args);

}  // namespace nanochat::cuda
