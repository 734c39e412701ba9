// Flash attention forward (see attention.h), laid out as in FlashAttention-2. One block of kWarps
// warps per (query tile of 16*kMt*kWarps rows, head, batch row); each warp owns 16*kMt query rows and
// keeps their output accumulators and running max/sum in registers (online softmax in base 2, the
// 1/sqrt(d) scale folded into the exponent). Two m16 row tiles per warp let every K/V fragment read
// from shared memory feed two MMAs. Key/value tiles of kBlockN positions are double-buffered: the
// copy of tile j+1 is issued right after the one barrier of step j and lands while step j computes.
// Only key tiles that intersect some row's window [pos - window, pos] are visited, a warp skips the
// tiles none of its rows can see, and only tiles cut by the window edges or by Tk pay for
// per-element masking. head_dim 128 runs a Hopper version of the same algorithm on warpgroup MMAs
// (attention_forward_ws_kernel below: a producer warpgroup and two pingponging consumer warpgroups;
// attention_forward_wgmma_kernel is the earlier two-warpgroup form, kept for A/B timing) unless
// NANOCHAT_ATTENTION_FORWARD_MMA_SYNC=1; head_dim 64 keeps the mma.sync kernel.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>

#include "nanochat/kernels/cuda/attention.h"
#include "nanochat/kernels/cuda/attention_tile.cuh"
#include "nanochat/kernels/cuda/check.h"
#include "nanochat/kernels/cuda/hopper_sync.cuh"
#include "nanochat/kernels/cuda/reduce.h"
#include "nanochat/kernels/cuda/wgmma.cuh"

namespace nanochat::kernels::cuda {

namespace attention_detail {

void check_attention_shape(const cpu::AttentionShape& s, const char* op) {
  if (s.d != 64 && s.d != 128)
    ::nanochat::cuda::require(false, op, ("head_dim " + std::to_string(s.d) + " is not supported (64 or 128)").c_str());
  ::nanochat::cuda::require(s.B > 0 && s.Tq > 0 && s.Tk > 0, op, "B, Tq and Tk must be positive");
  ::nanochat::cuda::require(s.H > 0 && s.Hk > 0 && s.H % s.Hk == 0, op,
                            ("H " + std::to_string(s.H) + " is not a multiple of Hk " + std::to_string(s.Hk)).c_str());
  ::nanochat::cuda::require(s.H <= 65535 && s.B <= 65535, op, "H and B must be at most 65535");
  ::nanochat::cuda::require(s.kv_stride >= s.Tk, op, "kv_stride must be at least Tk");
  ::nanochat::cuda::require(s.pos0 >= 0 && s.pos0 + s.Tq == s.Tk, op, "queries must be the last Tq of the Tk keys");
  ::nanochat::cuda::require(s.window >= 0, op, "window must be non-negative");
  ::nanochat::cuda::require(s.kv_stride < (int64_t{1} << 30), op, "positions must stay below 2^30");
}

}  // namespace attention_detail

namespace {

using namespace attention_detail;

constexpr int kBlockN = 64;

struct ForwardArgs {
  bf16* y;
  float* lse;
  const bf16 *q, *k, *v;
  int64_t Tq, H, Hk, Tk, kv_stride, pos0, window;
  float scale_log2;  // log2(e)/sqrt(d): scores go straight to the base-2 exponent
};

// Two blocks per SM (shared memory allows no more at d = 128): 4-warp blocks may use 255 registers
// per thread, 8-warp blocks 128.
constexpr int kMinBlocks = 2;

template <int D, int kWarps, int kMt>
__global__ void __launch_bounds__(kWarps * 32, kMinBlocks) attention_forward_kernel(ForwardArgs a) {
  constexpr int kThreads = kWarps * 32, kWarpRows = 16 * kMt, kBlockM = kWarpRows * kWarps;
  constexpr int kNt = kBlockN / 8;  // score n tiles per row tile
  constexpr int kDt = D / 8;        // output n tiles per row tile
  constexpr int kKt = D / 16;       // k chunks of Q K^T
  // With one row tile per warp the Q fragments stay in registers; with two they would not fit next
  // to the accumulators, so they are re-read from shared memory (cheap: one ldmatrix per 8 MMAs).
  constexpr bool kQInRegs = kMt == 1 && kMinBlocks * kWarps <= 8;
  extern __shared__ __align__(128) unsigned char smem_raw[];
  bf16* sQ = reinterpret_cast<bf16*>(smem_raw);
  bf16* sK = sQ + kBlockM * D;       // [2][kBlockN * D]
  bf16* sV = sK + 2 * kBlockN * D;   // [2][kBlockN * D]

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  // Later query tiles see more keys: launch them first so the tail of the grid is short.
  const int64_t m_block = gridDim.x - 1 - blockIdx.x;
  const int64_t h = blockIdx.y, b = blockIdx.z;
  const int64_t kvh = h / (a.H / a.Hk);
  const int64_t i0 = m_block * kBlockM;
  const int nq = static_cast<int>(min64(kBlockM, a.Tq - i0));
  const int64_t q_stride = a.H * D, kv_row = a.Hk * D;
  const bf16* q_base = a.q + ((b * a.Tq + i0) * a.H + h) * D;
  const bf16* k_base = a.k + (b * a.kv_stride * a.Hk + kvh) * D;
  const bf16* v_base = a.v + (b * a.kv_stride * a.Hk + kvh) * D;

  // Positions fit in 32 bits (check_attention_shape); 64-bit values only form addresses.
  const int Tk = static_cast<int>(a.Tk), win = static_cast<int>(min64(a.window, a.Tk));
  const int p_first = static_cast<int>(a.pos0 + i0), p_last = p_first + nq - 1;
  const int key_lo = max(0, p_first - win), key_hi = min(p_last, Tk - 1);
  const int tile_lo = key_lo / kBlockN, tile_hi = key_hi / kBlockN;

  auto load_kv = [&](int tile, int buf) {
    const int n0 = tile * kBlockN;
    const int valid = min(kBlockN, Tk - n0);
    load_tile<D, kThreads>(sK + buf * kBlockN * D, k_base + n0 * kv_row, kv_row, kBlockN, valid);
    load_tile<D, kThreads>(sV + buf * kBlockN * D, v_base + n0 * kv_row, kv_row, kBlockN, valid);
  };
  load_tile<D, kThreads>(sQ, q_base, q_stride, kBlockM, nq);
  cp_async_commit();
  load_kv(tile_hi, 0);
  cp_async_commit();

  // This warp's rows: row tile mt holds rows row_w + 16*mt + lane/4 (+8); rows past nq are padding
  // (zero queries, never written).
  const int row_w = warp * kWarpRows;
  const int pw_first = p_first + row_w, pw_last = min(p_first + row_w + kWarpRows - 1, p_last);
  const bool warp_has_rows = row_w < nq;

  uint32_t qf[kQInRegs ? kKt : 1][4];
  if constexpr (kQInRegs) {
    cp_async_wait<1>();
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kKt; ++kk) ldmatrix_x4(qf[kk], a_frag_addr<D>(sQ, row_w, kk, lane));
  }

