// Hopper GEMM for the MLP with the squared ReLU in the epilogue (mlp_gemm.h).
//
// Structure (one CTA per SM, persistent over 128 x 256 output tiles, N fastest so the CTAs running at
// once share A's row blocks while all of B stays in L2):
//  - warpgroup 0, one thread: the producer. It streams 64-deep K slices of A (128 x 64) and B
//    (256 x 64) with the bulk tensor copy engine (TMA, 128-byte swizzle) into a ring of kStages shared
//    stages, each completed on a "full" mbarrier; it waits on the stage's "empty" mbarrier first. It
//    runs ahead across tiles, so the next tile's stages load while the consumers run the epilogue.
//  - warpgroups 1 and 2: the consumers, 64 rows x 256 columns each, m64n256k16 wgmma from shared
//    memory with fp32 accumulators in registers (128 per thread; setmaxnreg moves registers from the
//    producer to them). One batch (one stage) stays in flight: after committing stage k they wait for
//    stage k-1 and release it.
//  - epilogue: each 128 x 128 half of an output tile leaves through one of two shared buffers
//    (stmatrix in the accumulator layout, 128-byte swizzled) with the bulk tensor store, which drains
//    it while the consumers go on. The backward reads u with coalesced 16-byte loads, issued while the
//    last stage's products still run, turns it into the accumulator layout through a private 2 KB
//    per-warp buffer (ldmatrix), and writes relu(u)^2 over u straight from the loaded copy.
//    Every CTA reaches its epilogue at about the same time, so the epilogue's traffic comes as one
//    burst of all SMs, bound by DRAM, with the tensor cores idle: that is what the fused kernels still
//    cost over the bare product. (Writing a, or relu(u)^2, during the next tile's mainloop instead was
//    tried: no faster forward, a slower backward.)
#include "nanochat/kernels/cuda/mlp_gemm.h"

#include <cuda.h>
#include <cudaTypedefs.h>

#include <climits>
#include <mutex>

#include "nanochat/kernels/cuda/check.h"
#include "nanochat/kernels/cuda/device_math.cuh"
#include "nanochat/kernels/cuda/hopper_sync.cuh"
#include "nanochat/kernels/cuda/wgmma.cuh"

namespace nanochat::kernels::cuda {

namespace {

namespace wg = wgmma;

constexpr int kBM = 128, kBN = 256, kBK = 64;
constexpr int kThreads = 384;  // producer warpgroup + two consumer warpgroups
constexpr int kABytes = kBM * kBK * 2;
constexpr int kBBytes = kBN * kBK * 2;
constexpr int kStageBytes = kABytes + kBBytes;
constexpr int kEpiWarps = 8;
constexpr int kEpiBytes = 16 * 64 * 2;         // one warp's 16 x 64 bf16 buffer
constexpr int kStoreBufBytes = kBM * 128 * 2;  // a 128 x 128 half tile, for the bulk tensor store
constexpr int kStages = 3;
// 1024 bytes of slack to align the stages to the swizzle period (dynamic shared memory is only
// guaranteed 16-byte alignment), then the stages, the store buffers, the warps' buffers, the barriers.
constexpr int kSmemBytes =
    1024 + kStages * kStageBytes + 2 * kStoreBufBytes + kEpiWarps * kEpiBytes + 2 * kStages * 8;
static_assert(kSmemBytes <= 227 * 1024);

enum class Epilogue { kStore, kRelu2Forward, kRelu2Backward };

struct Outputs {
  bf16* out0;  // kStore: the product; forward: u; backward: g_u
  bf16* out1;  // forward: a; backward: u, read and overwritten with relu(u)^2
};

// ---- mbarriers (hopper_sync.cuh) and the bulk tensor copy ----
using namespace hopper;

__device__ __forceinline__ void tma_load_2d(uint32_t dst, const CUtensorMap* map, uint32_t bar, int inner, int outer) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4}], [%2];\n" ::
          "r"(dst),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(bar), "r"(inner), "r"(outer)
      : "memory");
}

