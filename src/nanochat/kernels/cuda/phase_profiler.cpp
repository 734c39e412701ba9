#include "nanochat/kernels/cuda/phase_profiler.h"

#include <algorithm>
#include <utility>

#include "nanochat/kernels/cuda/check.h"

namespace nanochat::cuda {

PhaseProfiler::PhaseProfiler(cudaStream_t stream) : stream_(stream) {}

PhaseProfiler::~PhaseProfiler() {
  for (cudaEvent_t e : events_) cudaEventDestroy(e);
}

void PhaseProfiler::mark(const char* phase) {
  if (used_ == events_.size()) {
    cudaEvent_t e = nullptr;
    NC_CUDA_CHECK(cudaEventCreate(&e));
    events_.push_back(e);
    phases_.emplace_back();
  }
  NC_CUDA_CHECK(cudaEventRecord(events_[used_], stream_));
  phases_[used_] = phase;
  ++used_;
}

void PhaseProfiler::end_step() {
  mark("(end)");
  NC_CUDA_CHECK(cudaEventSynchronize(events_[used_ - 1]));
  for (size_t i = 0; i + 1 < used_; ++i) {
    float ms = 0;
    NC_CUDA_CHECK(cudaEventElapsedTime(&ms, events_[i], events_[i + 1]));
    total_ms_[phases_[i]] += ms;
  }
  used_ = 0;
  ++steps_;
}

void PhaseProfiler::report(std::FILE* out) const {
  std::vector<std::pair<double, std::string>> rows;
  double sum = 0;
  for (const auto& [phase, ms] : total_ms_) {
    rows.emplace_back(ms / std::max(steps_, 1), phase);
    sum += ms / std::max(steps_, 1);
  }
  std::sort(rows.rbegin(), rows.rend());
  std::fprintf(out, "phase profile (mean ms per step over %d steps)\n", steps_);
  for (const auto& [ms, phase] : rows) std::fprintf(out, "  %-28s %9.3f  %5.1f%%\n", phase.c_str(), ms, 100 * ms / sum);
  std::fprintf(out, "  %-28s %9.3f\n", "total", sum);
}

void PhaseProfiler::reset() {
  total_ms_.clear();
  steps_ = 0;
  used_ = 0;
}

}  // namespace nanochat::cuda
