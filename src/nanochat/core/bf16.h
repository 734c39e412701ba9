// bfloat16 <-> fp32 conversion, round-to-nearest-even with NaN kept quiet. One definition for the
// CPU and the GPU (host and device code), so a value rounded on either side has the same bits:
// the CUDA kernels' stores and the CPU reference's rounding must agree bit for bit.
#pragma once
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define NC_HOST_DEVICE __host__ __device__
#else
#define NC_HOST_DEVICE
#endif

namespace nanochat::bf16 {

NC_HOST_DEVICE inline uint32_t float_bits(float x) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(x);
#else
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
#endif
}

NC_HOST_DEVICE inline float bits_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
#endif
}

// The upper 16 bits of an fp32 value, rounded to nearest, ties to even. A NaN stays a NaN (its
// quiet bit is set so truncation cannot turn it into an infinity).
NC_HOST_DEVICE inline uint16_t from_float(float x) {
  uint32_t u = float_bits(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

NC_HOST_DEVICE inline float to_float(uint16_t bits) { return bits_float(static_cast<uint32_t>(bits) << 16); }

// x rounded to the nearest bf16 value, as an fp32.
NC_HOST_DEVICE inline float round(float x) { return to_float(from_float(x)); }

}  // namespace nanochat::bf16
