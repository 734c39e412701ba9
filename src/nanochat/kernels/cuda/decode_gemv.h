// The Linear products of a decode step for a few rows (batch <= kDecodeGemvMaxRows at T = 1), with the
// small kernels around them folded in. At batch 1 a decode step is memory-bound on the weights, and its
// element-wise kernels (the residual mix + RMSNorm before c_q|c_k|c_v, the RMSNorm before c_fc, relu²)
// each cost a launch's latency, more in total than their work: fusing them into the product that reads
// their output removes three kernels per layer. Each block recomputes the prologue (the normed input
// row) in shared memory, which costs a few KB of L2 reads; the weight rows stream from HBM once.
// Numerics match the unfused kernels: the same bf16 roundings of z, h and the product (mix_rmsnorm,
// rmsnorm_forward, linear_forward, relu2_forward), with fp32 sums in a different order.
// Up to 4 rows are supported and tested; the decoder uses it at batch 1, where it measured faster than
// cuBLASLt (from 4 rows on, cuBLASLt's tiles win; bench/RESULTS.md).
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "nanochat/kernels/cuda/ops.h"

namespace nanochat::kernels::cuda {

inline constexpr int64_t kDecodeGemvMaxRows = 4;

enum class GemvPrologue {
  none,        // the product's input is x
  rmsnorm,     // bf16(x * rstd(x))
  mix_rmsnorm  // z = bf16(alpha*x + beta*x0), input h = bf16(z * rstd(z)); z_out and h_out receive both
};
enum class GemvEpilogue {
  none,      // y = bf16(x W^T)
  residual,  // y = bf16(residual + x W^T)
  relu2      // y = bf16(relu(bf16(x W^T))^2)
};

struct DecodeGemvArgs {
  const bf16* w = nullptr;  // (N, K), a Linear weight (out_features, in_features)
  const bf16* x = nullptr;  // (M, K)
  bf16* y = nullptr;        // (M, N)
  int64_t M = 0, N = 0, K = 0;
  GemvPrologue prologue = GemvPrologue::none;
  GemvEpilogue epilogue = GemvEpilogue::none;
  const bf16* x0 = nullptr;  // mix_rmsnorm: (M, K)
  ScalarParam alpha, beta;   // mix_rmsnorm
  bf16* z_out = nullptr;     // mix_rmsnorm: (M, K)
  bf16* h_out = nullptr;     // mix_rmsnorm: (M, K)
  const bf16* residual = nullptr;  // residual: (M, N); may not alias y
  // Programmatic dependent launch: the kernel may start while the previous kernel on the stream is still
  // running; it requests its first weights (never written by a decode step) and only then waits for that
  // kernel's results. It lets the next kernel start likewise once its own prologue is done.
  bool overlap_previous = false;
};

// Whether decode_gemv takes these shapes: 1 <= M <= kDecodeGemvMaxRows, K a multiple of 8, the input
// rows in 48 KB of shared memory.
bool decode_gemv_supported(int64_t M, int64_t K);
// Throws (naming the problem) on unsupported shapes, misaligned pointers or a missing operand.
void decode_gemv(const DecodeGemvArgs& args, cudaStream_t stream);

}  // namespace nanochat::kernels::cuda