// The reverse copy: a (64 x 64) box of shared memory (128-byte swizzled) to global, in this thread's
// bulk group; commit_group closes the group, wait_read<N> returns once at most N of this thread's
// groups still read shared memory, wait_all<0> once they have all been written.
__device__ __forceinline__ void tma_store_2d(const CUtensorMap* map, uint32_t src, int inner, int outer) {
  asm volatile("cp.async.bulk.tensor.2d.global.shared::cta.bulk_group [%0, {%2, %3}], [%1];\n" ::"l"(
                   reinterpret_cast<uint64_t>(map)),
               "r"(src), "r"(inner), "r"(outer)
               : "memory");
}
__device__ __forceinline__ void bulk_commit() { asm volatile("cp.async.bulk.commit_group;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void bulk_wait_read() {
  asm volatile("cp.async.bulk.wait_group.read %0;\n" ::"n"(N) : "memory");
}
__device__ __forceinline__ void bulk_wait_all() { asm volatile("cp.async.bulk.wait_group 0;\n" ::: "memory"); }
// Barrier over one consumer warpgroup (ids 1 and 2; 0 is __syncthreads).
__device__ __forceinline__ void warpgroup_sync(int id) { named_sync(id, 128); }

// ---- epilogue pieces ----
using detail::cvt_bf16x2;
__device__ __forceinline__ float lo_f32(uint32_t w) { return __uint_as_float(w << 16); }
__device__ __forceinline__ float hi_f32(uint32_t w) { return __uint_as_float(w & 0xffff0000u); }
// The same formulas as mlp.cu's passes (device_math.cuh).
using detail::relu2;
using detail::relu2_grad;

// The warp's staging buffer: 16 rows of 128 bytes, 16-byte chunk c of row r stored at chunk c ^ (r & 7).
__device__ __forceinline__ uint32_t stage_offset(int row, int chunk) { return row * 128 + ((chunk ^ (row & 7)) << 4); }

// Address this lane gives to stmatrix/ldmatrix x4 call i of a 16 x 64 chunk: matrix lane/8 of the call
// is (row half (lane/8)&1, column group 2i + lane/16), its row lane%8.
__device__ __forceinline__ uint32_t matrix_row_addr(uint32_t buf, int lane, int i) {
  const int row = 8 * ((lane >> 3) & 1) + (lane & 7), group = 2 * i + (lane >> 4);
  return buf + stage_offset(row, group);
}

// The 16 x 64 chunk of u at `src` as coalesced 16-byte loads: lane's piece s is row 4s + lane/8,
// columns 8 (lane%8) .. +7.
__device__ __forceinline__ void load_chunk_raw(uint4 (&v)[4], const bf16* src, int64_t ld, int lane) {
#pragma unroll
  for (int s = 0; s < 4; ++s) {
    const int row = 4 * s + (lane >> 3), chunk = lane & 7;
    v[s] = *reinterpret_cast<const uint4*>(src + row * ld + chunk * 8);
  }
}
// ... and into the accumulator layout through the warp's buffer.
__device__ __forceinline__ void to_fragments(uint32_t buf, unsigned char* buf_ptr, const uint4 (&v)[4],
                                             uint32_t (&lo)[8], uint32_t (&hi)[8], int lane) {
#pragma unroll
  for (int s = 0; s < 4; ++s) {
    const int row = 4 * s + (lane >> 3), chunk = lane & 7;
    *reinterpret_cast<uint4*>(buf_ptr + stage_offset(row, chunk)) = v[s];
  }
  __syncwarp();
#pragma unroll
  for (int i = 0; i < 4; ++i)
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(lo[2 * i]), "=r"(hi[2 * i]), "=r"(lo[2 * i + 1]), "=r"(hi[2 * i + 1])
                 : "r"(matrix_row_addr(buf, lane, i))
                 : "memory");
  __syncwarp();
}

// One half tile (128 x 128: this warpgroup's 64 rows) in the accumulator layout (lo[j]: fragment j's
// row lane/4 pair, hi[j] the row 8 lower) through store buffer `buf` (two 64-column swizzled slabs per
// warpgroup) to global with the bulk tensor store, issued by the warpgroup's first thread. Buffers
// alternate; before refilling one, that thread waits until the store issued two calls earlier has
// read it.
struct HalfTileStore {
  uint32_t buffers;  // two kStoreBufBytes buffers; warpgroup cw uses bytes [cw * 16K, cw * 16K + 16K)
  int cw, warp, lane;
  bool leader;
  int calls = 0;