  float o[kMt][kDt][4];
#pragma unroll
  for (int mt = 0; mt < kMt; ++mt)
#pragma unroll
    for (int t = 0; t < kDt; ++t) o[mt][t][0] = o[mt][t][1] = o[mt][t][2] = o[mt][t][3] = 0.0f;
  float m[kMt][2], l[kMt][2];
#pragma unroll
  for (int mt = 0; mt < kMt; ++mt) m[mt][0] = m[mt][1] = -INFINITY, l[mt][0] = l[mt][1] = 0.0f;

  int buf = 0;
  for (int tile = tile_hi; tile >= tile_lo; --tile, buf ^= 1) {
    const int n0 = tile * kBlockN;
    cp_async_wait<0>();
    __syncthreads();  // K/V[tile] landed for all threads; every warp is done with the other buffer
    if (tile > tile_lo) {
      load_kv(tile - 1, buf ^ 1);
      cp_async_commit();
    }
    // A warp none of whose rows sees any key of this tile skips it (causal diagonal, window edge).
    if (!warp_has_rows || n0 > pw_last || n0 + kBlockN - 1 < pw_first - win) continue;
    const bf16* sKb = sK + buf * kBlockN * D;
    const bf16* sVb = sV + buf * kBlockN * D;

    float s[kMt][kNt][4];
#pragma unroll
    for (int mt = 0; mt < kMt; ++mt)
#pragma unroll
      for (int t = 0; t < kNt; ++t) s[mt][t][0] = s[mt][t][1] = s[mt][t][2] = s[mt][t][3] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < kKt; ++kk) {
      uint32_t qa[kMt][4];
#pragma unroll
      for (int mt = 0; mt < kMt; ++mt) {
        if constexpr (kQInRegs) {
#pragma unroll
          for (int e = 0; e < 4; ++e) qa[mt][e] = qf[kk][e];
        } else {
          ldmatrix_x4(qa[mt], a_frag_addr<D>(sQ, row_w + 16 * mt, kk, lane));
        }
      }
#pragma unroll
      for (int np = 0; np < kNt / 2; ++np) {
        uint32_t bk[4];
        ldmatrix_x4(bk, b_frag_addr<D>(sKb, np * 16, kk, lane));
#pragma unroll
        for (int mt = 0; mt < kMt; ++mt) {
          mma_bf16(s[mt][2 * np], qa[mt], bk[0], bk[1]);
          mma_bf16(s[mt][2 * np + 1], qa[mt], bk[2], bk[3]);
        }
      }
    }

    // Tiles entirely inside every row's window need no mask (most of a long causal attention).
    const bool full = n0 + kBlockN - 1 <= pw_first && n0 >= pw_last - win && n0 + kBlockN <= Tk;
    if (!full) {
      const int rel0 = pw_first - n0 + (lane >> 2);  // positions relative to the tile's first key
      const int key_end = min(Tk - n0, kBlockN);
#pragma unroll
      for (int mt = 0; mt < kMt; ++mt)
#pragma unroll
        for (int t = 0; t < kNt; ++t)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int pos = rel0 + 16 * mt + 8 * (e >> 1);
            const int key = t * 8 + 2 * (lane & 3) + (e & 1);
            if (key > pos || key < pos - win || key >= key_end) s[mt][t][e] = -INFINITY;
          }
    }

    // Online softmax, two rows per row tile and thread; the 4 threads of a quad share a row.
#pragma unroll
    for (int mt = 0; mt < kMt; ++mt) {
      float scale_prev[2], base[2];
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        float mx = m[mt][r];
#pragma unroll
        for (int t = 0; t < kNt; ++t) mx = fmaxf(mx, fmaxf(s[mt][t][2 * r], s[mt][t][2 * r + 1]));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        // A row that has seen no visible key yet keeps m = -inf; base 0 keeps exp2 away from NaN.
        base[r] = mx == -INFINITY ? 0.0f : mx * a.scale_log2;
        scale_prev[r] = fast_exp2(m[mt][r] * a.scale_log2 - base[r]);
        m[mt][r] = mx;
        l[mt][r] *= scale_prev[r];
      }
#pragma unroll
      for (int t = 0; t < kDt; ++t) {
        o[mt][t][0] *= scale_prev[0];
        o[mt][t][1] *= scale_prev[0];
        o[mt][t][2] *= scale_prev[1];
        o[mt][t][3] *= scale_prev[1];
      }
#pragma unroll
      for (int t = 0; t < kNt; ++t)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const float p = fast_exp2(fmaf(s[mt][t][e], a.scale_log2, -base[e >> 1]));
          s[mt][t][e] = p;
          l[mt][e >> 1] += p;
        }
    }

    // O += P V: P goes from the score accumulators straight into A fragments.
#pragma unroll
    for (int kk = 0; kk < kBlockN / 16; ++kk) {
      uint32_t pa[kMt][4];
#pragma unroll
      for (int mt = 0; mt < kMt; ++mt) {
        pa[mt][0] = cvt_bf16x2(s[mt][2 * kk][0], s[mt][2 * kk][1]);
        pa[mt][1] = cvt_bf16x2(s[mt][2 * kk][2], s[mt][2 * kk][3]);
        pa[mt][2] = cvt_bf16x2(s[mt][2 * kk + 1][0], s[mt][2 * kk + 1][1]);
        pa[mt][3] = cvt_bf16x2(s[mt][2 * kk + 1][2], s[mt][2 * kk + 1][3]);
      }
#pragma unroll
      for (int np = 0; np < kDt / 2; ++np) {
        uint32_t bv[4];
        ldmatrix_x4_trans(bv, bt_frag_addr<D>(sVb, kk * 16, np, lane));
#pragma unroll
        for (int mt = 0; mt < kMt; ++mt) {
          mma_bf16(o[mt][2 * np], pa[mt], bv[0], bv[1]);
          mma_bf16(o[mt][2 * np + 1], pa[mt], bv[2], bv[3]);
        }
      }
    }
  }

#pragma unroll
  for (int mt = 0; mt < kMt; ++mt) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float sum = l[mt][r];
      sum += __shfl_xor_sync(0xffffffffu, sum, 1);
      sum += __shfl_xor_sync(0xffffffffu, sum, 2);
      const int row = row_w + 16 * mt + (lane >> 2) + 8 * r;
      if (row >= nq) continue;
      const float inv_l = 1.0f / sum;
      bf16* yr = a.y + ((b * a.Tq + i0 + row) * a.H + h) * D + 2 * (lane & 3);
#pragma unroll
      for (int t = 0; t < kDt; ++t)
        *reinterpret_cast<__nv_bfloat162*>(yr + t * 8) =
            __floats2bfloat162_rn(o[mt][t][2 * r] * inv_l, o[mt][t][2 * r + 1] * inv_l);
      if (a.lse != nullptr && (lane & 3) == 0)
        a.lse[(b * a.H + h) * a.Tq + i0 + row] = m[mt][r] * (a.scale_log2 * kLn2) + logf(sum);
    }
  }
}

