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
__global__ void pack_kernel(uint16_t* out, const float* in, int64_t vectors) {
  const int64_t v = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (v >= vectors) return;
  float x[kernels::cuda::detail::kVec];
  for (int j = 0; j < kernels::cuda::detail::kVec; ++j) x[j] = in[v * kernels::cuda::detail::kVec + j];
  const uint4 u = kernels::cuda::detail::pack8(x);
  const uint32_t w[4] = {u.x, u.y, u.z, u.w};
  for (int j = 0; j < 4; ++j) {
    out[v * 8 + 2 * j] = static_cast<uint16_t>(w[j] & 0xffffu);
    out[v * 8 + 2 * j + 1] = static_cast<uint16_t>(w[j] >> 16);
  }
}
}  // namespace

void device_pack8_to_bf16(uint16_t* out, const float* in, int64_t n) {
  const int64_t vectors = n / 8;
  pack_kernel<<<static_cast<unsigned>((vectors + 255) / 256), 256>>>(out, in, vectors);
  NC_CUDA_CHECK_LAUNCH();
  NC_CUDA_CHECK(cudaDeviceSynchronize());
}

void device_round_to_bf16(uint16_t* out, const float* in, int64_t n) {
  round_kernel<<<static_cast<unsigned>((n + 255) / 256), 256>>>(out, in, n);
  NC_CUDA_CHECK_LAUNCH();
  NC_CUDA_CHECK(cudaDeviceSynchronize());
}

}  // namespace nanochat::gpu_test
