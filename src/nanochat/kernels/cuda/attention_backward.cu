// Flash attention backward (see attention.h), deterministic by construction: two kernels and no
// float atomics.
//  1. delta[b,h,i] = sum_c gy*y (fp32), the softmax correction of every query row.
//  2. One block per (key tile of 64 or 128, kv head, batch row); each warp owns 16 keys and keeps
//     their gK/gV rows in registers while it walks every query head of the group and every query
//     tile that can see the keys (last tile first), recomputing P^T = exp(scale K Q^T - lse) from
//     the forward's lse. Query tiles (Q, gY, lse, delta) are double-buffered through shared memory
//     with cp.async. The same block also forms the partial gQ_i = dS_ij K_j of its key tile j (dS
//     goes through shared memory so that the warps can split gQ_i by rows and columns) and adds it
//     into an fp32 gQ accumulator in a fixed order of j: a counter per (batch row, head, query
//     tile) says how many key tiles have added theirs, and key tile j waits until it equals the
//     number of contributing tiles before j. The first contributor stores instead of adding; the
//     last one (holding the tile's latest visible key) converts to bf16 and writes gq. A block only
//     ever waits on blocks of lower linear index, which the hardware schedules first, so the waits
//     cannot deadlock. This replaces a third kernel that recomputed S and dP for gQ (7 products
//     instead of 5).
// Products run on tensor cores (bf16 operands, fp32 accumulation); P and dS are rounded to bf16 as
// operands of the second products, as in flash attention. head_dim 128 runs a Hopper version of
// step 2 on warpgroup MMAs (wgmma, attention_backward_wgmma_kernel below); head_dim 64 keeps the
// mma.sync one.
#include <cmath>
#include <cstdlib>

#include "nanochat/kernels/cuda/attention.h"
#include "nanochat/kernels/cuda/attention_tile.cuh"
#include "nanochat/kernels/cuda/check.h"
#include "nanochat/kernels/cuda/reduce.h"
#include "nanochat/kernels/cuda/wgmma.cuh"

namespace nanochat::kernels::cuda {

namespace {

using namespace attention_detail;

constexpr int kQueryTile = 64;  // queries per step

// NANOCHAT_ATTENTION_BACKWARD_MMA_SYNC=1 pins the mma.sync kernel for head_dim 128 too (A/B timing).
bool force_mma_sync() {
  static const bool forced = [] {
    const char* v = std::getenv("NANOCHAT_ATTENTION_BACKWARD_MMA_SYNC");
    return v != nullptr && v[0] != '\0' && v[0] != '0';
  }();
  return forced;
}

// Keys per block. 128-key blocks (8 warps, one per SM) halve the fp32 gQ read-modify-write traffic
// per product and the length of the chains of ordered additions, which pays off for long windows;
// short windows have short chains anyway and prefer two 64-key blocks per SM. Measured on an H100,
// B=32 T=2048 H=10 d=128, backward ms (key tile 64 / 128; the former 3-kernel version with gQ
// recomputation): full causal 5.69 / 5.00 (5.10); window 1024 3.91 / 3.86 (3.99); window 512
// 2.44 / 2.67 (2.77) with the mma.sync kernel.
// The wgmma kernel (head_dim 128) is faster with 128-key tiles at every window (H100, B=32 T=2048
// H=10, ms kt64 / kt128: full 2.93 / 2.56, window 1024 2.38 / 2.13, window 512 1.62 / 1.53; the
// mma.sync kernel's best: 4.93, 3.91, 2.46).
int default_key_tile(const cpu::AttentionShape& s) {
  if (s.d == 128 && !force_mma_sync()) return 128;
  return s.window <= 512 ? 64 : 128;
}

struct BackwardArgs {
  bf16 *gq, *gk, *gv;
  const bf16 *gy, *q, *k, *v;
  const float* lse;
  float* delta;    // written by the delta kernel, read by the main one
  float* dq_acc;   // fp32 partial gQ, one tile of kQueryTile x D per (batch row, head, query tile)
  int* dq_count;   // per (batch row, head, query tile): key tiles that have added into dq_acc; zeroed
  int64_t T, H, Hk, window;
  float scale, scale_log2;
};

// One warp per row of (B*T*H) rows of D.
template <int D>
__global__ void attention_delta_kernel(float* delta, const bf16* gy, const bf16* y, int64_t rows, int64_t T,
                                       int64_t H) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5);
  if (row >= rows) return;
  const int lane = threadIdx.x & 31;
  const __nv_bfloat162* g2 = reinterpret_cast<const __nv_bfloat162*>(gy + row * D);
  const __nv_bfloat162* y2 = reinterpret_cast<const __nv_bfloat162*>(y + row * D);
  float acc = 0.0f;
#pragma unroll
  for (int c = lane; c < D / 2; c += 32) {
    const float2 g = __bfloat1622float2(g2[c]), yy = __bfloat1622float2(y2[c]);
    acc = fmaf(g.x, yy.x, acc);
    acc = fmaf(g.y, yy.y, acc);
  }
  for (int off = 16; off > 0; off >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, off);
  if (lane == 0) {
    const int64_t h = row % H, bt = row / H, t = bt % T, b = bt / T;
    delta[(b * H + h) * T + t] = acc;
  }
}


__device__ __forceinline__ int load_acquire(const int* p) {
  int v;
  asm volatile("ld.acquire.gpu.global.s32 %0, [%1];\n" : "=r"(v) : "l"(p) : "memory");
  return v;
}
__device__ __forceinline__ void add_release(int* p, int v) {
  asm volatile("red.release.gpu.global.add.s32 [%0], %1;\n" ::"l"(p), "r"(v) : "memory");
}