template <int D, int kWarps, int kMt>
void launch_forward(const ForwardArgs& args, const cpu::AttentionShape& s, cudaStream_t stream) {
  constexpr int kBlockM = 16 * kMt * kWarps;
  constexpr size_t kSmem = static_cast<size_t>(kBlockM + 4 * kBlockN) * D * sizeof(bf16);
  static const bool configured = [] {
    NC_CUDA_CHECK(cudaFuncSetAttribute(attention_forward_kernel<D, kWarps, kMt>,
                                       cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(kSmem)));
    return true;
  }();
  (void)configured;
  const dim3 grid(static_cast<unsigned>((s.Tq + kBlockM - 1) / kBlockM), static_cast<unsigned>(s.H),
                  static_cast<unsigned>(s.B));
  attention_forward_kernel<D, kWarps, kMt><<<grid, kWarps * 32, kSmem, stream>>>(args);
  NC_CUDA_CHECK_LAUNCH();
}

// NANOCHAT_ATTENTION_FORWARD_MMA_SYNC=1 pins the mma.sync kernel for head_dim 128 too (A/B timing).
bool force_mma_sync() {
  static const bool forced = [] {
    const char* v = std::getenv("NANOCHAT_ATTENTION_FORWARD_MMA_SYNC");
    return v != nullptr && v[0] != '\0' && v[0] != '0';
  }();
  return forced;
}

// Copies `valid_rows` rows of 128 bf16 (row r at src + r * stride) into a tile of kRows rows in the
// 128-byte-swizzled slab layout of wgmma.cuh; rows past valid_rows become zeros.
template <int kRows, int kThreads>
__device__ __forceinline__ void load_slabs(bf16* tile, const bf16* src, int64_t stride, int valid_rows) {
  // Thread t always moves chunk t % 16 of rows t / 16 + i * kRowStep: the swizzle phase (row & 7) of
  // its rows never changes, so its shared offsets are one base plus multiples of kRowStep rows.
  constexpr int kRowStep = kThreads / 16;
  static_assert(kThreads % 16 == 0 && kRowStep % 8 == 0 && kRows % kRowStep == 0, "copy layout");
  const int c = static_cast<int>(threadIdx.x) & 15, r0 = static_cast<int>(threadIdx.x) >> 4;
  const uint32_t dst = smem_u32(tile + wgmma::sw128_chunk<kRows>(r0, c));
  const bf16* g = src + r0 * stride + c * 8;
#pragma unroll
  for (int i = 0; i < kRows / kRowStep; ++i) {
    const bool valid = r0 + i * kRowStep < valid_rows;
    cp_async16(dst + i * kRowStep * 128, valid ? g + i * kRowStep * stride : src, valid);
  }
}

// S = Q K^T for one warpgroup: A = its 64 query rows, B = the key tile, both K-major over D = 128
// (two 64-column slabs; K steps of 16 are +32 bytes inside a slab).
template <int kBlockN>
__device__ __forceinline__ void issue_scores(float (&s)[kBlockN / 8][4], uint32_t q_rows, uint32_t q_slab,
                                             uint32_t k_tile, uint32_t k_slab) {
  const uint64_t desc = wgmma::desc_sw128(0, 16, 1024);
#pragma unroll
  for (int ks = 0; ks < 8; ++ks) {
    const uint64_t da = desc + (((q_rows + (ks >> 2) * q_slab + (ks & 3) * 32) & 0x3FFFF) >> 4);
    const uint64_t db = desc + (((k_tile + (ks >> 2) * k_slab + (ks & 3) * 32) & 0x3FFFF) >> 4);
    if constexpr (kBlockN == 128) wgmma::mma_m64n128k16_ss<false, false>(s, da, db, ks > 0);
    else wgmma::mma_m64n64k16_ss<false, false>(s, da, db, ks > 0);
  }
}

// ---- The per-tile steps both Hopper kernels below share (their fragment layouts are the same) ----

// A work item's query rows: items are (query block of kBlockM rows, head, batch row), later query
// blocks first (they see more keys).
struct ItemRows {
  int64_t i0, h, b;
};
__device__ __forceinline__ ItemRows item_rows_of(int item, int n_m_blocks, int64_t heads, int block_m) {
  const int64_t hb = item / n_m_blocks;
  return ItemRows{static_cast<int64_t>(n_m_blocks - 1 - item % n_m_blocks) * block_m, hb % heads, hb / heads};
}

// The online softmax of one S tile (first key n0) for a thread's two rows (rel_row and rel_row + 8 of
// its warpgroup; the 4 threads of a quad share a row): masks keys outside [pos - win, pos] and past Tk
// (unless the tile lies inside every row's window, most of a long causal attention), updates the
// running max m and sum l, turns S into probabilities (fp32, in place) and sets the factor by which O
// must shrink. pw_first..pw_last: the warpgroup's query positions.
template <int kBlockN>
__device__ __forceinline__ void softmax_tile(float (&s)[kBlockN / 8][4], float (&m)[2], float (&l)[2],
                                             float (&scale_prev)[2], int n0, int pw_first, int pw_last, int win,
                                             int Tk, int rel_row, int lane, float scale_log2) {
  constexpr int kNt = kBlockN / 8;
  const bool full = n0 + kBlockN - 1 <= pw_first && n0 >= pw_last - win && n0 + kBlockN <= Tk;
  if (!full) {
    const int rel0 = pw_first - n0 + rel_row;  // positions relative to the tile's first key
    const int key_end = min(Tk - n0, kBlockN);
#pragma unroll
    for (int t = 0; t < kNt; ++t)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int pos = rel0 + 8 * (e >> 1);
        const int key = t * 8 + 2 * (lane & 3) + (e & 1);
        if (key > pos || key < pos - win || key >= key_end) s[t][e] = -INFINITY;
      }
  }
  float row_base[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float mx = m[r];
#pragma unroll
    for (int t = 0; t < kNt; ++t) mx = fmaxf(mx, fmaxf(s[t][2 * r], s[t][2 * r + 1]));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
    // A row that has seen no visible key yet keeps m = -inf; base 0 keeps exp2 away from NaN.
    row_base[r] = mx == -INFINITY ? 0.0f : mx * scale_log2;
    scale_prev[r] = fast_exp2(m[r] * scale_log2 - row_base[r]);
    m[r] = mx;
    l[r] *= scale_prev[r];
  }
#pragma unroll
  for (int t = 0; t < kNt; ++t)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const float pe = fast_exp2(fmaf(s[t][e], scale_log2, -row_base[e >> 1]));
      s[t][e] = pe;
      l[e >> 1] += pe;
    }
}

// The probabilities as bf16 A fragments of the P V product.
template <int kPk>
__device__ __forceinline__ void pack_probabilities(uint32_t (&p)[kPk][4], const float (&s)[2 * kPk][4]) {
#pragma unroll
  for (int kk = 0; kk < kPk; ++kk) {
    p[kk][0] = cvt_bf16x2(s[2 * kk][0], s[2 * kk][1]);
    p[kk][1] = cvt_bf16x2(s[2 * kk][2], s[2 * kk][3]);
    p[kk][2] = cvt_bf16x2(s[2 * kk + 1][0], s[2 * kk + 1][1]);
    p[kk][3] = cvt_bf16x2(s[2 * kk + 1][2], s[2 * kk + 1][3]);
  }
}

// O shrinks by the factor of the latest softmax step, per row.
template <int kDt>
__device__ __forceinline__ void rescale_output(float (&o)[kDt][4], const float (&scale_prev)[2]) {
#pragma unroll
  for (int t = 0; t < kDt; ++t) {
    o[t][0] *= scale_prev[0];
    o[t][1] *= scale_prev[0];
    o[t][2] *= scale_prev[1];
    o[t][3] *= scale_prev[1];
  }
}

