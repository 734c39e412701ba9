// What the CUDA runtime sees: used by `nanochat --version` and the GPU tests' preamble.
#pragma once
#include <string>

namespace nanochat::cuda {

// e.g. "CUDA runtime 13.0, driver 13.0; device 0: NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 79.2 GiB)",
// or a sentence naming why no device is usable.
std::string device_summary();

}  // namespace nanochat::cuda