// A 16x16 A operand (rows m0.., k chunk kk) from a tile of width W stored transposed (rows are the K
// dimension), read with ldmatrix .trans.
template <int W>
__device__ __forceinline__ uint32_t at_frag_addr(const bf16* tile, int m0, int kk, int lane) {
  return smem_u32(tile + swz<W>(kk * 16 + (lane & 7) + ((lane >> 4) << 3), (m0 >> 3) + ((lane >> 3) & 1)));
}

// kKeyTile keys per block, one warp per 16 keys. For the gQ product the warps split the query tile
// into 4 row groups of 16 and the head dimension into kWarps / 4 column groups.
template <int D, int kKeyTile>
__global__ void __launch_bounds__(kKeyTile * 2, 1) attention_backward_kernel(BackwardArgs a) {
  constexpr int kWarps = kKeyTile / 16, kThreads = kWarps * 32;
  constexpr int kBlockM = kQueryTile;
  constexpr int kMt = kBlockM / 8;  // query n tiles of S^T per warp
  constexpr int kDt = D / 8;
  constexpr int kColGroups = kWarps / 4;
  constexpr int kWarpT = kDt / kColGroups;        // gQ n tiles (of 8 columns) per warp
  constexpr int kChunkT = kWarpT < 8 ? kWarpT : 8;  // ... per register chunk
  extern __shared__ __align__(128) unsigned char smem_raw[];
  bf16* sK = reinterpret_cast<bf16*>(smem_raw);
  bf16* sV = sK + kKeyTile * D;
  bf16* sQ = sV + kKeyTile * D;        // [2][kBlockM * D]
  bf16* sdO = sQ + 2 * kBlockM * D;    // [2][kBlockM * D]
  float* sLse = reinterpret_cast<float*>(sdO + 2 * kBlockM * D);  // [2][kBlockM], base 2
  float* sDelta = sLse + 2 * kBlockM;                                // [2][kBlockM]
  bf16* sdS = reinterpret_cast<bf16*>(sDelta + 2 * kBlockM);        // [kKeyTile][kBlockM]

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t kvh = blockIdx.y, b = blockIdx.z;
  const int64_t j = blockIdx.x, n0 = j * kKeyTile;
  const int nk = static_cast<int>(min64(kKeyTile, a.T - n0));
  const int64_t group = a.H / a.Hk, n_qtiles = (a.T + kBlockM - 1) / kBlockM;
  const int64_t q_row = a.H * D, kv_row = a.Hk * D;
  // Queries that see any of these keys: [n0, n0 + nk - 1 + window]. Walked last tile first, in the
  // same order by every key tile, so that consecutive key tiles reach a query tile at about the same
  // time and the ordered gQ additions rarely wait.
  const int64_t qt_lo = n0 / kBlockM, qt_hi = min64(a.T - 1, n0 + nk - 1 + a.window) / kBlockM;
  const int64_t nqt = qt_hi - qt_lo + 1, iters = group * nqt;

  const int64_t kv_off = ((b * a.T + n0) * a.Hk + kvh) * D;
  load_tile<D, kThreads>(sK, a.k + kv_off, kv_row, kKeyTile, nk);
  load_tile<D, kThreads>(sV, a.v + kv_off, kv_row, kKeyTile, nk);
  auto load_queries = [&](int64_t it, int buf) {
    const int64_t h = kvh * group + it / nqt, i0 = (qt_hi - it % nqt) * kBlockM;
    const int nq = static_cast<int>(min64(kBlockM, a.T - i0));
    const int64_t off = ((b * a.T + i0) * a.H + h) * D;
    load_tile<D, kThreads>(sQ + buf * kBlockM * D, a.q + off, q_row, kBlockM, nq);
    load_tile<D, kThreads>(sdO + buf * kBlockM * D, a.gy + off, q_row, kBlockM, nq);
    const float* lse = a.lse + (b * a.H + h) * a.T + i0;
    const float* delta = a.delta + (b * a.H + h) * a.T + i0;
    for (int r = static_cast<int>(threadIdx.x); r < kBlockM; r += kThreads) {
      // Rows past T get lse = +inf, so their probabilities are exactly 0.
      sLse[buf * kBlockM + r] = r < nq ? lse[r] * kLog2e : INFINITY;
      sDelta[buf * kBlockM + r] = r < nq ? delta[r] : 0.0f;
    }
  };
  load_queries(0, 0);
  cp_async_commit();

  float dk[kDt][4], dv[kDt][4];
#pragma unroll
  for (int t = 0; t < kDt; ++t)
#pragma unroll
    for (int e = 0; e < 4; ++e) dk[t][e] = dv[t][e] = 0.0f;
  const int64_t key_a = n0 + warp * 16 + (lane >> 2);

  for (int64_t it = 0; it < iters; ++it) {
    const int buf = static_cast<int>(it & 1);
    if (it + 1 < iters) {
      load_queries(it + 1, buf ^ 1);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    const bf16* sQb = sQ + buf * kBlockM * D;
    const bf16* sdOb = sdO + buf * kBlockM * D;
    const float* lse2 = sLse + buf * kBlockM;
    const float* delta = sDelta + buf * kBlockM;
    const int64_t h = kvh * group + it / nqt, qt = qt_hi - it % nqt, i0 = qt * kBlockM;

    // S^T = K Q^T for this warp's 16 keys.
    float st[kMt][4];
#pragma unroll
    for (int t = 0; t < kMt; ++t) st[t][0] = st[t][1] = st[t][2] = st[t][3] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      uint32_t ka[4];
      ldmatrix_x4(ka, a_frag_addr<D>(sK, warp * 16, kk, lane));
#pragma unroll
      for (int np = 0; np < kMt / 2; ++np) {
        uint32_t bq[4];
        ldmatrix_x4(bq, b_frag_addr<D>(sQb, np * 16, kk, lane));
        mma_bf16(st[2 * np], ka, bq[0], bq[1]);
        mma_bf16(st[2 * np + 1], ka, bq[2], bq[3]);
      }
    }
    const bool full = i0 >= n0 + kKeyTile - 1 && i0 + kBlockM - 1 - a.window <= n0 && i0 + kBlockM <= a.T &&
                      n0 + kKeyTile <= a.T;
#pragma unroll
    for (int t = 0; t < kMt; ++t)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int col = t * 8 + 2 * (lane & 3) + (e & 1);
        float p = fast_exp2(st[t][e] * a.scale_log2 - lse2[col]);
        if (!full && !visible(i0 + col, key_a + 8 * (e >> 1), a.window, a.T)) p = 0.0f;
        st[t][e] = p;
      }

    // gV += P^T gY.
#pragma unroll
    for (int kk = 0; kk < kBlockM / 16; ++kk) {
      const uint32_t pa[4] = {cvt_bf16x2(st[2 * kk][0], st[2 * kk][1]), cvt_bf16x2(st[2 * kk][2], st[2 * kk][3]),
                              cvt_bf16x2(st[2 * kk + 1][0], st[2 * kk + 1][1]),
                              cvt_bf16x2(st[2 * kk + 1][2], st[2 * kk + 1][3])};
#pragma unroll
      for (int np = 0; np < kDt / 2; ++np) {
        uint32_t bo[4];
        ldmatrix_x4_trans(bo, bt_frag_addr<D>(sdOb, kk * 16, np, lane));
        mma_bf16(dv[2 * np], pa, bo[0], bo[1]);
        mma_bf16(dv[2 * np + 1], pa, bo[2], bo[3]);
      }
    }

    // dP^T = V gY^T, then dS^T = P^T (dP^T - delta) in place.
    float dpt[kMt][4];
#pragma unroll
    for (int t = 0; t < kMt; ++t) dpt[t][0] = dpt[t][1] = dpt[t][2] = dpt[t][3] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      uint32_t va[4];
      ldmatrix_x4(va, a_frag_addr<D>(sV, warp * 16, kk, lane));
#pragma unroll
      for (int np = 0; np < kMt / 2; ++np) {
        uint32_t bo[4];
        ldmatrix_x4(bo, b_frag_addr<D>(sdOb, np * 16, kk, lane));
        mma_bf16(dpt[2 * np], va, bo[0], bo[1]);
        mma_bf16(dpt[2 * np + 1], va, bo[2], bo[3]);
      }
    }
