#include "nanochat/kernels/cpu/gemm.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <mutex>

namespace nanochat::kernels::cpu {

namespace {

void blas(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B,
          int64_t ldb, float beta, float* C, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, static_cast<blasint>(M),
              static_cast<blasint>(N), static_cast<blasint>(K), alpha, A, static_cast<blasint>(lda), B,
              static_cast<blasint>(ldb), beta, C, static_cast<blasint>(ldc));
}

void blas(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t lda,
          const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, static_cast<blasint>(M),
              static_cast<blasint>(N), static_cast<blasint>(K), alpha, A, static_cast<blasint>(lda), B,
              static_cast<blasint>(ldb), beta, C, static_cast<blasint>(ldc));
}

// Below this many multiply-adds a GEMM runs on the calling thread: forking costs more than it saves.
constexpr int64_t kParallelMinWork = int64_t{1} << 21;
// Tile edges are multiples of this, so neighbouring tiles of C do not share cache lines.
constexpr int64_t kTileAlign = 16;

int64_t round_up(int64_t x, int64_t to) { return (x + to - 1) / to * to; }

// The split of C into pm x pn tiles (pm*pn <= threads) with the smallest tile perimeter, which is
// what each thread reads of A and B per unit of K.
void choose_grid(int64_t M, int64_t N, int threads, int64_t* tile_m, int64_t* tile_n) {
  int64_t best = -1;
  for (int pm = 1; pm <= threads; ++pm) {
    const int pn = threads / pm;
    const int64_t tm = round_up((M + pm - 1) / pm, kTileAlign), tn = round_up((N + pn - 1) / pn, kTileAlign);
    const int64_t cost = tm + tn;
    if (best < 0 || cost < best) {
      best = cost;
      *tile_m = tm;
      *tile_n = tn;
    }
  }
}

}  // namespace

namespace {

// OpenBLAS's DYNAMIC_ARCH entry points (weak: absent from a build without runtime dispatch).
extern "C" {
__attribute__((weak)) void gotoblas_dynamic_init(void);
__attribute__((weak)) void gotoblas_dynamic_quit(void);
}

bool core_is_one_of(const char* core, std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (std::strcmp(core, n) == 0) return true;
  return false;
}

// The OpenBLAS core this CPU deserves, or null when OpenBLAS's own choice is at least as good.
const char* better_blas_core() {
  const char* current = openblas_get_corename();
  if (current == nullptr || gotoblas_dynamic_init == nullptr || gotoblas_dynamic_quit == nullptr) return nullptr;
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (avx512 && !core_is_one_of(current, {"SkylakeX", "Cooperlake", "SapphireRapids"})) return "SkylakeX";
  if (avx2 && !avx512 && !core_is_one_of(current, {"Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids"}))
    return "Haswell";
#endif
  return nullptr;
}

}  // namespace

void configure_blas() {
  static std::once_flag once;
  std::call_once(once, [] {
    openblas_set_num_threads(1);
    if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;
    if (const char* core = better_blas_core()) {
      // Exactly what OpenBLAS does at load time, with OPENBLAS_CORETYPE set. Safe here: no BLAS
      // call has run yet (every GEMM of this library goes through configure_blas first).
      setenv("OPENBLAS_CORETYPE", core, 0);
      gotoblas_dynamic_quit();
      gotoblas_dynamic_init();
      unsetenv("OPENBLAS_CORETYPE");
    }
  });
}

const char* blas_core_name() {
  configure_blas();
  return openblas_get_corename();
}

template <class F>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, F alpha, const F* A, int64_t lda, const F* B,
          int64_t ldb, F beta, F* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  configure_blas();
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  if (threads <= 1 || M * N * std::max<int64_t>(K, 1) < kParallelMinWork) {
    blas(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  int64_t tile_m = M, tile_n = N;
  choose_grid(M, N, threads, &tile_m, &tile_n);
  const int64_t grid_m = (M + tile_m - 1) / tile_m, grid_n = (N + tile_n - 1) / tile_n;
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < grid_m * grid_n; ++t) {
    const int64_t m0 = (t / grid_n) * tile_m, n0 = (t % grid_n) * tile_n;
    const int64_t m = std::min(tile_m, M - m0), n = std::min(tile_n, N - n0);
    const F* a = trans_a ? A + m0 : A + m0 * lda;  // rows m0.. of op(A)
    const F* b = trans_b ? B + n0 * ldb : B + n0;  // columns n0.. of op(B)
    blas(trans_a, trans_b, m, n, K, alpha, a, lda, b, ldb, beta, C + m0 * ldc + n0, ldc);
  }
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t,
                          float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                           int64_t, double, double*, int64_t);

}  // namespace nanochat::kernels::cpu
