// Device side of the wgmma primitive tests (kernels/cuda/wgmma.cuh): one warpgroup computes a small
// product D = A B (fp32) through the wrappers, with each operand stored in the layout one of the
// attention backward's products uses.
#pragma once
#include <cstdint>

namespace nanochat::gpu_test {

enum class WgmmaCase {
  // M=64 N=64 K=128, A and B both K-major from shared memory (S^T = K Q^T).
  kSsKMajor,
  // M=64 N=128 K=64, A from registers, B MN-major from shared memory (gV += P^T gY).
  kRsBMnMajor,
  // M=64 N=64 K=128, A and B both MN-major from shared memory, B the second 64-column slab of a
  // 128-column tile (gQ = dS K).
  kSsMnMajor,
  // M=64 N=256 K=64, A K-major, B K-major (rows = n) / MN-major over four slabs (the MLP GEMM's
  // m64n256k16 tiles, both weight layouts).
  kSsN256KMajor,
  kSsN256MnMajor,
};
// D is m x n; B is given as k x b_cols and the product reads its columns b_col0 .. b_col0 + n - 1.
struct WgmmaDims {
  int m, n, k, b_cols, b_col0;
};
WgmmaDims wgmma_case_dims(WgmmaCase c);

// a (m x k) and b (k x b_cols) row-major bf16 bits, d (m x n) row-major fp32; device pointers.
// Synchronises.
void run_wgmma_case(WgmmaCase c, const uint16_t* a, const uint16_t* b, float* d);

}  // namespace nanochat::gpu_test
