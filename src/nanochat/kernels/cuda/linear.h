// The GPT's three Linear products (y = x W^T, W stored (out_features, in_features)) in gemm()'s terms
// (gemm.h), shared by the training model (model/gpt_cuda) and the decoder (model/gpt_cuda_inference).
#pragma once
#include <cuda_bf16.h>

#include <cstdint>

#include "nanochat/kernels/cuda/context.h"

namespace nanochat::cuda {

// out[M,N] = x[M,K] * w[N,K]^T, rounded to bf16 once; with residual ((M,N) bf16) the GEMM adds it
// before that rounding (out = residual + x W^T).
void linear_forward(CudaContext& ctx, __nv_bfloat16* out, const __nv_bfloat16* x, const __nv_bfloat16* w, int64_t M,
                    int64_t N, int64_t K, const __nv_bfloat16* residual = nullptr);
// The same product with fp32 output (the logits).
void linear_forward(CudaContext& ctx, float* out, const __nv_bfloat16* x, const __nv_bfloat16* w, int64_t M, int64_t N,
                    int64_t K);
// gw[N,K] += gy[M,N]^T * x[M,K] into an fp32 master gradient.
void linear_backward_weight(CudaContext& ctx, float* gw, const __nv_bfloat16* gy, const __nv_bfloat16* x, int64_t M,
                            int64_t N, int64_t K);
// gx[M,K] (=|+=) gy[M,N] * w[N,K], bf16.
void linear_backward_input(CudaContext& ctx, __nv_bfloat16* gx, const __nv_bfloat16* gy, const __nv_bfloat16* w,
                           int64_t M, int64_t N, int64_t K, bool accumulate);

}  // namespace nanochat::cuda