// y = O / l for the thread's two rows (warpgroup row `row0` + rel_row, + 8; rows past nq are zero
// queries, never written), and lse (natural log) when requested.
template <int D>
__device__ __forceinline__ void store_rows(const ForwardArgs& a, const ItemRows& rows, const float (&o)[D / 8][4],
                                           const float (&m)[2], const float (&l)[2], int row0, int nq, int lane) {
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float sum = l[r];
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    sum += __shfl_xor_sync(0xffffffffu, sum, 2);
    const int row = row0 + 8 * r;
    if (row >= nq) continue;
    const float inv_l = 1.0f / sum;
    bf16* yr = a.y + ((rows.b * a.Tq + rows.i0 + row) * a.H + rows.h) * D + 2 * (lane & 3);
#pragma unroll
    for (int t = 0; t < D / 8; ++t)
      *reinterpret_cast<__nv_bfloat162*>(yr + t * 8) =
          __floats2bfloat162_rn(o[t][2 * r] * inv_l, o[t][2 * r + 1] * inv_l);
    if (a.lse != nullptr && (lane & 3) == 0)
      a.lse[(rows.b * a.H + rows.h) * a.Tq + rows.i0 + row] = m[r] * (a.scale_log2 * kLn2) + logf(sum);
  }
}

// Hopper version of the kernel above for head_dim 128 on warpgroup MMAs. Work items are (query block
// of 128 rows, head, batch row), later query blocks first; two warpgroups of 64 query rows each
// (wgmma m64) share key/value tiles of 128 keys. Per tile and warpgroup: S = Q K^T (A and B K-major
// from shared memory), the online softmax on the accumulator fragments (warp w of a warpgroup holds
// rows 16w.. exactly like an mma.sync warp, so the bookkeeping is the one above), then O += P V with
// P packed to bf16 A fragments in registers and V an MN-major B.
// Step `it` issues S of tile it and O += P V of tile it - 1 together: the exponentials of tile it run
// while the tensor cores still multiply the previous tile's values (O is rescaled once that product
// has landed). K/V tiles sit in a ring of kStages buffers; after step it's barrier every warpgroup is
// done with K[it - 1] and V[it - 2], so the step copies K[it + kStages - 1] and V[it + kStages - 2]
// into their buffers, kStages - 1 steps ahead of use.
// kPersistent: one block per SM walks the items (item blockIdx.x, + gridDim.x, ...), and the copies
// of the next item's Q and first key tiles are issued during the current item's last product, so that
// an item's start does not wait for memory with the tensor cores idle (measured slower; see
// wgmma_variant below).
template <int kStages, bool kPersistent>
__global__ void __launch_bounds__(256, 1)
    attention_forward_wgmma_kernel(ForwardArgs a, int n_m_blocks, int n_items) {
  namespace wg = wgmma;
  constexpr int D = 128, kThreads = 256, kBlockM = 128, kBlockN = 128;
  constexpr int kNt = kBlockN / 8, kDt = D / 8, kPk = kBlockN / 16;
  constexpr uint32_t kQSlab = kBlockM * 128, kKvSlab = kBlockN * 128;  // bytes of one 64-column slab
  static_assert(kStages == 2 || kStages == 3, "the copy schedule below is written for 2 or 3 stages");
  extern __shared__ unsigned char smem_raw[];
  // Dynamic shared memory is only guaranteed 16-byte aligned; the swizzle needs 1024.
  const uint32_t raw_addr = smem_u32(smem_raw);
  unsigned char* base = smem_raw + (((raw_addr + 1023u) & ~1023u) - raw_addr);
  bf16* sQ = reinterpret_cast<bf16*>(base);
  bf16* sK = sQ + kBlockM * D;            // [kStages][kBlockN * D]
  bf16* sV = sK + kStages * kBlockN * D;  // [kStages][kBlockN * D]

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, group_id = warp >> 2;
  const int rel_row = 16 * (warp & 3) + (lane >> 2);  // row of fragment elements 0, 1 within the group
  const uint32_t q_rows = smem_u32(sQ) + group_id * 64 * 128;
  const uint32_t k_addr = smem_u32(sK), v_addr = smem_u32(sV);
  const uint64_t desc_v = wg::desc_sw128(0, kKvSlab, 1024);  // V as MN-major B: N = D over two slabs
  const int64_t q_stride = a.H * D, kv_row = a.Hk * D;
  // Positions fit in 32 bits (check_attention_shape); 64-bit values only form addresses.
  const int Tk = static_cast<int>(a.Tk), win = static_cast<int>(min64(a.window, a.Tk));

  // An item's geometry, kept small (it is live across the whole tile loop); the head, batch row and
  // query offsets are recomputed from the item index where needed.
  struct Item {
    int64_t kv_off;  // element offset of the item's (batch row, kv head) in k and v
    int nq, p_first, tile_lo, tile_hi;
  };
  auto item_rows = [&](int item) { return item_rows_of(item, n_m_blocks, a.H, kBlockM); };
  auto item_at = [&](int item) {
    const ItemRows r = item_rows(item);
    Item w;
    w.kv_off = (r.b * a.kv_stride * a.Hk + r.h / (a.H / a.Hk)) * D;
    w.nq = static_cast<int>(min64(kBlockM, a.Tq - r.i0));
    w.p_first = static_cast<int>(a.pos0 + r.i0);
    w.tile_lo = max(0, w.p_first - win) / kBlockN;
    w.tile_hi = min(w.p_first + w.nq - 1, Tk - 1) / kBlockN;
    return w;
  };
  // Tile `it` of an item (visited last tile first) into ring buffer it % kStages; none past the end.
  auto load_tile_kv = [&](const Item& w, bf16* ring, const bf16* kv, int it) {
    const int tile = w.tile_hi - it;
    if (tile < w.tile_lo) return;
    load_slabs<kBlockN, kThreads>(ring + (it % kStages) * kBlockN * D,
                                  kv + w.kv_off + static_cast<int64_t>(tile) * kBlockN * kv_row,
                                  kv_row, min(kBlockN, Tk - tile * kBlockN));
  };
  // An item's first copies: Q and the key tiles that step 0 and, with 3 stages, step 1 read.
  auto load_item_start = [&](int item, const Item& w) {
    const ItemRows r = item_rows(item);
    load_slabs<kBlockM, kThreads>(sQ, a.q + ((r.b * a.Tq + r.i0) * a.H + r.h) * D, q_stride, w.nq);
    load_tile_kv(w, sK, a.k, 0);
    if constexpr (kStages == 3) load_tile_kv(w, sK, a.k, 1);
    cp_async_commit();
  };

  float o[kDt][4], s[kNt][4];
  uint32_t p[kPk][4];
  float m[2], l[2];

  int item = static_cast<int>(blockIdx.x);
  Item w = item_at(item);
  load_item_start(item, w);
  while (true) {
    const int n_tiles = w.tile_hi - w.tile_lo + 1;
    // This warpgroup's rows (positions pw_first..pw_last; rows past nq are zero queries, never written).
    const int pw_first = w.p_first + group_id * 64, pw_last = min(pw_first + 63, w.p_first + w.nq - 1);

    // Waits for this step's copies and makes them visible to the tensor cores (step 0: the item's
    // start; later steps: K[it] and V[it - 1], leaving the newest group in flight with 3 stages).
    auto sync_step = [&](bool first) {
      if (first || kStages == 2) cp_async_wait<0>();
      else cp_async_wait<1>();
      wg::fence_proxy_async();
      __syncthreads();
    };
    auto load_next = [&](int it) {
      if (kStages == 3 && it == 0) {
        // V[0] goes into a buffer only now free (the previous item's last product read it), and is
        // needed next step: a group of its own, so that step 1 can wait for it alone.
        load_tile_kv(w, sV, a.v, 0);
        cp_async_commit();
        load_tile_kv(w, sK, a.k, 2);
        load_tile_kv(w, sV, a.v, 1);
      } else {
        load_tile_kv(w, sK, a.k, it + kStages - 1);
        load_tile_kv(w, sV, a.v, it + kStages - 2);
      }
      cp_async_commit();
    };
    auto issue_pv = [&](int it) {  // O += P V[it]
      const uint32_t vt = v_addr + (it % kStages) * 2 * kKvSlab;
#pragma unroll
      for (int kk = 0; kk < kPk; ++kk)
        wg::mma_m64n128k16_rs<true>(o, p[kk], desc_v + (((vt + kk * 2048) & 0x3FFFF) >> 4), true);
      wg::commit();
    };
    auto issue_s = [&](int it) {
      issue_scores<kBlockN>(s, q_rows, kQSlab, k_addr + (it % kStages) * 2 * kKvSlab, kKvSlab);
      wg::commit();
    };
    auto softmax = [&](int it, float (&scale_prev)[2]) {
      softmax_tile<kBlockN>(s, m, l, scale_prev, (w.tile_hi - it) * kBlockN, pw_first, pw_last, win, Tk, rel_row,
                            lane, a.scale_log2);
    };
    auto pack_p = [&] { pack_probabilities(p, s); };
    // Once the previous tile's P V has landed: O shrinks by the factor of the latest softmax step,
    // and that step's probabilities become the next A operand.
    auto finish_step = [&](const float (&scale_prev)[2]) {
      wg::wait<0>();
      wg::fence_operand(o);
      rescale_output(o, scale_prev);
      pack_p();
    };

#pragma unroll
    for (int t = 0; t < kDt; ++t) o[t][0] = o[t][1] = o[t][2] = o[t][3] = 0.0f;
    m[0] = m[1] = -INFINITY;
    l[0] = l[1] = 0.0f;

    // First tile: S alone (O is still zero).
    float scale_prev[2];
    sync_step(true);
    wg::fence();
    issue_s(0);
    load_next(0);
    wg::wait<0>();
    wg::fence_operand(s);
    softmax(0, scale_prev);
    pack_p();
    // The wait for a step's P V opens the next loop iteration rather than closing its own: the loop
    // edge keeps ptxas from hoisting that wait above the exponentials (it does so within a basic
    // block), which would serialize them behind the product they are meant to overlap.
    for (int it = 1; it < n_tiles; ++it) {
      if (it > 1) finish_step(scale_prev);
      sync_step(false);
      wg::fence();
      issue_s(it);
      issue_pv(it - 1);
      load_next(it);
      wg::wait<1>();  // S landed; P V of the previous tile may still run
      wg::fence_operand(s);
      softmax(it, scale_prev);
      wg::fence_operand(s);
    }
    if (n_tiles > 1) finish_step(scale_prev);
    // Last step: P V of the last tile; every warpgroup is done with Q and all K buffers.
    sync_step(false);
    const int next = item + static_cast<int>(gridDim.x);
    if (kPersistent && next < n_items) load_item_start(next, item_at(next));
    wg::fence();
    issue_pv(n_tiles - 1);
    wg::wait<0>();
    wg::fence_operand(o);

    store_rows<D>(a, item_rows(item), o, m, l, group_id * 64 + rel_row, w.nq, lane);
    if (!kPersistent || next >= n_items) break;
    item = next;
    w = item_at(item);
  }
}

