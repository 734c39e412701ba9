#include "bf16_probe.h"
#include "nanochat/kernels/cuda/check.h"
#include "nanochat/kernels/cuda/device_math.cuh"

namespace nanochat::gpu_test {

namespace {
__global__ void round_kernel(uint16_t* out, const float* in, int64_t n) {
  const int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (i < n) {
    const __nv_bfloat16 b = kernels::cuda::detail::to_bf16(in[i]);
    out[i] = static_cast<__nv_bfloat16_raw>(b).x;
  }
}
}  // namespace

void device_round_to_bf16(uint16_t* out, const float* in, int64_t n) {
  round_kernel<<<static_cast<unsigned>((n + 255) / 256), 256>>>(out, in, n);
  NC_CUDA_CHECK_LAUNCH();
  NC_CUDA_CHECK(cudaDeviceSynchronize());
}

}  // namespace nanochat::gpu_test
