// Polar Express (Amsel, Persson, Musco, Gower 2025): the orthogonalization at the heart of Muon
// (spec model-and-training.md §7.3 steps 3-5). Given an update matrix it returns approximately
// U·S'·Vᵀ with S' near 1, through five fixed odd-polynomial iterations, as the original computes it:
// MuonEq row equilibration, normalization by 1.01·‖X‖_F + 1e-6, then the iterations.
//
// The arithmetic type F is float (the original's fp32 math, op by op: fp32 GEMMs, each elementwise
// op rounded) or double (the same algorithm with less rounding; the result is rounded to fp32 once).
#pragma once
#include <cstdint>
#include <vector>

namespace nanochat::optim {

// (a, b, c) of each iteration: X <- a·X + (b·A + c·A²)·X with A = X·Xᵀ (wide/square) or
// X <- a·X + X·(b·A + c·A²) with A = Xᵀ·X (tall, rows > cols strictly).
inline constexpr int kPolarExpressSteps = 5;
inline constexpr double kPolarExpressCoeffs[kPolarExpressSteps][3] = {
    {8.156554524902461, -22.48329292557795, 15.878769915207462},
    {4.042929935166739, -2.808917465908714, 0.5000178451051316},
    {3.8916678022926607, -2.772484153217685, 0.5060648178503393},
    {3.285753657755655, -2.3681294933425376, 0.46449024233003106},
    {2.3465413258596377, -1.7097828382687081, 0.42323551169305323},
};

// Scratch for one matrix; grows on demand and is reused across calls.
template <class F>
struct PolarExpressWorkspace {
  std::vector<F> x, gram, gram2, poly, prod;
};

// out (m, n) = orthogonalize(in (m, n)), both fp32 row-major; in and out may alias. steps <= 5.
template <class F>
void muon_orthogonalize(const float* in, float* out, int64_t m, int64_t n, int steps, PolarExpressWorkspace<F>& ws);

// The iterations alone, in place on x (m, n) of type F (x already normalized).
template <class F>
void polar_express(F* x, int64_t m, int64_t n, int steps, PolarExpressWorkspace<F>& ws);

}  // namespace nanochat::optim