// ---- Warp-specialized kernels (the default: one block per item; VARIANT=wsp: persistent) ----
// mbarriers, named barriers and register reallocation for the kernel below (hopper_sync.cuh; smem_u32
// comes from attention_tile.cuh).
using hopper::cp_async_mbar_arrive;
using hopper::mbar_arrive;
using hopper::mbar_init;
using hopper::mbar_wait;
using hopper::named_arrive;
using hopper::named_sync;
using hopper::regs_alloc;
using hopper::regs_dealloc;

// load_slabs for the producer warpgroup, which has few registers: the same copies, issued from a
// pointer that steps through the rows instead of from addresses computed up front.
template <int kRows, int kThreads>
__device__ __forceinline__ void load_slabs_lean(bf16* tile, const bf16* src, int64_t stride, int valid_rows) {
  constexpr int kRowStep = kThreads / 16;
  static_assert(kThreads % 16 == 0 && kRowStep % 8 == 0 && kRows % kRowStep == 0, "copy layout");
  const int c = static_cast<int>(threadIdx.x) & 15, r0 = static_cast<int>(threadIdx.x) >> 4;
  uint32_t dst = smem_u32(tile + wgmma::sw128_chunk<kRows>(r0, c));
  const bf16* g = src + r0 * stride + c * 8;
  const int64_t step = kRowStep * stride;
#pragma unroll 4
  for (int r = r0; r < kRows; r += kRowStep) {
    const bool valid = r < valid_rows;
    cp_async16(dst, valid ? g : src, valid);
    dst += kRowStep * 128;
    g += step;
  }
}

// The same attention as attention_forward_wgmma_kernel (work items of 128 query rows, two consumer
// warpgroups of 64 rows, 128-key tiles, S of tile it issued with P V of tile it - 1), with the work
// split as in FlashAttention-3:
//  - warpgroup 0 is the producer: it alone copies Q and the K/V tiles (cp.async into the swizzled
//    slabs) into a ring of kStages K and kStages V buffers, each buffer with a "full" mbarrier that
//    the copies themselves complete (cp.async.mbarrier.arrive) and an "empty" one that the consumer
//    warps arrive on once their MMAs no longer read it. K[it] and V[it] have separate barriers: K is
//    free after S of its tile, V one step later, after P V. The producer keeps 40 registers and gives
//    the rest to the consumers (setmaxnreg), which issue no copies and never wait on each other
//    through __syncthreads.
//  - the consumer warpgroups take turns issuing their MMAs ("pingpong", two named barriers): a
//    warpgroup's issue waits until the other issued its own previous batch, so the tensor cores run
//    one warpgroup's products while the other computes its exponentials. kPingpong false: the consumers
//    issue whenever they are ready (measured slower, no longer dispatched; see wgmma_variant()).
//  - the producer hands the consumers their work items through a two-slot mailbox in shared memory
//    (published with the item's Q, on the Q "full" barrier; -1 ends the loop). One block per item
//    (item blockIdx.x, no mailbox round after it), or with kPersistent one block per SM taking items
//    from a global counter in order (longest first within a head, the heads of one batch row
//    together, as the hardware block scheduler would), so that the next item's Q and first K tile
//    load while the consumers finish the current one. The K/V ring and its phases run on across items.
constexpr int kWsThreads = 384;
constexpr int kWsProducerRegs = 40, kWsConsumerRegs = 232;
constexpr int kPingpongBarrier0 = 1;  // named barriers 1, 2 (0 is __syncthreads)
constexpr int kProducerBarrier = 3;   // the producer warpgroup reading the mailbox

