// Row-major GEMM on the CPU: C = alpha*op(A)*op(B) + beta*C, with OpenBLAS doing the arithmetic.
//
// Why not just call cblas_sgemm with OpenBLAS's own threads: Debian's OpenBLAS runs its own
// pthread pool, and its workers busy-wait for a while after every call. The GPT step alternates
// GEMMs with OpenMP loops, so two pools of spinning threads fought over the cores (measured on 16
// cores: ~130 GFLOP/s for the model's GEMMs). Here OpenBLAS is set to one thread and the GEMM is
// split into tiles of C, one per OpenMP thread, so a single pool runs the whole step. Inside an
// OpenMP parallel region (e.g. one Muon matrix per thread) the call runs single-threaded.
// Tiling splits only M and N, never K, so every element of C sums over K in OpenBLAS's own order.
#pragma once
#include <cstdint>

namespace nanochat::kernels::cpu {

template <class F>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, F alpha, const F* A, int64_t lda, const F* B,
          int64_t ldb, F beta, F* C, int64_t ldc);

// Sets OpenBLAS to one thread (once per process); gemm() calls it itself. Exposed for code that
// calls cblas directly from OpenMP threads.
void use_single_threaded_blas();

}  // namespace nanochat::kernels::cpu
