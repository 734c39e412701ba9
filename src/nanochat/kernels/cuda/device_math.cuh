// Device-side helpers shared by the kernels: bf16 loads/stores with the project's rounding
// (core/bf16.h, identical to the CPU's), block-wide fp32 sums, launch-size arithmetic.
#pragma once
#include <cuda_bf16.h>

#include <cstdint>

#include "nanochat/core/bf16.h"

namespace nanochat::kernels::cuda::detail {

__device__ __forceinline__ float load(const __nv_bfloat16& x) { return __bfloat162float(x); }

// Round-to-nearest-even, bit-identical to nanochat::bf16::from_float on the host.
__device__ __forceinline__ __nv_bfloat16 to_bf16(float x) {
  __nv_bfloat16_raw raw;
  raw.x = ::nanochat::bf16::from_float(x);
  return __nv_bfloat16(raw);
}

__device__ __forceinline__ float warp_sum(float v) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

// Sum of v over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the result.
// `scratch` holds 32 floats of shared memory; the call synchronises the block twice.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float total = lane < warps ? scratch[lane] : 0.0f;
  return warp_sum(total);
}

inline unsigned grid_for(int64_t work, int threads, int64_t max_blocks = 65536 * 8) {
  int64_t blocks = (work + threads - 1) / threads;
  if (blocks < 1) blocks = 1;
  if (blocks > max_blocks) blocks = max_blocks;
  return static_cast<unsigned>(blocks);
}

}  // namespace nanochat::kernels::cuda::detail