template <int kStages, bool kPingpong, bool kPersistent>
__global__ void __launch_bounds__(kWsThreads, 1)
    attention_forward_ws_kernel(ForwardArgs a, int n_m_blocks, int n_items, int* next_item) {
  namespace wg = wgmma;
  constexpr int D = 128, kBlockM = 128, kBlockN = 128, kProducerThreads = 128;
  constexpr int kNt = kBlockN / 8, kDt = D / 8, kPk = kBlockN / 16;
  constexpr uint32_t kQSlab = kBlockM * 128, kKvSlab = kBlockN * 128;  // bytes of one 64-column slab
  constexpr uint32_t kConsumerWarps = 8;
  extern __shared__ unsigned char smem_raw[];
  // Dynamic shared memory is only guaranteed 16-byte aligned; the swizzle needs 1024.
  const uint32_t raw_addr = smem_u32(smem_raw);
  unsigned char* base = smem_raw + (((raw_addr + 1023u) & ~1023u) - raw_addr);
  bf16* sQ = reinterpret_cast<bf16*>(base);
  bf16* sK = sQ + kBlockM * D;            // [kStages][kBlockN * D]
  bf16* sV = sK + kStages * kBlockN * D;  // [kStages][kBlockN * D]
  // Barriers: Q full, Q empty, then per stage K full, V full, K empty, V empty; then the mailbox.
  uint64_t* bar_mem = reinterpret_cast<uint64_t*>(sV + kStages * kBlockN * D);
  volatile int* mailbox = reinterpret_cast<volatile int*>(bar_mem + 2 + 4 * kStages);
  const uint32_t bars = smem_u32(bar_mem);
  const uint32_t q_full = bars, q_empty = bars + 8u;
  auto k_full = [&](uint32_t st) { return bars + 8u * (2 + st); };
  auto v_full = [&](uint32_t st) { return bars + 8u * (2 + kStages + st); };
  auto k_empty = [&](uint32_t st) { return bars + 8u * (2 + 2 * kStages + st); };
  auto v_empty = [&](uint32_t st) { return bars + 8u * (2 + 3 * kStages + st); };
  if (threadIdx.x == 0) {
    mbar_init(q_full, kProducerThreads + 1);  // the copies, and the mailbox write
    mbar_init(q_empty, kConsumerWarps);
    for (int st = 0; st < kStages; ++st) {
      mbar_init(k_full(st), kProducerThreads);
      mbar_init(v_full(st), kProducerThreads);
      mbar_init(k_empty(st), kConsumerWarps);
      mbar_init(v_empty(st), kConsumerWarps);
    }
  }
  __syncthreads();

  const int64_t kv_row = a.Hk * D;
  const int Tk = static_cast<int>(a.Tk), win = static_cast<int>(min64(a.window, a.Tk));
  // An item's rows: later query blocks first (they see more keys). Recomputed where needed rather
  // than kept live through the tile loop.
  auto item_rows = [&](int item) { return item_rows_of(item, n_m_blocks, a.H, kBlockM); };
  struct Item {
    int nq, p_first, tile_hi, n_tiles;
  };
  auto item_at = [&](int item) {
    const ItemRows r = item_rows(item);
    Item w;
    w.nq = static_cast<int>(min64(kBlockM, a.Tq - r.i0));
    w.p_first = static_cast<int>(a.pos0 + r.i0);
    const int tile_lo = max(0, w.p_first - win) / kBlockN;
    w.tile_hi = min(w.p_first + w.nq - 1, Tk - 1) / kBlockN;
    w.n_tiles = w.tile_hi - tile_lo + 1;
    return w;
  };
  const int warpgroup = static_cast<int>(threadIdx.x) >> 7;

  if (warpgroup == 0) {
    regs_dealloc<kWsProducerRegs>();
    const bool leader = threadIdx.x == 0;
    int ticket = static_cast<int>(blockIdx.x);
    if (kPersistent && leader) ticket = atomicAdd(next_item, 1);
    uint32_t g = 0;  // tiles of earlier items: the ring position of this item's first tile
    for (uint32_t k = 0;; ++k) {
      mbar_wait(q_empty, (k & 1) ^ 1);  // the consumers are done with the previous item's Q
      if (leader) mailbox[k & 1] = ticket < n_items ? ticket : -1;
      named_sync(kProducerBarrier, kProducerThreads);
      const int item = mailbox[k & 1];
      if (leader) {
        mbar_arrive(q_full);  // publishes the mailbox slot
        ticket = kPersistent ? atomicAdd(next_item, 1) : n_items;
      }
      if (item < 0) {
        cp_async_mbar_arrive(q_full);
        break;
      }
      const Item w = item_at(item);
      const ItemRows r = item_rows(item);
      const int64_t kv_off = (r.b * a.kv_stride * a.Hk + r.h / (a.H / a.Hk)) * D;
      // Tile `it` of the item (visited last tile first) of K or V into ring buffer (g + it) % kStages.
      auto load_kv = [&](bf16* ring, const bf16* kv, int it) {
        const int tile = w.tile_hi - it;
        load_slabs_lean<kBlockN, kProducerThreads>(ring + ((g + it) % kStages) * kBlockN * D,
                                                   kv + kv_off + static_cast<int64_t>(tile) * kBlockN * kv_row,
                                                   kv_row, min(kBlockN, Tk - tile * kBlockN));
      };
      load_slabs_lean<kBlockM, kProducerThreads>(sQ, a.q + ((r.b * a.Tq + r.i0) * a.H + r.h) * D, a.H * D, w.nq);
      cp_async_mbar_arrive(q_full);
      // K runs one tile ahead of V: V[it] is read one step after K[it].
      for (int it = 0; it <= w.n_tiles; ++it) {
        if (it < w.n_tiles) {
          const uint32_t gk = g + it;
          mbar_wait(k_empty(gk % kStages), ((gk / kStages) & 1) ^ 1);
          load_kv(sK, a.k, it);
          cp_async_mbar_arrive(k_full(gk % kStages));
        }
        if (it > 0) {
          const uint32_t gv = g + it - 1;
          mbar_wait(v_empty(gv % kStages), ((gv / kStages) & 1) ^ 1);
          load_kv(sV, a.v, it - 1);
          cp_async_mbar_arrive(v_full(gv % kStages));
        }
      }
      g += w.n_tiles;
      if (!kPersistent) break;  // one item per block
    }
    cp_async_wait<0>();
    return;
  }

  regs_alloc<kWsConsumerRegs>();
  const int group_id = warpgroup - 1;
  const int lane = threadIdx.x & 31, warp = (threadIdx.x >> 5) & 3;
  const int rel_row = 16 * warp + (lane >> 2);  // row of fragment elements 0, 1 within the group
  const uint32_t q_rows = smem_u32(sQ) + group_id * 64 * 128;
  const uint32_t k_addr = smem_u32(sK), v_addr = smem_u32(sV);
  const uint64_t desc_v = wg::desc_sw128(0, kKvSlab, 1024);  // V as MN-major B: N = D over two slabs
  const int my_turn = kPingpongBarrier0 + group_id, their_turn = kPingpongBarrier0 + (1 - group_id);
  auto wait_turn = [&] {
    if constexpr (kPingpong) named_sync(my_turn, 256);
  };
  auto pass_turn = [&] {
    if constexpr (kPingpong) named_arrive(their_turn, 256);
  };
  // A consumer warp is done with a buffer once its MMAs that read it have completed.
  auto release = [&](uint32_t bar) {
    __syncwarp();
    if (lane == 0) mbar_arrive(bar);
  };
  auto wait_full = [&](uint32_t bar, uint32_t parity) {
    mbar_wait(bar, parity);
    wg::fence_proxy_async();  // the copies were generic-proxy writes; the MMAs read through the async proxy
  };

  float o[kDt][4], s[kNt][4];
  uint32_t p[kPk][4];
  float m[2], l[2];

  // Warpgroup 0 issues first.
  if (kPingpong && group_id == 1) named_arrive(kPingpongBarrier0, 256);
  uint32_t g = 0;
  for (uint32_t k = 0;; ++k) {
    wait_full(q_full, k & 1);
    const int item = mailbox[k & 1];
    if (item < 0) break;
    const Item w = item_at(item);
    const int n_tiles = w.n_tiles;
    // This warpgroup's rows (positions pw_first..pw_last; rows past nq are zero queries, never written).
    const int pw_first = w.p_first + group_id * 64, pw_last = min(pw_first + 63, w.p_first + w.nq - 1);

    auto issue_pv = [&](int it) {  // O += P V[it]
      const uint32_t vt = v_addr + ((g + it) % kStages) * 2 * kKvSlab;
#pragma unroll
      for (int kk = 0; kk < kPk; ++kk)
        wg::mma_m64n128k16_rs<true>(o, p[kk], desc_v + (((vt + kk * 2048) & 0x3FFFF) >> 4), true);
      wg::commit();
    };
    auto issue_s = [&](int it) {
      issue_scores<kBlockN>(s, q_rows, kQSlab, k_addr + ((g + it) % kStages) * 2 * kKvSlab, kKvSlab);
      wg::commit();
    };
    auto k_done = [&](int it) {  // S of tile it has landed
      release(k_empty((g + it) % kStages));
      if (it == n_tiles - 1) release(q_empty);
    };
    auto softmax = [&](int it, float (&scale_prev)[2]) {
      softmax_tile<kBlockN>(s, m, l, scale_prev, (w.tile_hi - it) * kBlockN, pw_first, pw_last, win, Tk, rel_row,
                            lane, a.scale_log2);
    };
    auto pack_p = [&] { pack_probabilities(p, s); };
    // Once P V of tile it - 1 has landed: V[it - 1] is free, O shrinks by the factor of the latest
    // softmax step, and that step's probabilities become the next A operand.
    auto finish_step = [&](int it, const float (&scale_prev)[2]) {
      wg::wait<0>();
      wg::fence_operand(o);
      release(v_empty((g + it - 1) % kStages));
      rescale_output(o, scale_prev);
      pack_p();
    };
    auto wait_k = [&](int it) { wait_full(k_full((g + it) % kStages), ((g + it) / kStages) & 1); };
    auto wait_v = [&](int it) { wait_full(v_full((g + it) % kStages), ((g + it) / kStages) & 1); };

#pragma unroll
    for (int t = 0; t < kDt; ++t) o[t][0] = o[t][1] = o[t][2] = o[t][3] = 0.0f;
    m[0] = m[1] = -INFINITY;
    l[0] = l[1] = 0.0f;

    float scale_prev[2];
    wait_k(0);
    wait_turn();
    wg::fence();
    issue_s(0);
    pass_turn();
    wg::wait<0>();
    wg::fence_operand(s);
    k_done(0);
    softmax(0, scale_prev);
    pack_p();
    for (int it = 1; it < n_tiles; ++it) {
      if (it > 1) finish_step(it - 1, scale_prev);
      wait_k(it);
      wait_v(it - 1);
      wait_turn();
      wg::fence();
      issue_s(it);
      issue_pv(it - 1);
      pass_turn();
      wg::wait<1>();  // S landed; P V of the previous tile may still run
      wg::fence_operand(s);
      k_done(it);
      softmax(it, scale_prev);
      wg::fence_operand(s);
    }
    if (n_tiles > 1) finish_step(n_tiles - 1, scale_prev);
    wait_v(n_tiles - 1);
    wait_turn();
    wg::fence();
    issue_pv(n_tiles - 1);
    pass_turn();
    wg::wait<0>();
    wg::fence_operand(o);
    release(v_empty((g + n_tiles - 1) % kStages));

    store_rows<D>(a, item_rows(item), o, m, l, group_id * 64 + rel_row, w.nq, lane);
    g += n_tiles;
    if (!kPersistent) break;  // one item per block
  }
  // Warpgroup 1's first hand-over had no turn before it: take its last one, so that no arrival is left
  // pending on a named barrier when the block exits.
  if (kPingpong && group_id == 0) wait_turn();
}

