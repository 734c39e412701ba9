// The bookkeeping behind base_train's per-step log line (spec model-and-training.md §8.4): the
// debiased EMA of the training loss, the training clock that ignores the first 10 (warm-up) steps
// and the ETA it implies, and the line itself in the original's format.
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "nanochat/data/document_stream.h"

namespace nanochat::train {

// smooth = 0.9 * smooth + 0.1 * loss after each step; debiased by 1 - 0.9^(step + 1), so step 0 shows
// the raw loss. `smooth` is what checkpoints save as loop_state.smooth_train_loss.
class LossEma {
 public:
  static constexpr double kBeta = 0.9;
  explicit LossEma(double smooth = 0) : smooth_(smooth) {}
  // Folds in the loss of 0-based optimizer step `step`; returns the debiased value.
  double update(double loss, int64_t step);
  double debiased(int64_t step) const;
  double smooth() const { return smooth_; }

 private:
  double smooth_;
};

// total_training_time adds a step's dt only for steps > 10 (compilation and warm-up excluded);
// the ETA extrapolates from those steps.
class TrainingClock {
 public:
  static constexpr int64_t kSkippedSteps = 10;
  explicit TrainingClock(double total_seconds = 0) : total_(total_seconds) {}
  void add(int64_t step, double dt_seconds);
  double total_seconds() const { return total_; }
  // Remaining seconds after finishing `step`, or nullopt until a timed step exists.
  std::optional<double> eta_seconds(int64_t step, int64_t num_iterations) const;

 private:
  double total_;
};

struct StepLogFields {
  int64_t step = 0, num_iterations = 0;
  double loss = 0;  // debiased EMA
  double lrm = 0;
  double dt_seconds = 0;
  int64_t tokens_per_step = 0;  // total batch size
  double mfu = 0;               // percent
  LoaderState loader;
  double total_training_seconds = 0;
  std::optional<double> eta_seconds;
};

int64_t tokens_per_second(int64_t tokens_per_step, double dt_seconds);

// "step 00012/00500 (2.40%) | loss: 7.123456 | lrm: 0.33 | dt: 812.34ms | tok/sec: 20,164 |
//  bf16_mfu: 0.00 | epoch: 1 pq: 0 rg: 3 | total time: 0.02m | eta: 6.6m"
std::string format_step_line(const StepLogFields& f);

// Thousands separators, as Python's "{:,}".
std::string with_commas(int64_t v);

// Wall seconds since t0 (a step's dt in the loops' logs).
inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace nanochat::train