#pragma unroll
    for (int t = 0; t < kMt; ++t)
#pragma unroll
      for (int e = 0; e < 4; ++e) dpt[t][e] = st[t][e] * (dpt[t][e] - delta[t * 8 + 2 * (lane & 3) + (e & 1)]);

    // gK += dS^T Q (the 1/sqrt(d) is applied once at the end); dS^T also goes to shared memory as
    // [key][query] rows for the gQ product.
#pragma unroll
    for (int kk = 0; kk < kBlockM / 16; ++kk) {
      const uint32_t da[4] = {cvt_bf16x2(dpt[2 * kk][0], dpt[2 * kk][1]), cvt_bf16x2(dpt[2 * kk][2], dpt[2 * kk][3]),
                              cvt_bf16x2(dpt[2 * kk + 1][0], dpt[2 * kk + 1][1]),
                              cvt_bf16x2(dpt[2 * kk + 1][2], dpt[2 * kk + 1][3])};
      const int key = warp * 16 + (lane >> 2), col = 2 * (lane & 3);
      *reinterpret_cast<uint32_t*>(sdS + swz<kBlockM>(key, 2 * kk) + col) = da[0];
      *reinterpret_cast<uint32_t*>(sdS + swz<kBlockM>(key + 8, 2 * kk) + col) = da[1];
      *reinterpret_cast<uint32_t*>(sdS + swz<kBlockM>(key, 2 * kk + 1) + col) = da[2];
      *reinterpret_cast<uint32_t*>(sdS + swz<kBlockM>(key + 8, 2 * kk + 1) + col) = da[3];
#pragma unroll
      for (int np = 0; np < kDt / 2; ++np) {
        uint32_t bq[4];
        ldmatrix_x4_trans(bq, bt_frag_addr<D>(sQb, kk * 16, np, lane));
        mma_bf16(dk[2 * np], da, bq[0], bq[1]);
        mma_bf16(dk[2 * np + 1], da, bq[2], bq[3]);
      }
    }
    __syncthreads();  // dS complete in shared memory

    // gQ_i (+)= dS K_j, each warp 16 query rows of kWarpT n tiles, in register chunks of kChunkT.
    // Key tiles first_j..j-1 add theirs before this one (first_j: the tile of the earliest key any
    // query of tile i sees); the last one, holding the latest query's key, writes gq.
    const int64_t tile_id = (b * a.H + h) * n_qtiles + qt;
    const int64_t first_j = max64(0, i0 - a.window) / kKeyTile, last_j = min64(i0 + kBlockM - 1, a.T - 1) / kKeyTile;
    const bool is_first = j == first_j, is_last = j == last_j;
    int* count = a.dq_count + tile_id;
    float4* acc = reinterpret_cast<float4*>(a.dq_acc) + (tile_id * kWarps + warp) * (kWarpT * 32) + lane;
    const int row0 = (warp & 3) * 16, col_t0 = (warp >> 2) * kWarpT;
