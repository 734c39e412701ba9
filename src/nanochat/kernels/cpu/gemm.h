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

// Prepares OpenBLAS once per process (gemm() calls it itself; exposed for code that calls cblas
// directly from OpenMP threads):
//  - one OpenBLAS thread (see above);
//  - the right kernels for the CPU. Debian's OpenBLAS 0.3.21 picks its kernels from the CPU model
//    number and falls back to "Prescott" (SSE3, ~20 GFLOP/s per core) on models it does not know,
//    e.g. the Xeons of our GPU machines (family 6, model 207), which then run sgemm 7x slower than
//    with its AVX-512 kernels. When the CPU has AVX-512 (or AVX2+FMA) but OpenBLAS chose an older
//    core, it is re-initialized as SkylakeX (or Haswell), as OPENBLAS_CORETYPE would do. A
//    user-set OPENBLAS_CORETYPE is left alone.
void configure_blas();
// OpenBLAS's core name after configure_blas() (e.g. "SkylakeX"), for benchmark logs.
const char* blas_core_name();

}  // namespace nanochat::kernels::cpu
