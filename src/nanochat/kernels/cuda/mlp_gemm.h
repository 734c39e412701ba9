// The MLP's two big products with the squared ReLU fused into their epilogues (Hopper only: TMA loads,
// wgmma, warp specialisation; see mlp_gemm.cu). Each replaces a cuBLASLt GEMM plus a memory-bound
// relu^2 pass (mlp.cu), with the same rounding points:
//  - forward: u = bf16(h2 W_fc^T), a = bf16(relu(u)^2) computed from the rounded u;
//  - backward: G = bf16(g W_proj) stays in registers; g_u = bf16(G * 2 relu(u)) and u is overwritten
//    with bf16(relu(u)^2) (what the weight gradient of W_proj needs), from one read of u.
// Only the product's accumulation order differs from cuBLASLt's. Shapes the kernel does not tile (see
// mlp_gemm_supported) and misaligned pointers throw nanochat::Error; callers check first and fall back.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "nanochat/kernels/cuda/ops.h"

namespace nanochat::kernels::cuda {

// True when the current device is a Hopper GPU (sm_90) and M % 128 == 0, N % 256 == 0, K % 64 == 0
// (all positive, each below 2^31).
bool mlp_gemm_supported(int64_t M, int64_t N, int64_t K);

// u, a (M x N) from h2 (M x K) and w_fc (N x K), all row-major bf16.
void fc_relu2_forward(bf16* u, bf16* a, const bf16* h2, const bf16* w_fc, int64_t M, int64_t N, int64_t K,
                      cudaStream_t stream);

// G = g (M x K) w_proj (K x N, row-major: the down projection's (C, 4C) weight); g_u (M x N) =
// relu2_grad(G, u); u_inout (M x N) = relu(u)^2 in place. g_u must not alias u_inout.
void mlp_proj_input_grad_relu2(bf16* g_u, bf16* u_inout, const bf16* g, const bf16* w_proj, int64_t M, int64_t N,
                               int64_t K, cudaStream_t stream);

// The bare product c (M x N) = a (M x K) times b, b given as (N x K) or, with b_mn_major, as (K x N);
// the same kernel with a plain bf16 store epilogue (for the benchmark and the tests).
void mlp_gemm_plain(bf16* c, const bf16* a, const bf16* b, bool b_mn_major, int64_t M, int64_t N, int64_t K,
                    cudaStream_t stream);

}  // namespace nanochat::kernels::cuda
