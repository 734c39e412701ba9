// The fused Muon step of the original (spec model-and-training.md §7.3) on a stack of K equal-shaped
// (m, n) matrices, the unit the optimizer groups by: Nesterov momentum, MuonEq + Polar Express
// orthogonalization, Muon+ renormalization to sqrt(min(m, n)), NorMuon variance reduction with a
// factored second moment, then cautious weight decay and the update. fp32 throughout, op by op as the
// original computes it with CD = fp32 (no bf16 cast of the update).
#pragma once
#include <cstdint>
#include <vector>

#include "nanochat/optim/polar_express.h"

namespace nanochat::optim {

struct MuonHyper {
  double lr = 0;            // the group's scheduled lr, before the shape factor
  double momentum = 0.95;   // Nesterov momentum (scheduled)
  double weight_decay = 0;  // cautious, multiplied by the effective lr (scheduled)
  double beta2 = 0.9;       // NorMuon second-moment EMA
  int ns_steps = 5;         // Polar Express iterations (at most 5)
};

// Where the Polar Express iteration runs. Float is the original's fp32 math; Double computes the
// same algorithm in double and rounds once (see tests/model/test_optimizer_parity.cpp for the
// measured difference to the golden files).
enum class OrthoPrecision { Float, Double };

// lr multiplier of a (rows, cols) matrix: sqrt(max(1, rows/cols)); 2 for the (4C, C) c_fc. It scales
// the update and the weight decay alike.
double muon_lr_factor(int64_t rows, int64_t cols);

// The NorMuon statistic is per row when rows >= cols (buffer (K, rows, 1)), else per column (K, 1, cols).
inline bool muon_stats_per_row(int64_t rows, int64_t cols) { return rows >= cols; }
inline int64_t muon_second_moment_size(int64_t rows, int64_t cols) {
  return muon_stats_per_row(rows, cols) ? rows : cols;
}

struct MuonWorkspace {
  std::vector<float> update;  // (K, m, n): Nesterov update, then the orthogonalized update
  std::vector<float> stat;    // one matrix's NorMuon statistic
  PolarExpressWorkspace<float> pe32;
  PolarExpressWorkspace<double> pe64;
};

// params, grads, momentum_buffer: K*m*n each (contiguous stacks); second_moment: K*muon_second_moment_size.
// grads is read only; the others are updated in place.
void muon_step(float* params, const float* grads, float* momentum_buffer, float* second_moment, int64_t K, int64_t m,
               int64_t n, const MuonHyper& h, MuonWorkspace& ws, OrthoPrecision precision = OrthoPrecision::Float);

// One stack's arguments to muon_step_stacks.
struct MuonStack {
  float* params = nullptr;
  const float* grads = nullptr;
  float* momentum_buffer = nullptr;
  float* second_moment = nullptr;
  int64_t K = 0, m = 0, n = 0;
  MuonHyper h;
};

// muon_step on several stacks at once, with the same result per stack. Every matrix of every stack
// is an independent task, so stacks of a few large matrices (c_fc, mlp_proj: 4 each at depth 4)
// share the threads with the others, one matrix per thread with single-threaded GEMMs, instead of
// running one after another on GEMMs split 16 ways (small 256-wide GEMMs scale poorly).
void muon_step_stacks(const std::vector<MuonStack>& stacks, MuonWorkspace& ws,
                      OrthoPrecision precision = OrthoPrecision::Float);

}  // namespace nanochat::optim
