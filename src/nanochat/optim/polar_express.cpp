#include "nanochat/optim/polar_express.h"

#include <omp.h>

#include <algorithm>
#include <cmath>

#include "nanochat/core/error.h"
#include "nanochat/kernels/cpu/gemm.h"

namespace nanochat::optim {

namespace {

// C (M, N) = op(A) · op(B), row-major: OpenBLAS tiles on the OpenMP threads, or one thread when
// called from a parallel region (Muon orthogonalizes a group's matrices in parallel).
template <class F>
void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const F* A, const F* B, F* C) {
  kernels::cpu::gemm<F>(ta, tb, M, N, K, F(1), A, ta ? M : K, B, tb ? K : N, F(0), C, N);
}

// Elementwise loops fork only when large and not already inside a parallel region.
inline bool fork_elementwise(size_t n) { return n >= (size_t{1} << 16) && !omp_in_parallel(); }

// Frobenius norm of n values, accumulated in double (PyTorch accumulates fp32 norms in blocks; the
// difference is far below what the iteration amplifies), rounded to F like the original's result.
template <class F>
F norm2(const F* x, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  return static_cast<F>(std::sqrt(s));
}

}  // namespace

template <class F>
void polar_express(F* x, int64_t m, int64_t n, int steps, PolarExpressWorkspace<F>& ws) {
  NC_CHECK(steps >= 0 && steps <= kPolarExpressSteps, "polar_express: ns_steps must be in [0, {}], got {}",
           kPolarExpressSteps, steps);
  const bool tall = m > n;
  const int64_t s = tall ? n : m;  // side of the Gram matrix
  const auto ss = static_cast<size_t>(s * s), mn = static_cast<size_t>(m * n);
  ws.gram.resize(ss);
  ws.gram2.resize(ss);
  ws.poly.resize(ss);
  ws.prod.resize(mn);
  for (int it = 0; it < steps; ++it) {
    const F a = static_cast<F>(kPolarExpressCoeffs[it][0]);
    const F b = static_cast<F>(kPolarExpressCoeffs[it][1]);
    const F c = static_cast<F>(kPolarExpressCoeffs[it][2]);
    if (tall) {
      gemm(true, false, n, n, m, x, x, ws.gram.data());  // A = Xᵀ·X
    } else {
      gemm(false, true, m, m, n, x, x, ws.gram.data());  // A = X·Xᵀ
    }
    gemm(false, false, s, s, s, ws.gram.data(), ws.gram.data(), ws.gram2.data());  // A·A
#pragma omp parallel for schedule(static) if (fork_elementwise(ss))
    for (size_t i = 0; i < ss; ++i) ws.poly[i] = b * ws.gram[i] + c * ws.gram2[i];
    if (tall) {
      gemm(false, false, m, n, n, x, ws.poly.data(), ws.prod.data());  // X·B
    } else {
      gemm(false, false, m, n, m, ws.poly.data(), x, ws.prod.data());  // B·X
    }
#pragma omp parallel for schedule(static) if (fork_elementwise(mn))
    for (size_t i = 0; i < mn; ++i) x[i] = a * x[i] + ws.prod[i];
  }
}

template <class F>
void muon_orthogonalize(const float* in, float* out, int64_t m, int64_t n, int steps, PolarExpressWorkspace<F>& ws) {
  const auto mn = static_cast<size_t>(m * n);
  ws.x.resize(mn);
  F* x = ws.x.data();
  for (size_t i = 0; i < mn; ++i) x[i] = static_cast<F>(in[i]);

  // MuonEq: scale every row to the mean row norm ‖X‖_F/sqrt(m) (row norms clamped at 1e-6).
  const F target = norm2(x, static_cast<int64_t>(mn)) / static_cast<F>(std::sqrt(static_cast<double>(m)));
  for (int64_t r = 0; r < m; ++r) {
    F* row = x + r * n;
    const F scale = target / std::max(norm2(row, n), static_cast<F>(1e-6));
    for (int64_t j = 0; j < n; ++j) row[j] = row[j] * scale;
  }
  // Normalize so that every singular value is below 1, where the iteration converges.
  const F denom = norm2(x, static_cast<int64_t>(mn)) * static_cast<F>(1.01) + static_cast<F>(1e-6);
  for (size_t i = 0; i < mn; ++i) x[i] = x[i] / denom;

  polar_express(x, m, n, steps, ws);
  for (size_t i = 0; i < mn; ++i) out[i] = static_cast<float>(x[i]);
}

template void polar_express<float>(float*, int64_t, int64_t, int, PolarExpressWorkspace<float>&);
template void polar_express<double>(double*, int64_t, int64_t, int, PolarExpressWorkspace<double>&);
template void muon_orthogonalize<float>(const float*, float*, int64_t, int64_t, int, PolarExpressWorkspace<float>&);
template void muon_orthogonalize<double>(const float*, float*, int64_t, int64_t, int, PolarExpressWorkspace<double>&);

}  // namespace nanochat::optim
