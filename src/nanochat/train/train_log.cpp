#include "nanochat/train/train_log.h"

#include <fmt/format.h>

#include <cmath>

namespace nanochat::train {

double LossEma::update(double loss, int64_t step) {
  smooth_ = kBeta * smooth_ + (1 - kBeta) * loss;
  return debiased(step);
}

double LossEma::debiased(int64_t step) const {
  return smooth_ / (1 - std::pow(kBeta, static_cast<double>(step + 1)));
}

void TrainingClock::add(int64_t step, double dt_seconds) {
  if (step > kSkippedSteps) total_ += dt_seconds;
}

std::optional<double> TrainingClock::eta_seconds(int64_t step, int64_t num_iterations) const {
  const int64_t steps_done = step - kSkippedSteps;
  if (steps_done <= 0) return std::nullopt;
  return static_cast<double>(num_iterations - step) * (total_ / static_cast<double>(steps_done));
}

int64_t tokens_per_second(int64_t tokens_per_step, double dt_seconds) {
  return dt_seconds > 0 ? static_cast<int64_t>(static_cast<double>(tokens_per_step) / dt_seconds) : 0;
}

std::string with_commas(int64_t v) {
  std::string digits = std::to_string(v < 0 ? -v : v), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return v < 0 ? "-" + out : out;
}

std::string format_step_line(const StepLogFields& f) {
  const double pct = 100.0 * static_cast<double>(f.step) / static_cast<double>(f.num_iterations);
  std::string line = fmt::format(
      "step {:05d}/{:05d} ({:.2f}%) | loss: {:.6f} | lrm: {:.2f} | dt: {:.2f}ms | tok/sec: {} | bf16_mfu: {:.2f} | "
      "epoch: {} pq: {} rg: {} | total time: {:.2f}m",
      f.step, f.num_iterations, pct, f.loss, f.lrm, f.dt_seconds * 1000, with_commas(tokens_per_second(f.tokens_per_step, f.dt_seconds)),
      f.mfu, f.loader.epoch, f.loader.pq_idx, f.loader.rg_idx, f.total_training_seconds / 60);
  if (f.eta_seconds) line += fmt::format(" | eta: {:.1f}m", *f.eta_seconds / 60);
  return line;
}

}  // namespace nanochat::train