  __device__ __forceinline__ void operator()(const uint32_t (&lo)[16], const uint32_t (&hi)[16], const CUtensorMap* map,
                                             int row0, int col0) {
    const uint32_t buf = buffers + static_cast<uint32_t>(calls & 1) * kStoreBufBytes + cw * (kStoreBufBytes / 2);
    if (leader) bulk_wait_read<1>();
    warpgroup_sync(1 + cw);
    const int row = warp * 16 + 8 * ((lane >> 3) & 1) + (lane & 7);
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int frag = 2 * i + (lane >> 4);  // 8 columns each; slab frag / 8
      const uint32_t addr = buf + (frag >> 3) * (64 * 128) + stage_offset(row, frag & 7);
      asm volatile("stmatrix.sync.aligned.m8n8.x4.shared.b16 [%0], {%1, %2, %3, %4};\n" ::"r"(addr), "r"(lo[2 * i]),
                   "r"(hi[2 * i]), "r"(lo[2 * i + 1]), "r"(hi[2 * i + 1])
                   : "memory");
    }
    wg::fence_proxy_async();
    warpgroup_sync(1 + cw);
    if (leader) {
      tma_store_2d(map, buf, col0, row0);
      tma_store_2d(map, buf + 64 * 128, col0 + 64, row0);
      bulk_commit();
    }
    ++calls;
  }
};

// The bulk tensor stores' destinations: out0 (the product, u or g_u) and, forward only, out1 (a).
struct OutputMaps {
  CUtensorMap out0, out1;
};

// relu(x)^2 of both bf16 halves of w, rounded back into a pair.
__device__ __forceinline__ uint32_t relu2_pair(uint32_t w) { return cvt_bf16x2(relu2(lo_f32(w)), relu2(hi_f32(w))); }