#pragma unroll
    for (int c = 0; c < kWarpT / kChunkT; ++c) {
      float dq[kChunkT][4];
#pragma unroll
      for (int t = 0; t < kChunkT; ++t) dq[t][0] = dq[t][1] = dq[t][2] = dq[t][3] = 0.0f;
#pragma unroll
      for (int kk = 0; kk < kKeyTile / 16; ++kk) {
        uint32_t sa[4];
        ldmatrix_x4_trans(sa, at_frag_addr<kBlockM>(sdS, row0, kk, lane));
#pragma unroll
        for (int np = 0; np < kChunkT / 2; ++np) {
          uint32_t bk[4];
          ldmatrix_x4_trans(bk, bt_frag_addr<D>(sK, kk * 16, (col_t0 + c * kChunkT) / 2 + np, lane));
          mma_bf16(dq[2 * np], sa, bk[0], bk[1]);
          mma_bf16(dq[2 * np + 1], sa, bk[2], bk[3]);
        }
      }
      if (c == 0 && !is_first) {
        if (threadIdx.x == 0) {
          const int want = static_cast<int>(j - first_j);
          while (load_acquire(count) != want) {
          }
        }
        __syncthreads();
      }
      if (!is_first) {
#pragma unroll
        for (int t = 0; t < kChunkT; ++t) {
          const float4 prev = __ldcg(acc + (c * kChunkT + t) * 32);
          dq[t][0] += prev.x;
          dq[t][1] += prev.y;
          dq[t][2] += prev.z;
          dq[t][3] += prev.w;
        }
      }
      if (is_last) {
#pragma unroll
        for (int r = 0; r < 2; ++r) {
          const int64_t row = i0 + row0 + (lane >> 2) + 8 * r;
          if (row >= a.T) continue;
          bf16* out = a.gq + ((b * a.T + row) * a.H + h) * D + (col_t0 + c * kChunkT) * 8 + 2 * (lane & 3);
#pragma unroll
          for (int t = 0; t < kChunkT; ++t)
            *reinterpret_cast<__nv_bfloat162*>(out + t * 8) =
                __floats2bfloat162_rn(dq[t][2 * r] * a.scale, dq[t][2 * r + 1] * a.scale);
        }
      } else {
#pragma unroll
        for (int t = 0; t < kChunkT; ++t)
          __stcg(acc + (c * kChunkT + t) * 32, make_float4(dq[t][0], dq[t][1], dq[t][2], dq[t][3]));
      }
    }
    // The barrier orders every thread's additions before thread 0's release (cumulative at gpu
    // scope), so a block that acquires the count sees them. It also protects the buffer that the
    // next iteration's prefetch overwrites.
    __syncthreads();
    if (!is_last && threadIdx.x == 0) add_release(count, 1);
  }

#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int64_t key = key_a + 8 * r;
    if (key >= a.T) continue;
    const int64_t off = ((b * a.T + key) * a.Hk + kvh) * D + 2 * (lane & 3);
#pragma unroll
    for (int t = 0; t < kDt; ++t) {
      *reinterpret_cast<__nv_bfloat162*>(a.gk + off + t * 8) =
          __floats2bfloat162_rn(dk[t][2 * r] * a.scale, dk[t][2 * r + 1] * a.scale);
      *reinterpret_cast<__nv_bfloat162*>(a.gv + off + t * 8) = __floats2bfloat162_rn(dv[t][2 * r], dv[t][2 * r + 1]);
    }
  }
}

// 4-byte global->shared copy (cp.async.ca); invalid sources are zero-filled.
__device__ __forceinline__ void cp_async4(uint32_t dst, const void* src, bool valid) {
  const int bytes = valid ? 4 : 0;
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(dst), "l"(src), "r"(bytes));
}
__device__ __forceinline__ void red_add_f32x4(float4* p, const float (&v)[4]) {
  asm volatile("red.relaxed.gpu.global.add.v4.f32 [%0], {%1, %2, %3, %4};\n" ::"l"(p), "f"(v[0]), "f"(v[1]), "f"(v[2]),
               "f"(v[3])
               : "memory");
}

