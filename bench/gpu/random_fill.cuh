// Deterministic pseudo-random bf16 operands for the GPU benchmarks: element i gets a hash of (i, seed)
// mapped to [-scale, scale). Never zeros (timing on zeros can flatter a kernel).
#pragma once
#include <cuda_bf16.h>

#include <cstdint>

// One benchmark per executable includes this, so the kernel is defined once per program.
namespace nanochat::bench {

__global__ void fill_random_bf16(__nv_bfloat16* x, int64_t n, uint32_t seed, float scale) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    uint32_t h = static_cast<uint32_t>(i) * 2654435761u ^ seed;
    h ^= h >> 15;
    h *= 2246822519u;
    h ^= h >> 13;
    x[i] = __float2bfloat16((static_cast<float>(h & 0xFFFF) / 32768.0f - 1.0f) * scale);
  }
}

}  // namespace nanochat::bench