template <Epilogue kEpi, bool kBMnMajor>
__global__ void __launch_bounds__(kThreads, 1)
    mlp_gemm_kernel(const __grid_constant__ CUtensorMap map_a, const __grid_constant__ CUtensorMap map_b,
                    const __grid_constant__ OutputMaps maps, Outputs out, int M, int N, int K) {
  extern __shared__ unsigned char smem_raw[];
  const uint32_t raw = smem_u32(smem_raw);
  unsigned char* smem = smem_raw + (((raw + 1023u) & ~1023u) - raw);
  const uint32_t base = smem_u32(smem);
  const uint32_t sA = base, sB = base + kStages * kABytes;
  const uint32_t store_bufs = base + kStages * kStageBytes;
  constexpr int kWarpBufOffset = kStages * kStageBytes + 2 * kStoreBufBytes;
  unsigned char* warp_bufs = smem + kWarpBufOffset;
  const uint32_t bars = base + kWarpBufOffset + kEpiWarps * kEpiBytes;
  auto full = [&](int s) { return bars + 8u * static_cast<uint32_t>(s); };
  auto empty = [&](int s) { return bars + 8u * static_cast<uint32_t>(kStages + s); };

  const int tiles_n = N / kBN, num_tiles = (M / kBM) * tiles_n, kblocks = K / kBK;
  const int warpgroup = static_cast<int>(threadIdx.x) / 128;
  if (threadIdx.x == 0) {
    for (int s = 0; s < kStages; ++s) {
      mbar_init(full(s), 1);
      mbar_init(empty(s), 8);  // one arrival per consumer warp
    }
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();

  if (warpgroup == 0) {
    regs_dealloc<24>();
    if (threadIdx.x != 0) return;
    int stage = 0;
    uint32_t phase = 0;
    for (int tile = static_cast<int>(blockIdx.x); tile < num_tiles; tile += static_cast<int>(gridDim.x)) {
      const int m0 = (tile / tiles_n) * kBM, n0 = (tile % tiles_n) * kBN;
      for (int kb = 0; kb < kblocks; ++kb) {
        mbar_wait(empty(stage), phase ^ 1u);
        mbar_arrive_expect_tx(full(stage), kStageBytes);
        tma_load_2d(sA + stage * kABytes, &map_a, full(stage), kb * kBK, m0);
        if constexpr (kBMnMajor) {
          // B is (K x N): four 64-column slabs of 64 K rows each.
#pragma unroll
          for (int j = 0; j < 4; ++j)
            tma_load_2d(sB + stage * kBBytes + j * (kBK * 128), &map_b, full(stage), n0 + 64 * j, kb * kBK);
        } else {
          tma_load_2d(sB + stage * kBBytes, &map_b, full(stage), kb * kBK, n0);
        }
        if (++stage == kStages) stage = 0, phase ^= 1u;
      }
    }
    return;
  }

  regs_alloc<240>();
  const int cw = warpgroup - 1;  // rows 64 cw .. 64 cw + 63 of the tile
  const int lane = static_cast<int>(threadIdx.x) & 31, warp = (static_cast<int>(threadIdx.x) >> 5) & 3;
  unsigned char* buf_ptr = warp_bufs + (cw * 4 + warp) * kEpiBytes;
  const uint32_t buf = smem_u32(buf_ptr);
  HalfTileStore half_store{store_bufs, cw, warp, lane, (threadIdx.x & 127) == 0};
  // Backward: this warp's 16 x 256 block of u, coalesced (chunk c = columns 64c.., piece s = row 4s + lane/8).
  [[maybe_unused]] uint4 u_raw[4][4];
  auto load_u = [&](int64_t row0, int n0) {
#pragma unroll
    for (int c = 0; c < 4; ++c) load_chunk_raw(u_raw[c], out.out1 + row0 * N + n0 + 64 * c, N, lane);
  };
  auto write_relu2_u = [&](int64_t row0, int n0) {  // over u itself, from the copy in registers
#pragma unroll
    for (int c = 0; c < 4; ++c)
#pragma unroll
      for (int s = 0; s < 4; ++s) {
        const int row = 4 * s + (lane >> 3), chunk = lane & 7;
        *reinterpret_cast<uint4*>(out.out1 + (row0 + row) * N + n0 + 64 * c + chunk * 8) =
            make_uint4(relu2_pair(u_raw[c][s].x), relu2_pair(u_raw[c][s].y), relu2_pair(u_raw[c][s].z),
                       relu2_pair(u_raw[c][s].w));
      }
  };

  int stage = 0;
  uint32_t phase = 0;
  float acc[32][4];
  for (int tile = static_cast<int>(blockIdx.x); tile < num_tiles; tile += static_cast<int>(gridDim.x)) {
    const int m0 = (tile / tiles_n) * kBM, n0 = (tile % tiles_n) * kBN;
    const int64_t row0 = m0 + cw * 64 + warp * 16;  // this warp's 16 rows
    int prev = -1;
    for (int kb = 0; kb < kblocks; ++kb) {
      mbar_wait(full(stage), phase);
      wg::fence();
      const uint32_t a_addr = sA + stage * kABytes + cw * (64 * 128), b_addr = sB + stage * kBBytes;
#pragma unroll
      for (int ks = 0; ks < kBK / 16; ++ks) {
        const uint64_t da = wg::desc_sw128(a_addr + ks * 32, 16, 1024);
        // K-major B: step 16 K columns inside the 128-byte rows. MN-major B: 16 K rows further, the
        // 256 columns spread over four slabs (LBO) of 64 K rows.
        const uint64_t db = kBMnMajor ? wg::desc_sw128(b_addr + ks * 2048, kBK * 128, 1024)
                                      : wg::desc_sw128(b_addr + ks * 32, 16, 1024);
        wg::mma_m64n256k16_ss<false, kBMnMajor>(acc, da, db, kb > 0 || ks > 0);
      }
      wg::commit();
      wg::wait<1>();
      if (prev >= 0) {
        __syncwarp();
        if (lane == 0) mbar_arrive(empty(prev));
      }
      prev = stage;
      if (++stage == kStages) stage = 0, phase ^= 1u;
    }
    // The backward's u is requested now, while the last stage's products still run.
    if constexpr (kEpi == Epilogue::kRelu2Backward) load_u(row0, n0);
    wg::wait<0>();
    wg::fence_operand(acc);
    __syncwarp();
    if (lane == 0) mbar_arrive(empty(prev));

    const int wg_row0 = m0 + cw * 64;
    if constexpr (kEpi == Epilogue::kRelu2Backward) write_relu2_u(row0, n0);
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      uint32_t lo[16], hi[16];
#pragma unroll
      for (int j = 0; j < 16; ++j) {
        lo[j] = cvt_bf16x2(acc[16 * h + j][0], acc[16 * h + j][1]);
        hi[j] = cvt_bf16x2(acc[16 * h + j][2], acc[16 * h + j][3]);
      }
      if constexpr (kEpi == Epilogue::kRelu2Backward) {
        // g_u = relu2_grad(G, u) with G rounded to bf16 first, as the unfused path stores it.
#pragma unroll
        for (int q = 0; q < 2; ++q) {
          uint32_t ulo[8], uhi[8];
          to_fragments(buf, buf_ptr, u_raw[2 * h + q], ulo, uhi, lane);
#pragma unroll
          for (int j = 0; j < 8; ++j) {
            const int f = 8 * q + j;
            lo[f] = cvt_bf16x2(relu2_grad(lo_f32(lo[f]), lo_f32(ulo[j])), relu2_grad(hi_f32(lo[f]), hi_f32(ulo[j])));
            hi[f] = cvt_bf16x2(relu2_grad(lo_f32(hi[f]), lo_f32(uhi[j])), relu2_grad(hi_f32(hi[f]), hi_f32(uhi[j])));
          }
        }
      }
      half_store(lo, hi, &maps.out0, wg_row0, n0 + 128 * h);
    }
    if constexpr (kEpi == Epilogue::kRelu2Forward) {
      // a = relu(u)^2 from the bf16-rounded u.
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        uint32_t lo[16], hi[16];
#pragma unroll
        for (int j = 0; j < 16; ++j) {
          lo[j] = relu2_pair(cvt_bf16x2(acc[16 * h + j][0], acc[16 * h + j][1]));
          hi[j] = relu2_pair(cvt_bf16x2(acc[16 * h + j][2], acc[16 * h + j][3]));
        }
        half_store(lo, hi, &maps.out1, wg_row0, n0 + 128 * h);
      }
    }
  }
  // The bulk stores read shared memory until they complete: the CTA must outlive them.
  if ((threadIdx.x & 127) == 0) bulk_wait_all();
}

