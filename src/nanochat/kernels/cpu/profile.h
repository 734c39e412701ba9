// Wall-clock time per phase of a training step, for finding where the CPU step spends its time.
// Off unless the environment sets NANOCHAT_PROFILE=1; then every PhaseTimer adds its lifetime to
// a named total, and report() prints the totals. Timers belong on the calling (serial) thread,
// around whole ops: the ops parallelize inside, so the wall time is what matters.
//   { kernels::cpu::PhaseTimer t("fwd.attention"); k::attention_forward(...); }
#pragma once
#include <chrono>
#include <cstdio>

namespace nanochat::kernels::cpu {

namespace profile {
bool enabled();
// Adds seconds to the total named `phase` (a string literal: kept by pointer).
void add(const char* phase, double seconds);
// Prints "phase  total_ms  ms_per_call  calls  share" lines, sorted by total, for `steps` steps.
void report(std::FILE* out, int steps);
void reset();
}  // namespace profile

class PhaseTimer {
 public:
  explicit PhaseTimer(const char* phase) : phase_(profile::enabled() ? phase : nullptr) {
    if (phase_ != nullptr) start_ = std::chrono::steady_clock::now();
  }
  ~PhaseTimer() { stop(); }
  // Ends the phase early (a later stop or the destructor then does nothing).
  void stop() {
    if (phase_ == nullptr) return;
    profile::add(phase_, std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
    phase_ = nullptr;
  }
  PhaseTimer(const PhaseTimer&) = delete;
  PhaseTimer& operator=(const PhaseTimer&) = delete;

 private:
  const char* phase_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace nanochat::kernels::cpu
