#include <cuda_bf16.h>

#include "nanochat/kernels/cuda/check.h"
#include "nanochat/kernels/cuda/wgmma.cuh"
#include "wgmma_probe.h"

namespace nanochat::gpu_test {

namespace {

namespace wg = kernels::cuda::wgmma;

// Copies a rows x cols row-major matrix into a swizzled tile of `kRows` rows; with `transpose` the
// tile's rows are the matrix's columns.
template <int kRows>
__device__ void store_tile(uint16_t* tile, const uint16_t* src, int rows, int cols, bool transpose) {
  for (int i = static_cast<int>(threadIdx.x); i < rows * cols; i += static_cast<int>(blockDim.x)) {
    const int r = i / cols, c = i % cols;
    if (transpose) tile[wg::sw128_offset<kRows>(c, r)] = src[i];
    else tile[wg::sw128_offset<kRows>(r, c)] = src[i];
  }
}

template <int kNt>
__device__ void store_result(float* d, const float (&acc)[kNt][4], int n) {
  const int lane = static_cast<int>(threadIdx.x) & 31, warp = static_cast<int>(threadIdx.x) >> 5;
#pragma unroll
  for (int t = 0; t < kNt; ++t)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int row = warp * 16 + (lane >> 2) + 8 * (e >> 1), col = t * 8 + 2 * (lane & 3) + (e & 1);
      d[row * n + col] = acc[t][e];
    }
}

__device__ uint32_t pack2(uint16_t lo, uint16_t hi) { return static_cast<uint32_t>(lo) | (static_cast<uint32_t>(hi) << 16); }

// One warpgroup; shared tiles at 1024-byte aligned offsets. The accumulators start as NaN, so the
// first step's "no accumulate" must really overwrite them.
__global__ void __launch_bounds__(128) wgmma_probe_kernel(WgmmaCase c, const uint16_t* a, const uint16_t* b, float* d) {
  extern __shared__ unsigned char smem_raw[];
  // Dynamic shared memory is only 16-byte aligned by contract: round up to the swizzle period.
  const uint32_t raw = static_cast<uint32_t>(__cvta_generic_to_shared(smem_raw));
  uint16_t* sA = reinterpret_cast<uint16_t*>(smem_raw + (((raw + 1023) & ~1023u) - raw));
  uint16_t* sB = sA + 64 * 128;
  const uint32_t a_addr = static_cast<uint32_t>(__cvta_generic_to_shared(sA));
  const uint32_t b_addr = static_cast<uint32_t>(__cvta_generic_to_shared(sB));
  const float nan = __int_as_float(0x7fc00000);
  if (c == WgmmaCase::kSsKMajor) {
    store_tile<64>(sA, a, 64, 128, false);  // rows = m
    store_tile<64>(sB, b, 128, 64, true);   // rows = n
    wg::fence_proxy_async();
    __syncthreads();
    float acc[8][4];
#pragma unroll
    for (int t = 0; t < 8; ++t) acc[t][0] = acc[t][1] = acc[t][2] = acc[t][3] = nan;
    wg::fence();
#pragma unroll
    for (int ks = 0; ks < 8; ++ks) {
      const uint32_t off = (ks >> 2) * 64 * 128 + (ks & 3) * 32;
      wg::mma_m64n64k16_ss<false, false>(acc, wg::desc_sw128(a_addr + off, 16, 1024),
                                         wg::desc_sw128(b_addr + off, 16, 1024), ks > 0);
    }
    wg::commit();
    wg::wait<0>();
    store_result(d, acc, 64);
  } else if (c == WgmmaCase::kRsBMnMajor) {
    store_tile<64>(sB, b, 64, 128, false);  // rows = k
    wg::fence_proxy_async();
    __syncthreads();
    const int lane = static_cast<int>(threadIdx.x) & 31, warp = static_cast<int>(threadIdx.x) >> 5;
    const int r0 = warp * 16 + (lane >> 2), c0 = 2 * (lane & 3);
    float acc[16][4];
#pragma unroll
    for (int t = 0; t < 16; ++t) acc[t][0] = acc[t][1] = acc[t][2] = acc[t][3] = nan;
    uint32_t frag[4][4];
#pragma unroll
    for (int ks = 0; ks < 4; ++ks) {
      const uint16_t* p = a + r0 * 64 + ks * 16 + c0;
      frag[ks][0] = pack2(p[0], p[1]);
      frag[ks][1] = pack2(p[8 * 64], p[8 * 64 + 1]);
      frag[ks][2] = pack2(p[8], p[9]);
      frag[ks][3] = pack2(p[8 * 64 + 8], p[8 * 64 + 9]);
    }
    const uint32_t lbo = 64 * 128, sbo = 1024;  // next 64 columns: the second slab; next 8 k rows
    wg::fence();
#pragma unroll
    for (int ks = 0; ks < 4; ++ks)
      wg::mma_m64n128k16_rs<true>(acc, frag[ks], wg::desc_sw128(b_addr + ks * 2048, lbo, sbo), ks > 0);
    wg::commit();
    wg::wait<0>();
    store_result(d, acc, 128);
  } else if (c == WgmmaCase::kSsN256KMajor || c == WgmmaCase::kSsN256MnMajor) {
    const bool mn = c == WgmmaCase::kSsN256MnMajor;
    store_tile<64>(sA, a, 64, 64, false);  // rows = m, one slab
    if (mn) store_tile<64>(sB, b, 64, 256, false);  // rows = k, four 64-column slabs of n
    else store_tile<256>(sB, b, 64, 256, true);     // rows = n
    wg::fence_proxy_async();
    __syncthreads();
    float acc[32][4];
#pragma unroll
    for (int t = 0; t < 32; ++t) acc[t][0] = acc[t][1] = acc[t][2] = acc[t][3] = nan;
    wg::fence();
#pragma unroll
    for (int ks = 0; ks < 4; ++ks) {
      const uint64_t da = wg::desc_sw128(a_addr + ks * 32, 16, 1024);
      if (mn) wg::mma_m64n256k16_ss<false, true>(acc, da, wg::desc_sw128(b_addr + ks * 2048, 64 * 128, 1024), ks > 0);
      else wg::mma_m64n256k16_ss<false, false>(acc, da, wg::desc_sw128(b_addr + ks * 32, 16, 1024), ks > 0);
    }
    wg::commit();
    wg::wait<0>();
    store_result(d, acc, 256);
  } else {
    store_tile<128>(sA, a, 64, 128, true);    // rows = k, 64 columns of m
    store_tile<128>(sB, b, 128, 128, false);  // rows = k, 128 columns of n (the product uses 64..127)
    wg::fence_proxy_async();
    __syncthreads();
    float acc[8][4];
#pragma unroll
    for (int t = 0; t < 8; ++t) acc[t][0] = acc[t][1] = acc[t][2] = acc[t][3] = nan;
    const uint32_t lbo = 128 * 128, sbo = 1024;  // LBO unused: M = N = 64 is one slab wide
    wg::fence();
#pragma unroll
    for (int ks = 0; ks < 8; ++ks)
      wg::mma_m64n64k16_ss<true, true>(acc, wg::desc_sw128(a_addr + ks * 2048, lbo, sbo),
                                       wg::desc_sw128(b_addr + 128 * 128 + ks * 2048, lbo, sbo), ks > 0);
    wg::commit();
    wg::wait<0>();
    store_result(d, acc, 64);
  }
}

}  // namespace

WgmmaDims wgmma_case_dims(WgmmaCase c) {
  switch (c) {
    case WgmmaCase::kSsKMajor: return {64, 64, 128, 64, 0};
    case WgmmaCase::kRsBMnMajor: return {64, 128, 64, 128, 0};
    case WgmmaCase::kSsMnMajor: return {64, 64, 128, 128, 64};
    case WgmmaCase::kSsN256KMajor:
    case WgmmaCase::kSsN256MnMajor: return {64, 256, 64, 256, 0};
  }
  return {0, 0, 0, 0, 0};
}

void run_wgmma_case(WgmmaCase c, const uint16_t* a, const uint16_t* b, float* d) {
  constexpr int kSmem = (64 * 128 + 128 * 128) * 2 + 1024;
  NC_CUDA_CHECK(cudaFuncSetAttribute(wgmma_probe_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem));
  wgmma_probe_kernel<<<1, 128, kSmem>>>(c, a, b, d);
  NC_CUDA_CHECK_LAUNCH();
  NC_CUDA_CHECK(cudaDeviceSynchronize());
}

}  // namespace nanochat::gpu_test
