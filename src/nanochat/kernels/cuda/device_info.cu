#include "nanochat/kernels/cuda/device_info.h"

#include <cuda_runtime.h>

#include <cstdio>
#include <string>

namespace nanochat::cuda {

namespace {
std::string version_text(int v) { return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10); }
}  // namespace

std::string device_summary() {
  int runtime = 0, driver = 0;
  cudaRuntimeGetVersion(&runtime);
  cudaDriverGetVersion(&driver);
  std::string out = "CUDA runtime " + version_text(runtime) + ", driver " + (driver ? version_text(driver) : "none");
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) return out + "; no usable device (" + cudaGetErrorString(err) + ")";
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
    char mem[32];
    std::snprintf(mem, sizeof mem, "%.1f GiB", static_cast<double>(p.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0));
    out += "; device " + std::to_string(i) + ": " + p.name + " (sm_" + std::to_string(p.major) + std::to_string(p.minor) +
           ", " + std::to_string(p.multiProcessorCount) + " SMs, " + mem + ")";
  }
  return out;
}

}  // namespace nanochat::cuda
