// Flash attention backward (see attention.h), deterministic by construction: three kernels, each
// gradient element owned by one thread that sums its terms in a fixed order.
//  1. delta[b,h,i] = sum_c gy*y (fp32), the softmax correction of every query row.
//  2. gK, gV: one block per (key tile of 64, kv head, batch row); each warp owns 16 keys and keeps
//     their gK/gV rows in registers while it walks every query head of the group and every query
//     tile that can see the keys, recomputing P^T = exp(scale K Q^T - lse) from the forward's lse.
//     Query tiles (Q, gY, lse, delta) are double-buffered through shared memory with cp.async.
//  3. gQ: one block per (query tile of 64, head, batch row), walking the visible key tiles and
//     recomputing P and dP = gY V^T (two extra products compared with atomics-based flash
//     attention, the price of needing no float atomics).
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

constexpr int kThreads = 128;  // 4 warps of 16 rows each
constexpr int kKeyTile = 64;   // keys per gK/gV block and per gQ step
constexpr int kQueryTile = 64;

struct BackwardArgs {
  bf16 *gq, *gk, *gv;
  const bf16 *gy, *q, *k, *v;
  const float *lse, *delta;
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

template <int D, int kBlockM>
__global__ void __launch_bounds__(kThreads) attention_dkdv_kernel(BackwardArgs a) {
  constexpr int kMt = kBlockM / 8;  // query n tiles of S^T per warp
  constexpr int kDt = D / 8;
  extern __shared__ __align__(128) unsigned char smem_raw[];
  bf16* sK = reinterpret_cast<bf16*>(smem_raw);
  bf16* sV = sK + kKeyTile * D;
  bf16* sQ = sV + kKeyTile * D;        // [2][kBlockM * D]
  bf16* sdO = sQ + 2 * kBlockM * D;    // [2][kBlockM * D]
  float* sLse = reinterpret_cast<float*>(sdO + 2 * kBlockM * D);  // [2][kBlockM], base 2
  float* sDelta = sLse + 2 * kBlockM;                                // [2][kBlockM]

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t kvh = blockIdx.y, b = blockIdx.z;
  const int64_t n0 = static_cast<int64_t>(blockIdx.x) * kKeyTile;
  const int nk = static_cast<int>(min64(kKeyTile, a.T - n0));
  const int64_t group = a.H / a.Hk;
  const int64_t q_row = a.H * D, kv_row = a.Hk * D;
  // Queries that see any of these keys: [n0, n0 + nk - 1 + window].
  const int64_t qt_lo = n0 / kBlockM, qt_hi = min64(a.T - 1, n0 + nk - 1 + a.window) / kBlockM;
  const int64_t nqt = qt_hi - qt_lo + 1, iters = group * nqt;

  const int64_t kv_off = ((b * a.T + n0) * a.Hk + kvh) * D;
  load_tile<D, kThreads>(sK, a.k + kv_off, kv_row, kKeyTile, nk);
  load_tile<D, kThreads>(sV, a.v + kv_off, kv_row, kKeyTile, nk);
  auto load_queries = [&](int64_t it, int buf) {
    const int64_t h = kvh * group + it / nqt, i0 = (qt_lo + it % nqt) * kBlockM;
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
    const int64_t i0 = (qt_lo + it % nqt) * kBlockM;

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

    // gK += dS^T Q (the 1/sqrt(d) is applied once at the end).
#pragma unroll
    for (int kk = 0; kk < kBlockM / 16; ++kk) {
      const uint32_t da[4] = {pack_bf16(dpt[2 * kk][0], dpt[2 * kk][1]), pack_bf16(dpt[2 * kk][2], dpt[2 * kk][3]),
                              pack_bf16(dpt[2 * kk + 1][0], dpt[2 * kk + 1][1]),
                              pack_bf16(dpt[2 * kk + 1][2], dpt[2 * kk + 1][3])};
#pragma unroll
      for (int np = 0; np < kDt / 2; ++np) {
        uint32_t bq[4];
        ldmatrix_x4_trans(bq, bt_frag_addr<D>(sQb, kk * 16, np, lane));
        mma_bf16(dk[2 * np], da, bq[0], bq[1]);
        mma_bf16(dk[2 * np + 1], da, bq[2], bq[3]);
      }
    }
    __syncthreads();  // the next iteration's prefetch overwrites this buffer
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

template <int D>
__global__ void __launch_bounds__(kThreads) attention_dq_kernel(BackwardArgs a) {
  constexpr int kNt = kKeyTile / 8;
  constexpr int kDt = D / 8;
  extern __shared__ __align__(128) unsigned char smem_raw[];
  bf16* sQ = reinterpret_cast<bf16*>(smem_raw);
  bf16* sdO = sQ + kQueryTile * D;
  bf16* sK = sdO + kQueryTile * D;  // [2][kKeyTile * D]
  bf16* sV = sK + 2 * kKeyTile * D;  // [2][kKeyTile * D]

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t m_block = gridDim.x - 1 - blockIdx.x;  // heaviest (latest) query tiles first
  const int64_t h = blockIdx.y, b = blockIdx.z, kvh = h / (a.H / a.Hk);
  const int64_t i0 = m_block * kQueryTile;
  const int nq = static_cast<int>(min64(kQueryTile, a.T - i0));
  const int64_t q_row = a.H * D, kv_row = a.Hk * D;
  const int64_t q_off = ((b * a.T + i0) * a.H + h) * D;
  load_tile<D, kThreads>(sQ, a.q + q_off, q_row, kQueryTile, nq);
  load_tile<D, kThreads>(sdO, a.gy + q_off, q_row, kQueryTile, nq);

  const int64_t key_lo = max64(0, i0 - a.window), key_hi = min64(i0 + nq - 1, a.T - 1);
  const int64_t tile_lo = key_lo / kKeyTile, tile_hi = key_hi / kKeyTile;
  const bf16* k_base = a.k + (b * a.T * a.Hk + kvh) * D;
  const bf16* v_base = a.v + (b * a.T * a.Hk + kvh) * D;
  auto load_kv = [&](int64_t tile, int buf) {
    const int64_t n0 = tile * kKeyTile;
    const int valid = static_cast<int>(min64(kKeyTile, a.T - n0));
    load_tile<D, kThreads>(sK + buf * kKeyTile * D, k_base + n0 * kv_row, kv_row, kKeyTile, valid);
    load_tile<D, kThreads>(sV + buf * kKeyTile * D, v_base + n0 * kv_row, kv_row, kKeyTile, valid);
  };
  load_kv(tile_hi, 0);
  cp_async_commit();

  const int row_a = warp * 16 + (lane >> 2);
  float lse2[2], delta[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int row = row_a + 8 * r;
    const int64_t idx = (b * a.H + h) * a.T + i0 + row;
    lse2[r] = row < nq ? a.lse[idx] * kLog2e : INFINITY;
    delta[r] = row < nq ? a.delta[idx] : 0.0f;
  }
  float dq[kDt][4];
#pragma unroll
  for (int t = 0; t < kDt; ++t) dq[t][0] = dq[t][1] = dq[t][2] = dq[t][3] = 0.0f;

  int buf = 0;
  for (int64_t tile = tile_hi; tile >= tile_lo; --tile, buf ^= 1) {
    if (tile > tile_lo) {
      load_kv(tile - 1, buf ^ 1);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    const bf16* sKb = sK + buf * kKeyTile * D;
    const bf16* sVb = sV + buf * kKeyTile * D;
    const int64_t n0 = tile * kKeyTile;

    float s[kNt][4], dp[kNt][4];
#pragma unroll
    for (int t = 0; t < kNt; ++t)
#pragma unroll
      for (int e = 0; e < 4; ++e) s[t][e] = dp[t][e] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      uint32_t qa[4], oa[4];
      ldmatrix_x4(qa, a_frag_addr<D>(sQ, warp * 16, kk, lane));
      ldmatrix_x4(oa, a_frag_addr<D>(sdO, warp * 16, kk, lane));
#pragma unroll
      for (int np = 0; np < kNt / 2; ++np) {
        uint32_t bk[4], bv[4];
        ldmatrix_x4(bk, b_frag_addr<D>(sKb, np * 16, kk, lane));
        ldmatrix_x4(bv, b_frag_addr<D>(sVb, np * 16, kk, lane));
        mma_bf16(s[2 * np], qa, bk[0], bk[1]);
        mma_bf16(s[2 * np + 1], qa, bk[2], bk[3]);
        mma_bf16(dp[2 * np], oa, bv[0], bv[1]);
        mma_bf16(dp[2 * np + 1], oa, bv[2], bv[3]);
      }
    }
    const bool full = n0 + kKeyTile - 1 <= i0 && n0 >= i0 + kQueryTile - 1 - a.window && n0 + kKeyTile <= a.T;
#pragma unroll
    for (int t = 0; t < kNt; ++t)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int r = e >> 1;
        float p = fast_exp2(s[t][e] * a.scale_log2 - lse2[r]);
        if (!full && !visible(i0 + row_a + 8 * r, n0 + t * 8 + 2 * (lane & 3) + (e & 1), a.window, a.T)) p = 0.0f;
        dp[t][e] = p * (dp[t][e] - delta[r]);
      }

    // gQ += dS K.
#pragma unroll
    for (int kk = 0; kk < kKeyTile / 16; ++kk) {
      const uint32_t da[4] = {pack_bf16(dp[2 * kk][0], dp[2 * kk][1]), pack_bf16(dp[2 * kk][2], dp[2 * kk][3]),
                              pack_bf16(dp[2 * kk + 1][0], dp[2 * kk + 1][1]),
                              pack_bf16(dp[2 * kk + 1][2], dp[2 * kk + 1][3])};
#pragma unroll
      for (int np = 0; np < kDt / 2; ++np) {
        uint32_t bk[4];
        ldmatrix_x4_trans(bk, bt_frag_addr<D>(sKb, kk * 16, np, lane));
        mma_bf16(dq[2 * np], da, bk[0], bk[1]);
        mma_bf16(dq[2 * np + 1], da, bk[2], bk[3]);
      }
    }
    __syncthreads();  // the next iteration's prefetch overwrites this buffer
  }

#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int row = row_a + 8 * r;
    if (row >= nq) continue;
    bf16* out = a.gq + ((b * a.T + i0 + row) * a.H + h) * D + 2 * (lane & 3);
#pragma unroll
    for (int t = 0; t < kDt; ++t)
      *reinterpret_cast<__nv_bfloat162*>(out + t * 8) = __floats2bfloat162_rn(dq[t][2 * r] * a.scale, dq[t][2 * r + 1] * a.scale);
  }
}

template <class Kernel>
void allow_smem(Kernel kernel, size_t bytes) {
  NC_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)));
}

