// Where a GPU step's time goes, from CUDA events on the stream (no host timers, no kernel
// serialisation beyond the stream's own order): mark(phase) records an event, and the device time
// until the next mark is charged to that phase. end_step() waits for the step and adds it up.
// Meant for benchmarks (NANOCHAT_PROFILE=1); a disabled profiler costs one branch per mark.
#pragma once
#include <cuda_runtime.h>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace nanochat::cuda {

class PhaseProfiler {
 public:
  explicit PhaseProfiler(cudaStream_t stream);
  ~PhaseProfiler();
  PhaseProfiler(const PhaseProfiler&) = delete;
  PhaseProfiler& operator=(const PhaseProfiler&) = delete;
  void mark(const char* phase);
  void end_step();
  // Mean milliseconds per step of each phase, largest first, and their sum.
  void report(std::FILE* out) const;
  void reset();

 private:
  cudaStream_t stream_;
  std::vector<cudaEvent_t> events_;
  std::vector<std::string> phases_;  // phase of the interval starting at events_[i]
  size_t used_ = 0;
  std::map<std::string, double> total_ms_;
  int steps_ = 0;
};

// The profiler a benchmark installed, or null (every model op asks; see gpt_cuda.cpp).
inline void profile_mark(PhaseProfiler* p, const char* phase) {
  if (p != nullptr) p->mark(phase);
}

}  // namespace nanochat::cuda
