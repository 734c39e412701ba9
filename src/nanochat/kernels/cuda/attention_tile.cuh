// Building blocks of the attention kernels (attention_forward.cu, attention_backward.cu): bf16 tensor
// core MMAs (mma.sync m16n8k16, fp32 accumulate), ldmatrix fragment loads, cp.async tile copies into
// XOR-swizzled shared memory, and the causal/window visibility rule.
//
// Shared-memory tiles hold `rows x D` bf16 values, one row per position, in 16-byte chunks whose
// index is XORed with (row & 7). An ldmatrix reads 8 rows at one logical chunk; the swizzle puts
// those 8 reads into 8 different bank groups, so fragment loads are conflict-free for D = 64 and 128.
#pragma once
#include <cuda_bf16.h>

#include <cstdint>

#include "nanochat/kernels/cuda/device_math.cuh"
#include "nanochat/kernels/ops.h"

namespace nanochat::kernels::cuda::attention_detail {

// Throws nanochat::Error("<op>: ...") for shapes the kernels do not support (attention_forward.cu).
void check_attention_shape(const cpu::AttentionShape& s, const char* op);

using detail::fast_exp2;
using detail::kLog2e;
constexpr float kLn2 = 0.6931471805599453f;

__device__ __forceinline__ int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
__device__ __forceinline__ int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

__device__ __forceinline__ uint32_t smem_u32(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// Element offset of (row, 8-column chunk) in a swizzled tile of width D.
template <int D>
__device__ __forceinline__ int swz(int row, int chunk) {
  return row * D + ((chunk ^ (row & 7)) << 3);
}

// 16-byte global->shared copy; invalid sources are zero-filled (nothing is read from src then).
__device__ __forceinline__ void cp_async16(uint32_t dst, const void* src, bool valid) {
  const int bytes = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

// Copies `rows` rows (row r at src + r*stride elements; rows >= valid_rows become zeros) of D bf16
// into a swizzled tile, spread over kThreads threads.
template <int D, int kThreads>
__device__ __forceinline__ void load_tile(__nv_bfloat16* tile, const __nv_bfloat16* src, int64_t stride, int rows,
                                          int valid_rows) {
  constexpr int kChunks = D / 8;
  for (int idx = static_cast<int>(threadIdx.x); idx < rows * kChunks; idx += kThreads) {
    const int r = idx / kChunks, c = idx % kChunks;
    const bool valid = r < valid_rows;
    const __nv_bfloat16* g = valid ? src + r * stride + c * 8 : src;
    cp_async16(smem_u32(tile + swz<D>(r, c)), g, valid);
  }
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

// Stores four 8x8 b16 matrices, register i holding matrix i in the mma fragment layout (lane l: row
// l / 4, columns 2 (l % 4) and + 1); lanes 8i..8i+7 give the row addresses of matrix i.
__device__ __forceinline__ void stmatrix_x4(uint32_t addr, const uint32_t (&r)[4]) {
  asm volatile("stmatrix.sync.aligned.m8n8.x4.shared.b16 [%0], {%1,%2,%3,%4};\n" ::"r"(addr), "r"(r[0]), "r"(r[1]),
               "r"(r[2]), "r"(r[3])
               : "memory");
}

// c += a (16x16, row major) * b (16x8, column major).
__device__ __forceinline__ void mma_bf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

using detail::cvt_bf16x2;

// Fragment addressing. A 16x16 A operand from a tile whose rows are the M dimension: rows
// row0 + (lane & 15), chunk 2*kk + (lane >> 4).
template <int D>
__device__ __forceinline__ uint32_t a_frag_addr(const __nv_bfloat16* tile, int row0, int kk, int lane) {
  return smem_u32(tile + swz<D>(row0 + (lane & 15), 2 * kk + (lane >> 4)));
}
// Two 16x8 B operands (n tiles n0..n0+7 and n0+8..n0+15) for a k chunk kk, from a tile whose rows
// are the N dimension (ldmatrix without transpose): regs 0,1 -> first n tile, 2,3 -> second.
template <int D>
__device__ __forceinline__ uint32_t b_frag_addr(const __nv_bfloat16* tile, int n0, int kk, int lane) {
  return smem_u32(tile + swz<D>(n0 + (lane & 7) + ((lane >> 4) << 3), 2 * kk + ((lane >> 3) & 1)));
}
// Two 16x8 B operands from a tile whose rows are the K dimension (ldmatrix .trans): k rows
// k0..k0+15, n columns chunk 2*np (regs 0,1) and 2*np + 1 (regs 2,3).
template <int D>
__device__ __forceinline__ uint32_t bt_frag_addr(const __nv_bfloat16* tile, int k0, int np, int lane) {
  return smem_u32(tile + swz<D>(k0 + (lane & 7) + (((lane >> 3) & 1) << 3), 2 * np + (lane >> 4)));
}

// Query at absolute position pos sees key j iff pos - window <= j <= pos and j < Tk.
__device__ __forceinline__ bool visible(int64_t pos, int64_t key, int64_t window, int64_t Tk) {
  return key <= pos && key >= pos - window && key < Tk;
}

}  // namespace nanochat::kernels::cuda::attention_detail
