#include "nanochat/optim/schedules.h"

#include <cmath>
#include <numbers>

#include "nanochat/core/error.h"

namespace nanochat::optim {

void ScheduleConfig::validate() const {
  NC_CHECK(num_iterations > 0, "schedule: num_iterations must be > 0, got {}", num_iterations);
  NC_CHECK(warmup_steps >= 0, "schedule: warmup_steps must be >= 0, got {}", warmup_steps);
  NC_CHECK(warmdown_ratio >= 0 && warmdown_ratio <= 1, "schedule: warmdown_ratio must be in [0, 1], got {}",
           warmdown_ratio);
  NC_CHECK(std::isfinite(final_lr_frac) && final_lr_frac >= 0, "schedule: final_lr_frac must be >= 0, got {}",
           final_lr_frac);
  NC_CHECK(std::isfinite(weight_decay) && weight_decay >= 0, "schedule: weight_decay must be >= 0, got {}",
           weight_decay);
}

int64_t python_round(double x) {
  const double r = std::nearbyint(x);  // the default rounding mode is round-half-to-even
  return static_cast<int64_t>(r);
}

int64_t warmdown_iters(const ScheduleConfig& s) {
  return python_round(s.warmdown_ratio * static_cast<double>(s.num_iterations));
}

double lr_multiplier(const ScheduleConfig& s, int64_t it) {
  const int64_t warmdown = warmdown_iters(s);
  if (it < s.warmup_steps) return static_cast<double>(it + 1) / static_cast<double>(s.warmup_steps);
  if (it <= s.num_iterations - warmdown) return 1.0;
  // With no warmdown this is only reached past the horizon (it > N), where the final value holds.
  const double progress =
      warmdown > 0 ? static_cast<double>(s.num_iterations - it) / static_cast<double>(warmdown) : 0.0;
  return progress * 1.0 + (1.0 - progress) * s.final_lr_frac;
}

double muon_momentum(const ScheduleConfig& s, int64_t it) {
  const int64_t warmdown = warmdown_iters(s);
  const int64_t warmdown_start = s.num_iterations - warmdown;
  if (it < 400) {
    const double frac = static_cast<double>(it) / 400.0;
    return (1.0 - frac) * 0.85 + frac * 0.97;
  }
  if (it >= warmdown_start) {
    // warmdown == 0 puts warmdown_start at N; steps past the horizon keep the final value.
    const double progress =
        warmdown > 0 ? static_cast<double>(it - warmdown_start) / static_cast<double>(warmdown) : 1.0;
    return 0.97 * (1.0 - progress) + 0.90 * progress;
  }
  return 0.97;
}

double muon_weight_decay(const ScheduleConfig& s, int64_t it) {
  return s.weight_decay * 0.5 *
         (1.0 + std::cos(std::numbers::pi * static_cast<double>(it) / static_cast<double>(s.num_iterations)));
}

}  // namespace nanochat::optim
