// Device-side helpers shared by the kernels: bf16 loads/stores with the project's rounding
// (core/bf16.h, identical to the CPU's), block-wide fp32 sums, launch-size arithmetic.
#pragma once
#include <cuda_bf16.h>

#include <cstdint>
#include <initializer_list>

#include "nanochat/core/bf16.h"
#include "nanochat/kernels/cuda/ops.h"

namespace nanochat::kernels::cuda::detail {

// A scalar parameter's value: scale * *ptr, or the scale alone without a pointer (ops.h).
__device__ __forceinline__ float value_of(ScalarParam s) { return s.ptr != nullptr ? s.scale * *s.ptr : s.scale; }

__device__ __forceinline__ float load(const __nv_bfloat16& x) { return __bfloat162float(x); }

// Round-to-nearest-even, bit-identical to nanochat::bf16::from_float on the host. The hardware's
// conversion (one CVT for two values) rounds every non-NaN value the same way; only NaN differs (it
// gives the canonical 0x7FFF, the host keeps the sign and payload), so NaN takes the host's integer
// rounding. The integer rounding everywhere had cost ~7 instructions per value, which made issue-bound
// kernels (the softcap cross-entropy) slower.
__device__ __forceinline__ __nv_bfloat16 to_bf16(float x) {
  if (isnan(x)) {
    __nv_bfloat16_raw raw;
    raw.x = ::nanochat::bf16::from_float(x);
    return __nv_bfloat16(raw);
  }
  return __float2bfloat16_rn(x);
}

// Two values rounded to nearest-even by the hardware's one CVT, lo in the low half. NaN becomes the
// canonical 0x7FFF: for values that cannot be NaN (the MMA kernels' fragments and epilogues).
__device__ __forceinline__ uint32_t cvt_bf16x2(float lo, float hi) {
  const __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&h);
}

// Two values rounded as to_bf16 (NaN included), packed low (lo) then high (hi).
__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
  if (isnan(lo) || isnan(hi))
    return static_cast<uint32_t>(::nanochat::bf16::from_float(lo)) |
           (static_cast<uint32_t>(::nanochat::bf16::from_float(hi)) << 16);
  return cvt_bf16x2(lo, hi);
}

// x rounded to bf16 and widened back: an intermediate the unfused kernels store as bf16.
__device__ __forceinline__ float round_bf16(float x) { return load(to_bf16(x)); }

constexpr float kLog2e = 1.4426950408889634f;

// 2^x from the hardware's approximation (MUFU.EX2: within 2 ulp, subnormal results flushed to zero).
__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// The MLP's squared ReLU and its gradient in fp32 (spec §3.1.7), shared by every kernel that computes
// them (mlp.cu's passes, the fused GEMM epilogues, the decode GEMV), so the fused paths keep the
// unfused ones' bits.
__device__ __forceinline__ float relu2(float x) {
  const float r = fmaxf(x, 0.0f);
  return r * r;
}
__device__ __forceinline__ float relu2_grad(float ga, float x) { return x > 0.0f ? ga * (2.0f * x) : 0.0f; }

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

// ---- 16-byte vectors of 8 bf16 (the bandwidth-bound kernels' unit of memory traffic) ----
constexpr int kVec = 8;

inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// Widens 8 consecutive bf16 (16-byte aligned) to fp32, exactly.
__device__ __forceinline__ void load8(const __nv_bfloat16* p, float (&v)[kVec]) {
  const uint4 u = *reinterpret_cast<const uint4*>(p);
  const uint32_t w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    v[2 * i] = __uint_as_float(w[i] << 16);
    v[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
  }
}

// Rounds 8 fp32 values once each (to_bf16's rounding) into one 16-byte vector of bf16.
__device__ __forceinline__ uint4 pack8(const float (&v)[kVec]) {
  uint32_t w[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) w[i] = pack_bf16x2(v[2 * i], v[2 * i + 1]);
  return make_uint4(w[0], w[1], w[2], w[3]);
}
__device__ __forceinline__ void store_raw8(__nv_bfloat16* p, const uint4& u) { *reinterpret_cast<uint4*>(p) = u; }
__device__ __forceinline__ void store8(__nv_bfloat16* p, const float (&v)[kVec]) { store_raw8(p, pack8(v)); }

// Raw 16-byte vectors kept in registers (half the registers of their fp32 values), widened on use.
__device__ __forceinline__ uint4 load_raw8(const __nv_bfloat16* p) { return *reinterpret_cast<const uint4*>(p); }
__device__ __forceinline__ void unpack8(const uint4& u, float (&v)[kVec]) {
  const uint32_t w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    v[2 * i] = __uint_as_float(w[i] << 16);
    v[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
  }
}

__device__ __forceinline__ void load8(const float* p, float (&v)[kVec]) {
  const float4 a = *reinterpret_cast<const float4*>(p), b = *reinterpret_cast<const float4*>(p + 4);
  v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
}

__device__ __forceinline__ void store8(float* p, const float (&v)[kVec]) {
  *reinterpret_cast<float4*>(p) = make_float4(v[0], v[1], v[2], v[3]);
  *reinterpret_cast<float4*>(p + 4) = make_float4(v[4], v[5], v[6], v[7]);
}

// The number of 8-element vectors of an n-element elementwise op when every (non-null) pointer allows
// 16-byte access, else 0 (the kernel then goes element by element).
inline int64_t vectors_for(int64_t n, std::initializer_list<const void*> ptrs) {
  for (const void* p : ptrs)
    if (p != nullptr && !aligned16(p)) return 0;
  return n / kVec;
}

// Grid-stride loops of an elementwise kernel over n elements: vec_op(e) for the vectors v < nvec
// (element offset e = 8v), then scalar_op(i) for the elements from 8*nvec on (the n % 8 tail, or all
// of them when nvec = 0).
template <class VecOp, class ScalarOp>
__device__ __forceinline__ void vec_loops(int64_t n, int64_t nvec, VecOp vec_op, ScalarOp scalar_op) {
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  const int64_t tid = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  for (int64_t v = tid; v < nvec; v += stride) vec_op(v * kVec);
  for (int64_t i = nvec * kVec + tid; i < n; i += stride) scalar_op(i);
}

inline unsigned grid_for(int64_t work, int threads, int64_t max_blocks = 65536 * 8) {
  int64_t blocks = (work + threads - 1) / threads;
  if (blocks < 1) blocks = 1;
  if (blocks > max_blocks) blocks = max_blocks;
  return static_cast<unsigned>(blocks);
}

}  // namespace nanochat::kernels::cuda::detail