// The same algorithm for head_dim 128 on Hopper's warpgroup MMAs (wgmma.cuh). Each warpgroup (4
// warps) owns 64 keys; the accumulator fragments are those of the mma.sync kernel above (warp w of a
// warpgroup holds rows 16w.. of its 64), so the softmax and bookkeeping are unchanged. Products per
// query tile and warpgroup: S^T = K Q^T and dP^T = V gY^T (m64n64k16, both operands K-major from shared
// memory), gV += P^T gY and gK += dS^T Q (m64n128k16, A = the packed P^T / dS^T fragments from
// registers, B MN-major), and the block's partial gQ = dS K (m64n64k16, both MN-major from shared
// memory: dS^T is stored [key][query]) split into 64-column chunks over the warpgroups. Every shared
// tile is in the 128-byte-swizzled slab layout that wgmma reads directly, so no operand is re-read
// per warp (the mma.sync kernel reads each Q/gY fragment once per warp).
// Overlap within a warpgroup: the exponentials run while dP^T is still multiplying, and the gV/gK
// products while dS goes to shared memory and gQ starts.
// The ordered gQ accumulation is a chain of key tiles as above, but run latest key tile first while
// each block walks its query tiles upwards, so that a tile's predecessor got to the query tile two
// steps earlier (walking downwards with the earliest tile first, every tile of a head reached a
// query tile in the same step and each link of the chain cost a wait). Its middle links add with
// fire-and-forget reductions (red.add, performed in chain order, so still deterministic) instead of
// load-add-store, and a tile signals its successor one step later, after the next step's first
// barrier has ordered every thread's reductions, so nothing waits for the round trip.
template <int kKeyTile>
__global__ void __launch_bounds__(kKeyTile * 2, 1) attention_backward_wgmma_kernel(BackwardArgs a) {
  namespace wg = wgmma;
  constexpr int D = 128;
  constexpr int kWarps = kKeyTile / 16, kThreads = kWarps * 32;
  constexpr int kBlockM = kQueryTile;
  constexpr int kMt = kBlockM / 8;  // query n tiles of S^T per warp
  constexpr int kDt = D / 8;
  constexpr int kGroups = kKeyTile / 64;       // warpgroups
  constexpr int kChunks = (D / 64) / kGroups;  // 64-column gQ chunks per warpgroup
  constexpr int kWarpT = kChunks * 8;          // gQ n tiles per warp
  constexpr uint32_t kKeySlab = kKeyTile * 128, kQuerySlab = kBlockM * 128;  // bytes of one 64-column slab
  static_assert(kThreads >= 2 * kBlockM, "lse and delta rows are copied by one thread each");
  extern __shared__ unsigned char smem_raw[];
  // Dynamic shared memory is only guaranteed 16-byte aligned; the swizzle needs 1024.
  const uint32_t raw_addr = smem_u32(smem_raw);
  unsigned char* base = smem_raw + (((raw_addr + 1023u) & ~1023u) - raw_addr);
  bf16* sK = reinterpret_cast<bf16*>(base);
  bf16* sV = sK + kKeyTile * D;
  bf16* sQ = sV + kKeyTile * D;       // [2][kBlockM * D]
  bf16* sdO = sQ + 2 * kBlockM * D;   // [2][kBlockM * D]
  bf16* sdS = sdO + 2 * kBlockM * D;  // [kKeyTile][kBlockM]: one slab
  float* sLse = reinterpret_cast<float*>(sdS + kKeyTile * kBlockM);  // [2][kBlockM], natural log
  float* sDelta = sLse + 2 * kBlockM;                                 // [2][kBlockM]

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, group_id = warp >> 2;
  const int64_t kvh = blockIdx.y, b = blockIdx.z;
  // Key tiles in reverse block order: a tile's gQ predecessors (the later key tiles) then have lower
  // block indices, so the waits below cannot deadlock.
  const int64_t j = gridDim.x - 1 - blockIdx.x, n0 = j * kKeyTile;
  const int nk = static_cast<int>(min64(kKeyTile, a.T - n0));
  const int64_t group = a.H / a.Hk, n_qtiles = (a.T + kBlockM - 1) / kBlockM;
  const int64_t q_row = a.H * D, kv_row = a.Hk * D;
  // Step and position bookkeeping in 32 bits (T < 2^31): registers are the scarce resource here.
  const int qt_lo = static_cast<int>(n0 / kBlockM),
            qt_hi = static_cast<int>(min64(a.T - 1, n0 + nk - 1 + a.window) / kBlockM);
  const int iters = static_cast<int>(group) * (qt_hi - qt_lo + 1);
  const int T = static_cast<int>(a.T), window = static_cast<int>(min64(a.window, a.T));

  // Copies: thread t always moves the 16-byte chunk t % 16 of rows t / 16 + i * kRowStep, so its
  // swizzled shared offset is fixed up to i * kRowStep rows (kRowStep is a multiple of 8).
  constexpr int kRowStep = kThreads / (D / 8);
  static_assert(kRowStep % 8 == 0, "the swizzle phase of a thread's rows must not change");
  const int cp_chunk = static_cast<int>(threadIdx.x) % (D / 8), cp_row = static_cast<int>(threadIdx.x) / (D / 8);
  auto cp_offset = [&](int rows) {  // element offset in a tile of `rows` rows
    return (cp_chunk >> 3) * (rows * 64) + cp_row * 64 + (((cp_chunk & 7) ^ (cp_row & 7)) << 3);
  };
  auto load = [&](bf16* tile, int rows, const bf16* src, int64_t stride, int valid_rows) {
    const uint32_t dst = smem_u32(tile + cp_offset(rows));
    const bf16* g = src + cp_row * stride + cp_chunk * 8;
#pragma unroll
    for (int i = 0; i < rows / kRowStep; ++i) {
      const bool valid = cp_row + i * kRowStep < valid_rows;
      cp_async16(dst + i * kRowStep * 128, valid ? g + i * kRowStep * stride : src, valid);
    }
  };
  const int64_t kv_off = ((b * a.T + n0) * a.Hk + kvh) * D;
  load(sK, kKeyTile, a.k + kv_off, kv_row, nk);
  load(sV, kKeyTile, a.v + kv_off, kv_row, nk);
  // Steps walk the query heads of the group, and in each the query tiles from the first that sees
  // these keys upwards. Rows past T are zero-filled; their probabilities are masked to 0 below.
  auto load_queries = [&](int hq, int qt, int buf) {
    const int64_t h = kvh * group + hq, i0 = qt * kBlockM;
    const int nq = static_cast<int>(min64(kBlockM, a.T - i0));
    const int64_t off = ((b * a.T + i0) * a.H + h) * D;
    load(sQ + buf * kBlockM * D, kBlockM, a.q + off, q_row, nq);
    load(sdO + buf * kBlockM * D, kBlockM, a.gy + off, q_row, nq);
    const int r = static_cast<int>(threadIdx.x) % kBlockM;
    const float* src = (threadIdx.x < kBlockM ? a.lse : a.delta) + (b * a.H + h) * a.T + i0 + r;
    if (threadIdx.x < 2 * kBlockM)
      cp_async4(smem_u32((threadIdx.x < kBlockM ? sLse : sDelta) + buf * kBlockM + r), r < nq ? src : a.lse, r < nq);
  };
  int hq = 0, qt = qt_lo;  // this step's query head (within the group) and query tile
  load_queries(hq, qt, 0);
  cp_async_commit();
  cp_async_wait<0>();
  wg::fence_proxy_async();

  // Descriptors without their start address; adding (byte address >> 4) completes one.
  const uint64_t desc_kmajor = wg::desc_sw128(0, 16, 1024);
  const uint64_t desc_q_mn = wg::desc_sw128(0, kQuerySlab, 1024);  // Q, gY as B, N = D over 2 slabs
  const uint64_t desc_key_mn = wg::desc_sw128(0, kKeySlab, 1024);  // dS as A, K as B
  const uint32_t sK_addr = smem_u32(sK), sQ_addr = smem_u32(sQ), sdO_addr = smem_u32(sdO), sdS_addr = smem_u32(sdS);
  auto desc_at = [](uint64_t d, uint32_t addr) { return d + ((addr & 0x3FFFF) >> 4); };
  // This warpgroup's 64 rows of K and V (A operands, K-major; K steps of 16 = 32 bytes, slabs of 64).
  const uint32_t k_rows = sK_addr + group_id * 64 * 128, v_rows = smem_u32(sV) + group_id * 64 * 128;

  float dk[kDt][4], dv[kDt][4];
#pragma unroll
  for (int t = 0; t < kDt; ++t)
#pragma unroll
    for (int e = 0; e < 4; ++e) dk[t][e] = dv[t][e] = 0.0f;
  const int key_a = static_cast<int>(n0) + warp * 16 + (lane >> 2);
  int* pending_release = nullptr;  // the counter this block still has to bump for its last step

  for (int it = 0; it < iters; ++it) {
    const int buf = static_cast<int>(it & 1);
    // Step it's tiles are complete (each thread waited for its copies and fenced them for the tensor
    // cores at the end of the previous step), and every thread is done with step it - 1 (its buffers,
    // dS, its gQ reductions).
    __syncthreads();
    const int next_hq = qt == qt_hi ? hq + 1 : hq, next_qt = qt == qt_hi ? qt_lo : qt + 1;
    if (it + 1 < iters) {
      load_queries(next_hq, next_qt, buf ^ 1);
      cp_async_commit();
    }
    const uint32_t q_addr = sQ_addr + buf * 2 * kQuerySlab, o_addr = sdO_addr + buf * 2 * kQuerySlab;
    const float* lse = sLse + buf * kBlockM;
    const float* delta = sDelta + buf * kBlockM;
    const int64_t h = kvh * group + hq;
    const int i0 = qt * kBlockM;

    // S^T = K Q^T, then dP^T = V gY^T, as two groups so that the exponentials overlap the second.
    float st[kMt][4], dpt[kMt][4];
#pragma unroll
    for (int t = 0; t < kMt; ++t)
#pragma unroll
      for (int e = 0; e < 4; ++e) st[t][e] = dpt[t][e] = 0.0f;
    wg::fence();
#pragma unroll
    for (int ks = 0; ks < D / 16; ++ks) {
      const uint32_t step = (ks >> 2) * kKeySlab + (ks & 3) * 32, qstep = (ks >> 2) * kQuerySlab + (ks & 3) * 32;
      wg::mma_m64n64k16_ss<false, false>(st, desc_at(desc_kmajor, k_rows + step),
                                         desc_at(desc_kmajor, q_addr + qstep), ks > 0);
    }
    wg::commit();
#pragma unroll
    for (int ks = 0; ks < D / 16; ++ks) {
      const uint32_t step = (ks >> 2) * kKeySlab + (ks & 3) * 32, qstep = (ks >> 2) * kQuerySlab + (ks & 3) * 32;
      wg::mma_m64n64k16_ss<false, false>(dpt, desc_at(desc_kmajor, v_rows + step),
                                         desc_at(desc_kmajor, o_addr + qstep), ks > 0);
    }
    wg::commit();
    if (pending_release != nullptr && threadIdx.x == 0) add_release(pending_release, 1);
    pending_release = nullptr;

    const bool full = i0 >= n0 + kKeyTile - 1 && i0 + kBlockM - 1 - a.window <= n0 && i0 + kBlockM <= a.T &&
                      n0 + kKeyTile <= a.T;
    wg::wait<1>();
    wg::fence_operand(st);
#pragma unroll
    for (int t = 0; t < kMt; ++t)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int col = t * 8 + 2 * (lane & 3) + (e & 1);
        float p = fast_exp2(fmaf(st[t][e], a.scale_log2, -lse[col] * kLog2e));
        if (!full) {
          const int pos = i0 + col, key = key_a + 8 * (e >> 1);
          if (pos >= T || key > pos || key < pos - window || key >= T) p = 0.0f;
        }
        st[t][e] = p;
      }
    // dS^T = P^T (dP^T - delta) in place.
    wg::wait<0>();
    wg::fence_operand(dpt);
#pragma unroll
    for (int t = 0; t < kMt; ++t)
#pragma unroll
      for (int e = 0; e < 4; ++e) dpt[t][e] = st[t][e] * (dpt[t][e] - delta[t * 8 + 2 * (lane & 3) + (e & 1)]);

    // gV += P^T gY and gK += dS^T Q (B MN-major: K steps of 16 query rows = 2048 bytes; the 1/sqrt(d)
    // of gK is applied once at the end). dS^T also goes to shared memory as [key][query] rows for gQ.
    uint32_t pa[kBlockM / 16][4], da[kBlockM / 16][4];
#pragma unroll
    for (int kk = 0; kk < kBlockM / 16; ++kk) {
      pa[kk][0] = cvt_bf16x2(st[2 * kk][0], st[2 * kk][1]);
      pa[kk][1] = cvt_bf16x2(st[2 * kk][2], st[2 * kk][3]);
      pa[kk][2] = cvt_bf16x2(st[2 * kk + 1][0], st[2 * kk + 1][1]);
      pa[kk][3] = cvt_bf16x2(st[2 * kk + 1][2], st[2 * kk + 1][3]);
      da[kk][0] = cvt_bf16x2(dpt[2 * kk][0], dpt[2 * kk][1]);
      da[kk][1] = cvt_bf16x2(dpt[2 * kk][2], dpt[2 * kk][3]);
      da[kk][2] = cvt_bf16x2(dpt[2 * kk + 1][0], dpt[2 * kk + 1][1]);
      da[kk][3] = cvt_bf16x2(dpt[2 * kk + 1][2], dpt[2 * kk + 1][3]);
    }
    // Stored before the products are issued: their A registers must not be touched until they finish.
    // Each da[kk] is a 16x16 block (keys x queries 16kk..) of four 8x8 matrices; lane l addresses row
    // l % 8 of matrix l / 8 (keys + 8 for odd matrices, queries + 8 for the upper two).
    {
      const int key = warp * 16 + (lane & 7) + ((lane >> 3) & 1) * 8, upper = lane >> 4;
#pragma unroll
      for (int kk = 0; kk < kBlockM / 16; ++kk)
        stmatrix_x4(smem_u32(sdS + wg::sw128_chunk<kKeyTile>(key, 2 * kk + upper)), da[kk]);
    }
    wg::fence();
#pragma unroll
    for (int kk = 0; kk < kBlockM / 16; ++kk)
      wg::mma_m64n128k16_rs<true>(dv, pa[kk], desc_at(desc_q_mn, o_addr + kk * 2048), true);
#pragma unroll
    for (int kk = 0; kk < kBlockM / 16; ++kk)
      wg::mma_m64n128k16_rs<true>(dk, da[kk], desc_at(desc_q_mn, q_addr + kk * 2048), true);
    wg::commit();
    wg::fence_proxy_async();
    __syncthreads();  // dS complete in shared memory

    // gQ_i (+)= dS K_j: warp w of a warpgroup holds query rows 16w.. of 64-column chunks. The key
    // tiles that see query tile i add theirs latest first: last_j stores, each earlier one adds once
    // the count says all later ones have, first_j writes gq. Walking query tiles upwards, tile j + 1
    // reached this query tile two steps (64 queries per step, 128 keys per tile) before tile j, so
    // the wait is rarely a real one.
    const int64_t tile_id = (b * a.H + h) * n_qtiles + qt;
    const int first_j = max(0, i0 - window) / kKeyTile, last_j = min(i0 + kBlockM - 1, T - 1) / kKeyTile;
    const bool stores = j == last_j, writes_gq = j == first_j;
    int* count = a.dq_count + tile_id;
    float4* acc = reinterpret_cast<float4*>(a.dq_acc) + (tile_id * kWarps + warp) * (kWarpT * 32) + lane;
    const int row0 = (warp & 3) * 16;
#pragma unroll 1
    for (int c = 0; c < kChunks; ++c) {
      const int chunk = group_id * kChunks + c;  // 64 columns of D
      float dq[8][4];
#pragma unroll
      for (int t = 0; t < 8; ++t) dq[t][0] = dq[t][1] = dq[t][2] = dq[t][3] = 0.0f;
      wg::fence();
#pragma unroll
      for (int ks = 0; ks < kKeyTile / 16; ++ks)
        wg::mma_m64n64k16_ss<true, true>(dq, desc_at(desc_key_mn, sdS_addr + ks * 2048),
                                         desc_at(desc_key_mn, sK_addr + chunk * kKeySlab + ks * 2048), ks > 0);
      wg::commit();
      if (c == 0) {
        wg::wait<1>();  // gV and gK done: their A registers are free
        // The next step's tiles: waited for and fenced here, before this step's reductions are in
        // flight (the fence would wait for them too).
        cp_async_wait<0>();
        wg::fence_proxy_async();
        if (!stores) {
          if (threadIdx.x == 0) {
            const int want = static_cast<int>(last_j - j);
            while (load_acquire(count) != want) {
            }
          }
          __syncthreads();
        }
      }
      float4 prev[8];
      if (writes_gq && !stores) {
#pragma unroll
        for (int t = 0; t < 8; ++t) prev[t] = __ldcg(acc + (c * 8 + t) * 32);
      }
      wg::wait<0>();
      wg::fence_operand(dq);
      if (writes_gq) {
        if (!stores) {
#pragma unroll
          for (int t = 0; t < 8; ++t) {
            dq[t][0] += prev[t].x;
            dq[t][1] += prev[t].y;
            dq[t][2] += prev[t].z;
            dq[t][3] += prev[t].w;
          }
        }
#pragma unroll
        for (int r = 0; r < 2; ++r) {
          const int64_t row = i0 + row0 + (lane >> 2) + 8 * r;
          if (row >= T) continue;
          bf16* out = a.gq + ((b * a.T + row) * a.H + h) * D + chunk * 64 + 2 * (lane & 3);
#pragma unroll
          for (int t = 0; t < 8; ++t)
            *reinterpret_cast<__nv_bfloat162*>(out + t * 8) =
                __floats2bfloat162_rn(dq[t][2 * r] * a.scale, dq[t][2 * r + 1] * a.scale);
        }
      } else if (stores) {
#pragma unroll
        for (int t = 0; t < 8; ++t)
          __stcg(acc + (c * 8 + t) * 32, make_float4(dq[t][0], dq[t][1], dq[t][2], dq[t][3]));
      } else {
#pragma unroll
        for (int t = 0; t < 8; ++t) red_add_f32x4(acc + (c * 8 + t) * 32, dq[t]);
      }
    }
    if (!writes_gq) pending_release = count;
    hq = next_hq;
    qt = next_qt;
  }
  // Every thread's last reductions are ordered before the final signal.
  __syncthreads();
  if (pending_release != nullptr && threadIdx.x == 0) add_release(pending_release, 1);