template <int D>
void launch_backward(const BackwardArgs& args, const bf16* gy, const bf16* y, float* delta,
                     const cpu::AttentionShape& s, cudaStream_t stream) {
  constexpr int kDkdvM = 64;
  constexpr size_t kDkdvSmem =
      static_cast<size_t>(2 * kKeyTile + 4 * kDkdvM) * D * sizeof(bf16) + 4 * kDkdvM * sizeof(float);
  constexpr size_t kDqSmem = static_cast<size_t>(2 * kQueryTile + 4 * kKeyTile) * D * sizeof(bf16);
  static const bool configured = [] {
    allow_smem(attention_dkdv_kernel<D, kDkdvM>, kDkdvSmem);
    allow_smem(attention_dq_kernel<D>, kDqSmem);
    return true;
  }();
  (void)configured;

  const int64_t rows = s.B * s.Tq * s.H;
  attention_delta_kernel<D><<<static_cast<unsigned>((rows + 7) / 8), 256, 0, stream>>>(delta, gy, y, rows, s.Tq, s.H);
  NC_CUDA_CHECK_LAUNCH();
  const unsigned tiles = static_cast<unsigned>((s.Tq + kKeyTile - 1) / kKeyTile);
  attention_dkdv_kernel<D, kDkdvM><<<dim3(tiles, static_cast<unsigned>(s.Hk), static_cast<unsigned>(s.B)), kThreads,
                                     kDkdvSmem, stream>>>(args);
  NC_CUDA_CHECK_LAUNCH();
  const unsigned qtiles = static_cast<unsigned>((s.Tq + kQueryTile - 1) / kQueryTile);
  attention_dq_kernel<D><<<dim3(qtiles, static_cast<unsigned>(s.H), static_cast<unsigned>(s.B)), kThreads, kDqSmem,
                           stream>>>(args);
  NC_CUDA_CHECK_LAUNCH();
}

}  // namespace

void attention_backward(bf16* gq, bf16* gk, bf16* gv, const bf16* gy, const bf16* q, const bf16* k, const bf16* v,
                        const bf16* y, const float* lse, const cpu::AttentionShape& s, cudaStream_t stream) {
  check_attention_shape(s, "attention_backward");
  ::nanochat::cuda::require(s.pos0 == 0 && s.Tq == s.Tk && s.kv_stride == s.Tk, "attention_backward",
                            "training shapes only (pos0 = 0, Tq = Tk = kv_stride)");
  ::nanochat::cuda::require(lse != nullptr, "attention_backward", "lse from the forward is required");
  detail::StreamScratch scratch(static_cast<size_t>(s.B * s.H * s.Tq) * sizeof(float), stream);
  const float scale = 1.0f / std::sqrt(static_cast<float>(s.d));
  const BackwardArgs args{gq, gk, gv, gy, q, k, v, lse, scratch.floats(), s.Tq, s.H, s.Hk, s.window,
                          scale, scale * kLog2e};
  if (s.d == 64) launch_backward<64>(args, gy, y, scratch.floats(), s, stream);
  else launch_backward<128>(args, gy, y, scratch.floats(), s, stream);
}

}  // namespace nanochat::kernels::cuda
