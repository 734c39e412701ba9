// The pretraining schedules of base_train (spec model-and-training.md §8.3), as pure functions of the
// 0-based optimizer step `it`. They are evaluated before every optimizer step: every group gets
// lr = initial_lr * lr_multiplier(it); the Muon groups also get momentum = muon_momentum(it) and
// weight_decay = muon_weight_decay(it). Arithmetic is in double, as Python's floats.
#pragma once
#include <cstdint>

namespace nanochat::optim {

struct ScheduleConfig {
  int64_t num_iterations = 0;     // N_it, the horizon (> 0)
  int64_t warmup_steps = 40;      // --warmup-steps
  double warmdown_ratio = 0.65;   // --warmdown-ratio
  double final_lr_frac = 0.05;    // --final-lr-frac
  double weight_decay = 0.0;      // the scaled Muon weight decay (wd_scaled, §8.2) the cosine starts from

  // Throws nanochat::Error naming the field when a value is out of range.
  void validate() const;
};

// round(warmdown_ratio * N_it) with Python's round (half to even).
int64_t warmdown_iters(const ScheduleConfig& s);

// Linear warmup (it+1)/warmup, constant 1 through it == N - warmdown, then linear down to final_lr_frac.
double lr_multiplier(const ScheduleConfig& s, int64_t it);

// 0.85 -> 0.97 over the first 400 steps (this rule wins where it overlaps the warmdown), then 0.97,
// then 0.97 -> 0.90 across the warmdown.
double muon_momentum(const ScheduleConfig& s, int64_t it);

// Cosine from weight_decay at it = 0 down to 0 at it = N_it.
double muon_weight_decay(const ScheduleConfig& s, int64_t it);

// Python's round() of a double to an integer: halfway cases go to the even neighbour.
int64_t python_round(double x);

}  // namespace nanochat::optim