// ---- host side ----
PFN_cuTensorMapEncodeTiled_v12000 tensor_map_encoder() {
  static PFN_cuTensorMapEncodeTiled_v12000 fn = nullptr;
  static std::once_flag once;
  std::call_once(once, [] {
    void* p = nullptr;
    cudaDriverEntryPointQueryResult status{};
    NC_CUDA_CHECK(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000, cudaEnableDefault, &status));
    ::nanochat::cuda::require(status == cudaDriverEntryPointSuccess && p != nullptr, "mlp_gemm",
                              "the driver has no cuTensorMapEncodeTiled");
    fn = reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(p);
  });
  return fn;
}

// A row-major (outer x inner) bf16 matrix read in (box_outer x 64) boxes, 128-byte swizzled.
CUtensorMap tensor_map(const bf16* ptr, int64_t outer, int64_t inner, uint32_t box_outer) {
  CUtensorMap map{};
  const cuuint64_t dims[2] = {static_cast<cuuint64_t>(inner), static_cast<cuuint64_t>(outer)};
  const cuuint64_t strides[1] = {static_cast<cuuint64_t>(inner) * sizeof(bf16)};
  const cuuint32_t box[2] = {64, box_outer};
  const cuuint32_t elem_strides[2] = {1, 1};
  const CUresult r = tensor_map_encoder()(&map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2, const_cast<bf16*>(ptr), dims,
                                          strides, box, elem_strides, CU_TENSOR_MAP_INTERLEAVE_NONE,
                                          CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                                          CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  ::nanochat::cuda::require(r == CUDA_SUCCESS, "mlp_gemm", "cuTensorMapEncodeTiled rejected an operand");
  return map;
}

bool shape_ok(int64_t M, int64_t N, int64_t K) {
  return M > 0 && N > 0 && K > 0 && M % kBM == 0 && N % kBN == 0 && K % kBK == 0 && M < INT_MAX && N < INT_MAX &&
         K < INT_MAX;
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

template <Epilogue kEpi, bool kBMnMajor>
void launch_variant(Outputs out, const CUtensorMap& map_a, const CUtensorMap& map_b, int64_t M, int64_t N, int64_t K,
                    int sms, cudaStream_t stream) {
  const OutputMaps maps{tensor_map(out.out0, M, N, 64), tensor_map(out.out1, M, N, 64)};
  auto* kernel = mlp_gemm_kernel<kEpi, kBMnMajor>;
  NC_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmemBytes));
  const int64_t tiles = (M / kBM) * (N / kBN);
  const int grid = static_cast<int>(tiles < sms ? tiles : sms);
  kernel<<<grid, kThreads, kSmemBytes, stream>>>(map_a, map_b, maps, out, static_cast<int>(M), static_cast<int>(N),
                                                 static_cast<int>(K));
  NC_CUDA_CHECK_LAUNCH();
}

