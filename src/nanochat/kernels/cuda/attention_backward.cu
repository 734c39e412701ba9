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
// operands of the second products, as in flash attention.
#include <cmath>

#include "nanochat/kernels/cuda/attention.h"
#include "nanochat/kernels/cuda/attention_tile.cuh"
#include "nanochat/kernels/cuda/check.h"
#include "nanochat/kernels/cuda/reduce.h"

namespace nanochat::kernels::cuda {

namespace {

using namespace attention_detail;

constexpr int kQueryTile = 64;  // queries per step
// Keys per block. 128-key blocks (8 warps, one per SM) halve the fp32 gQ read-modify-write traffic
// per product and the length of the chains of ordered additions, which pays off for long windows;
// short windows have short chains anyway and prefer two 64-key blocks per SM. Measured on an H100,
// B=32 T=2048 H=10 d=128, backward ms (key tile 64 / 128; the former 3-kernel version with gQ
// recomputation): full causal 5.69 / 5.00 (5.10); window 1024 3.91 / 3.86 (3.99); window 512
// 2.44 / 2.67 (2.77).
int default_key_tile(const cpu::AttentionShape& s) { return s.window <= 512 ? 64 : 128; }

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
      const uint32_t pa[4] = {pack_bf16(st[2 * kk][0], st[2 * kk][1]), pack_bf16(st[2 * kk][2], st[2 * kk][3]),
                              pack_bf16(st[2 * kk + 1][0], st[2 * kk + 1][1]),
                              pack_bf16(st[2 * kk + 1][2], st[2 * kk + 1][3])};
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
      const uint32_t da[4] = {pack_bf16(dpt[2 * kk][0], dpt[2 * kk][1]), pack_bf16(dpt[2 * kk][2], dpt[2 * kk][3]),
                              pack_bf16(dpt[2 * kk + 1][0], dpt[2 * kk + 1][1]),
                              pack_bf16(dpt[2 * kk + 1][2], dpt[2 * kk + 1][3])};
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

template <int D, int kKeyTile>
void launch_backward(const BackwardArgs& args, const bf16* gy, const bf16* y, const cpu::AttentionShape& s,
                     int64_t n_counts, cudaStream_t stream) {
  constexpr int kThreads = kKeyTile * 2;
  constexpr size_t kSmem = static_cast<size_t>(2 * kKeyTile + 4 * kQueryTile) * D * sizeof(bf16) +
                           4 * kQueryTile * sizeof(float) + static_cast<size_t>(kKeyTile * kQueryTile) * sizeof(bf16);
  static const bool configured = [] {
    NC_CUDA_CHECK(cudaFuncSetAttribute(attention_backward_kernel<D, kKeyTile>,
                                       cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(kSmem)));
    return true;
  }();
  (void)configured;

  NC_CUDA_CHECK(cudaMemsetAsync(args.dq_count, 0, static_cast<size_t>(n_counts) * sizeof(int), stream));
  const int64_t rows = s.B * s.Tq * s.H;
  attention_delta_kernel<D><<<static_cast<unsigned>((rows + 7) / 8), 256, 0, stream>>>(args.delta, gy, y, rows,
                                                                                       s.Tq, s.H);
  NC_CUDA_CHECK_LAUNCH();
  // Key tiles along x (the fastest-varying block index): a key tile's gQ additions wait only on
  // lower key tiles of the same (kv head, batch row), i.e. on blocks of lower linear index.
  const unsigned tiles = static_cast<unsigned>((s.Tq + kKeyTile - 1) / kKeyTile);
  attention_backward_kernel<D, kKeyTile><<<dim3(tiles, static_cast<unsigned>(s.Hk), static_cast<unsigned>(s.B)),
                                           kThreads, kSmem, stream>>>(args);
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