template <int kStages, bool kPingpong, bool kPersistent>
void launch_forward_ws(const ForwardArgs& args, const cpu::AttentionShape& s, cudaStream_t stream) {
  constexpr int kBlockM = 128, kBlockN = 128;
  // Alignment slack, Q, kStages K and V buffers, the barriers, the mailbox.
  constexpr size_t kSmem =
      1024 + static_cast<size_t>(kBlockM + 2 * kStages * kBlockN) * 128 * sizeof(bf16) + 8 * (2 + 4 * kStages) + 8;
  static const int sm_count = [] {
    NC_CUDA_CHECK(cudaFuncSetAttribute(attention_forward_ws_kernel<kStages, kPingpong, kPersistent>,
                                       cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(kSmem)));
    int device = 0, count = 0;
    NC_CUDA_CHECK(cudaGetDevice(&device));
    NC_CUDA_CHECK(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device));
    return count;
  }();
  const int64_t m_blocks = (s.Tq + kBlockM - 1) / kBlockM, items = m_blocks * s.H * s.B;
  ::nanochat::cuda::require(items + sm_count < (int64_t{1} << 31), "attention_forward",
                            "too many query blocks for one launch");
  if constexpr (kPersistent) {
    // The item counter, zeroed in stream order; every block takes one ticket past the end.
    detail::StreamScratch counter(sizeof(float), stream);
    int* next_item = reinterpret_cast<int*>(counter.floats());
    NC_CUDA_CHECK(cudaMemsetAsync(next_item, 0, sizeof(int), stream));
    const int64_t blocks = std::min<int64_t>(items, sm_count);
    attention_forward_ws_kernel<kStages, kPingpong, true><<<static_cast<unsigned>(blocks), kWsThreads, kSmem, stream>>>(
        args, static_cast<int>(m_blocks), static_cast<int>(items), next_item);
  } else {
    attention_forward_ws_kernel<kStages, kPingpong, false><<<static_cast<unsigned>(items), kWsThreads, kSmem, stream>>>(
        args, static_cast<int>(m_blocks), static_cast<int>(items), nullptr);
  }
  NC_CUDA_CHECK_LAUNCH();
}