template <Epilogue kEpi, bool kBMnMajor>
void launch(const char* op, Outputs out, const bf16* a, const bf16* b, int64_t M, int64_t N, int64_t K,
            cudaStream_t stream) {
  ::nanochat::cuda::require(shape_ok(M, N, K), op,
                            "unsupported shape (needs M % 128 == 0, N % 256 == 0, K % 64 == 0, all positive)");
  ::nanochat::cuda::require(aligned16(a) && aligned16(b) && aligned16(out.out0) && aligned16(out.out1), op,
                            "every pointer must be 16-byte aligned");
  int device = 0, major = 0, sms = 0;
  NC_CUDA_CHECK(cudaGetDevice(&device));
  NC_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  ::nanochat::cuda::require(major == 9, op, "needs a Hopper (sm_90) GPU");
  NC_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  const CUtensorMap map_a = tensor_map(a, M, K, kBM);
  const CUtensorMap map_b = kBMnMajor ? tensor_map(b, K, N, kBK) : tensor_map(b, N, K, kBN);
  launch_variant<kEpi, kBMnMajor>(out, map_a, map_b, M, N, K, sms, stream);
}

}  // namespace

bool mlp_gemm_supported(int64_t M, int64_t N, int64_t K) {
  if (!shape_ok(M, N, K)) return false;
  int device = 0, major = 0;
  if (cudaGetDevice(&device) != cudaSuccess) return false;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess) return false;
  return major == 9;
}

void fc_relu2_forward(bf16* u, bf16* a, const bf16* h2, const bf16* w_fc, int64_t M, int64_t N, int64_t K,
                      cudaStream_t stream) {
  launch<Epilogue::kRelu2Forward, false>("fc_relu2_forward", Outputs{u, a}, h2, w_fc, M, N, K, stream);
}

void mlp_proj_input_grad_relu2(bf16* g_u, bf16* u_inout, const bf16* g, const bf16* w_proj, int64_t M, int64_t N,
                               int64_t K, cudaStream_t stream) {
  ::nanochat::cuda::require(g_u != u_inout, "mlp_proj_input_grad_relu2", "g_u must not alias u_inout");
  launch<Epilogue::kRelu2Backward, true>("mlp_proj_input_grad_relu2", Outputs{g_u, u_inout}, g, w_proj, M, N, K,
                                         stream);
}

void mlp_gemm_plain(bf16* c, const bf16* a, const bf16* b, bool b_mn_major, int64_t M, int64_t N, int64_t K,
                    cudaStream_t stream) {
  if (b_mn_major) launch<Epilogue::kStore, true>("mlp_gemm_plain", Outputs{c, c}, a, b, M, N, K, stream);
  else launch<Epilogue::kStore, false>("mlp_gemm_plain", Outputs{c, c}, a, b, M, N, K, stream);
}

}  // namespace nanochat::kernels::cuda