#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int64_t key = key_a + 8 * r;
    if (key >= T) continue;
    const int64_t off = ((b * a.T + key) * a.Hk + kvh) * D + 2 * (lane & 3);
#pragma unroll
    for (int t = 0; t < kDt; ++t) {
      *reinterpret_cast<__nv_bfloat162*>(a.gk + off + t * 8) =
          __floats2bfloat162_rn(dk[t][2 * r] * a.scale, dk[t][2 * r + 1] * a.scale);
      *reinterpret_cast<__nv_bfloat162*>(a.gv + off + t * 8) = __floats2bfloat162_rn(dv[t][2 * r], dv[t][2 * r + 1]);
    }
  }
}

// Shared memory of the mma.sync kernel and of the wgmma one (which also needs 1024-byte alignment).
template <int D, int kKeyTile>
constexpr size_t backward_smem_bytes(bool wgmma_kernel) {
  return static_cast<size_t>(2 * kKeyTile + 4 * kQueryTile) * D * sizeof(bf16) + 4 * kQueryTile * sizeof(float) +
         static_cast<size_t>(kKeyTile * kQueryTile) * sizeof(bf16) + (wgmma_kernel ? 1024 : 0);
}

template <int D, int kKeyTile>
void launch_backward(const BackwardArgs& args, const bf16* gy, const bf16* y, const cpu::AttentionShape& s,
                     int64_t n_counts, cudaStream_t stream) {
  constexpr int kThreads = kKeyTile * 2;
  // head_dim 128 runs on wgmma (sm_90a); 64 keeps the mma.sync kernel.
  const bool use_wgmma = D == 128 && !force_mma_sync();
  void (*kernel)(BackwardArgs) = attention_backward_kernel<D, kKeyTile>;
  if constexpr (D == 128) {
    if (use_wgmma) kernel = attention_backward_wgmma_kernel<kKeyTile>;
  }
  const size_t smem = backward_smem_bytes<D, kKeyTile>(use_wgmma);
  static const bool configured = [] {
    NC_CUDA_CHECK(cudaFuncSetAttribute(attention_backward_kernel<D, kKeyTile>,
                                       cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       static_cast<int>(backward_smem_bytes<D, kKeyTile>(false))));
    if constexpr (D == 128)
      NC_CUDA_CHECK(cudaFuncSetAttribute(attention_backward_wgmma_kernel<kKeyTile>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(backward_smem_bytes<D, kKeyTile>(true))));
    return true;
  }();
  (void)configured;

  NC_CUDA_CHECK(cudaMemsetAsync(args.dq_count, 0, static_cast<size_t>(n_counts) * sizeof(int), stream));
  const int64_t rows = s.B * s.Tq * s.H;
  attention_delta_kernel<D><<<static_cast<unsigned>((rows + 7) / 8), 256, 0, stream>>>(args.delta, gy, y, rows,
                                                                                       s.Tq, s.H);
  NC_CUDA_CHECK_LAUNCH();
  // Key tiles along x (the fastest-varying block index): a key tile's gQ additions wait only on
  // other key tiles of the same (kv head, batch row) that have lower block indices (the mma.sync
  // kernel: earlier key tiles at lower x; the wgmma one: later key tiles, mapped to lower x), i.e. on
  // blocks of lower linear index.
  const unsigned tiles = static_cast<unsigned>((s.Tq + kKeyTile - 1) / kKeyTile);
  kernel<<<dim3(tiles, static_cast<unsigned>(s.Hk), static_cast<unsigned>(s.B)), kThreads, smem, stream>>>(args);
  NC_CUDA_CHECK_LAUNCH();
}

}  // namespace