// The head_dim 128 kernels for A/B timing, picked by NANOCHAT_ATTENTION_FORWARD_WGMMA_VARIANT: unset or
// anything else, the warp-specialized kernel (3 stages, pingpong, one block per item); "wsp" the same
// with a persistent grid taking items from a counter; "3" the two-warpgroup kernel (3 stages, one block
// per item). Measured on an H100, B=32 T=2048 d=128, forward ms (H=10 full causal / window 1024 /
// window 512 / H=6 full causal; attention_bench, interleaved, best of two in one process), two leases:
// "3" 0.973 / 0.796 / 0.594 / 0.587 and 0.947 / 0.810 / 0.609 / 0.598; ws 0.820 / 0.688 / 0.520 / 0.497
// and 0.801 / 0.681 / 0.537 / 0.507; wsp 0.787 / 0.662 / 0.531 / 0.508 and 0.745 / 0.614 / 0.461 / 0.476.
// In the training step (gpu_train_step_bench, same lease as the second, two runs each): d12 L 124.4 (ws)
// vs 123.6 ms (wsp), d20 L 426.4 vs 425.2, d20 SSSL 405.0 vs 404.5; with wsp as the default, a later lease
// measured d20 SSSL at 410.4 ms, and the step's last losses moved in the 4th digit (wsp does not give ws's
// bits): not clearly better, so ws stays the default. Measured and removed as variants
// (the templates keep the parameters): ws with 2 stages 0.839 / 0.698 / 0.548 / 0.506 and without the
// pingpong 0.834 / 0.712 / 0.588 / 0.536; the two-warpgroup kernel with 2 stages 0.977 / 0.811 / 0.605
// and persistent (3 or 2 stages, a static round-robin of items that balanced worse than the hardware's
// block scheduler) 1.07-1.08 / 0.84-0.86 / 0.59.
enum class WgmmaVariant { kThreeStages, kWarpSpecialized, kWarpSpecializedPersistent };
WgmmaVariant wgmma_variant() {
  static const WgmmaVariant variant = [] {
    const char* v = std::getenv("NANOCHAT_ATTENTION_FORWARD_WGMMA_VARIANT");
    const std::string name = v != nullptr ? v : "";
    if (name == "3") return WgmmaVariant::kThreeStages;
    if (name == "wsp") return WgmmaVariant::kWarpSpecializedPersistent;
    return WgmmaVariant::kWarpSpecialized;
  }();
  return variant;
}

template <int kStages, bool kPersistent>
void launch_forward_wgmma(const ForwardArgs& args, const cpu::AttentionShape& s, cudaStream_t stream) {
  constexpr int kBlockM = 128, kBlockN = 128;
  // Q and kStages K and V buffers, plus slack for the 1024-byte alignment.
  constexpr size_t kSmem = static_cast<size_t>(kBlockM + 2 * kStages * kBlockN) * 128 * sizeof(bf16) + 1024;
  static const int sm_count = [] {
    NC_CUDA_CHECK(cudaFuncSetAttribute(attention_forward_wgmma_kernel<kStages, kPersistent>,
                                       cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(kSmem)));
    int device = 0, count = 0;
    NC_CUDA_CHECK(cudaGetDevice(&device));
    NC_CUDA_CHECK(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device));
    return count;
  }();
  const int64_t m_blocks = (s.Tq + kBlockM - 1) / kBlockM, items = m_blocks * s.H * s.B;
  ::nanochat::cuda::require(items < (int64_t{1} << 31), "attention_forward", "too many query blocks for one launch");
  const int64_t blocks = kPersistent ? std::min<int64_t>(items, sm_count) : items;
  attention_forward_wgmma_kernel<kStages, kPersistent><<<static_cast<unsigned>(blocks), 256, kSmem, stream>>>(
      args, static_cast<int>(m_blocks), static_cast<int>(items));
  NC_CUDA_CHECK_LAUNCH();
}

}  // namespace

void attention_forward(bf16* y, float* lse, const bf16* q, const bf16* k, const bf16* v,
                       const cpu::AttentionShape& s, cudaStream_t stream) {
  check_attention_shape(s, "attention_forward");
  // Split-KV pays off only while the tiled grid (B*H blocks for Tq <= 128) leaves SMs idle: measured on
  // an H100 at Tk = 2048, B=1 H=10: 31 us vs 93 us tiled; B=32 H=10: 376 us vs 192 us tiled.
  constexpr int64_t kDecodeMaxBlocks = 128;
  if (attention_decode_fits(s) && s.B * s.H < kDecodeMaxBlocks) attention_forward_decode(y, lse, q, k, v, s, stream);
  else attention_forward_tiled(y, lse, q, k, v, s, stream);
}

void attention_forward_tiled(bf16* y, float* lse, const bf16* q, const bf16* k, const bf16* v,
                             const cpu::AttentionShape& s, cudaStream_t stream) {
  attention_forward_tiled_kernel(y, lse, q, k, v, s, AttentionForwardKernel::kDefault, stream);
}

void attention_forward_tiled_kernel(bf16* y, float* lse, const bf16* q, const bf16* k, const bf16* v,
                                    const cpu::AttentionShape& s, AttentionForwardKernel kernel,
                                    cudaStream_t stream) {
  check_attention_shape(s, "attention_forward");
  const ForwardArgs args{y,    lse,  q,           k,      v,        s.Tq, s.H, s.Hk, s.Tk, s.kv_stride, s.pos0,
                         s.window, kLog2e / std::sqrt(static_cast<float>(s.d))};
  // head_dim 64, and 128 with NANOCHAT_ATTENTION_FORWARD_MMA_SYNC=1: the mma.sync kernel, 4 warps of 32
  // rows (128-query tiles). Measured on an H100 at B=32 T=2048 d=128 causal: 244 TFLOP/s, vs 221 with
  // 8 warps of 16 rows (128 registers, Q re-read from shared memory) and 213 with 4 warps of 16 rows
  // (Q fragments in registers). head_dim 128 otherwise runs a wgmma kernel: the two-warpgroup one
  // 358 TFLOP/s (0.96 ms vs 1.41 ms; window 512: 0.60 ms vs 0.74 ms), the warp-specialized one 419
  // TFLOP/s (0.82 ms; window 512: 0.52 ms; the default), with its persistent grid 437-462 TFLOP/s.
  if (s.d == 64) launch_forward<64, 4, 2>(args, s, stream);
  else if (kernel == AttentionForwardKernel::kWgmma) launch_forward_wgmma<3, false>(args, s, stream);
  else if (kernel == AttentionForwardKernel::kWarpSpecialized) launch_forward_ws<3, true, false>(args, s, stream);
  else if (kernel == AttentionForwardKernel::kWarpSpecializedPersistent)
    launch_forward_ws<3, true, true>(args, s, stream);
  else if (force_mma_sync()) launch_forward<128, 4, 2>(args, s, stream);
  else {
    switch (wgmma_variant()) {
      case WgmmaVariant::kThreeStages: launch_forward_wgmma<3, false>(args, s, stream); break;
      case WgmmaVariant::kWarpSpecialized: launch_forward_ws<3, true, false>(args, s, stream); break;
      case WgmmaVariant::kWarpSpecializedPersistent: launch_forward_ws<3, true, true>(args, s, stream); break;
    }
  }
}

}  // namespace nanochat::kernels::cuda