void attention_backward(bf16* gq, bf16* gk, bf16* gv, const bf16* gy, const bf16* q, const bf16* k, const bf16* v,
                        const bf16* y, const float* lse, const cpu::AttentionShape& s, cudaStream_t stream) {
  attention_backward_key_tile(gq, gk, gv, gy, q, k, v, y, lse, s, default_key_tile(s), stream);
}

void attention_backward_key_tile(bf16* gq, bf16* gk, bf16* gv, const bf16* gy, const bf16* q, const bf16* k,
                                 const bf16* v, const bf16* y, const float* lse, const cpu::AttentionShape& s,
                                 int key_tile, cudaStream_t stream) {
  check_attention_shape(s, "attention_backward");
  ::nanochat::cuda::require(key_tile == 64 || key_tile == 128, "attention_backward", "key tile must be 64 or 128");
  ::nanochat::cuda::require(s.pos0 == 0 && s.Tq == s.Tk && s.kv_stride == s.Tk, "attention_backward",
                            "training shapes only (pos0 = 0, Tq = Tk = kv_stride)");
  ::nanochat::cuda::require(lse != nullptr, "attention_backward", "lse from the forward is required");
  // Scratch: delta (B*H*T), the gQ counters (B*H*n_qtiles ints) and the fp32 gQ tiles, each part
  // 256-byte aligned.
  auto round_up = [](int64_t n) { return (n + 63) / 64 * 64; };
  const int64_t n_qtiles = (s.Tq + kQueryTile - 1) / kQueryTile;
  const int64_t n_delta = round_up(s.B * s.H * s.Tq), n_counts = round_up(s.B * s.H * n_qtiles);
  const int64_t n_acc = s.B * s.H * n_qtiles * kQueryTile * s.d;
  detail::StreamScratch scratch(static_cast<size_t>(n_delta + n_counts + n_acc) * sizeof(float), stream);
  const float scale = 1.0f / std::sqrt(static_cast<float>(s.d));
  const BackwardArgs args{gq,
                          gk,
                          gv,
                          gy,
                          q,
                          k,
                          v,
                          lse,
                          scratch.floats(),
                          scratch.floats(static_cast<size_t>(n_delta + n_counts)),
                          reinterpret_cast<int*>(scratch.floats(static_cast<size_t>(n_delta))),
                          s.Tq,
                          s.H,
                          s.Hk,
                          s.window,
                          scale,
                          scale * kLog2e};
  if (key_tile == 64) {
    if (s.d == 64) launch_backward<64, 64>(args, gy, y, s, n_counts, stream);
    else launch_backward<128, 64>(args, gy, y, s, n_counts, stream);
  } else {
    if (s.d == 64) launch_backward<64, 128>(args, gy, y, s, n_counts, stream);
    else launch_backward<128, 128>(args, gy, y, s, n_counts, stream);
  }
}

}  // namespace nanochat::kernels::cuda
