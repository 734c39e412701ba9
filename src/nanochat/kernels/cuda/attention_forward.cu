// Flash attention forward (see attention.h). One block of kWarps warps per (query tile of 16*kWarps
// rows, head, batch row); each warp owns 16 query rows and keeps their Q fragments, the output
// accumulator and the running max/sum in registers (online softmax in base 2). Key/value tiles of
// kBlockN positions stream through shared memory: the V copy overlaps S = Q K^T and the next K copy
// overlaps O += P V. Only key tiles that intersect some row's window [pos - window, pos] are
// visited, and only tiles cut by the window edges or by Tk pay for per-element masking.
#include <cmath>
#include <string>

#include "nanochat/kernels/cuda/attention.h"
#include "nanochat/kernels/cuda/attention_tile.cuh"
#include "nanochat/kernels/cuda/check.h"

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

template <int D, int kWarps>
__global__ void __launch_bounds__(kWarps * 32) attention_forward_kernel(ForwardArgs a) {
  constexpr int kThreads = kWarps * 32, kBlockM = 16 * kWarps;
  constexpr int kNt = kBlockN / 8;  // score n tiles per warp
  constexpr int kDt = D / 8;        // output n tiles per warp
  extern __shared__ __align__(128) unsigned char smem_raw[];
  bf16* sQ = reinterpret_cast<bf16*>(smem_raw);
  bf16* sK = sQ + kBlockM * D;
  bf16* sV = sK + kBlockN * D;

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

  const int64_t p_first = a.pos0 + i0, p_last = a.pos0 + i0 + nq - 1;
  const int64_t key_lo = max64(0, p_first - a.window), key_hi = min64(p_last, a.Tk - 1);
  const int64_t tile_lo = key_lo / kBlockN, tile_hi = key_hi / kBlockN;

  auto load_kv = [&](bf16* dst, const bf16* base, int64_t tile) {
    const int64_t n0 = tile * kBlockN;
    load_tile<D, kThreads>(dst, base + n0 * kv_row, kv_row, kBlockN, static_cast<int>(min64(kBlockN, a.Tk - n0)));
  };
  load_tile<D, kThreads>(sQ, q_base, q_stride, kBlockM, nq);
  load_kv(sK, k_base, tile_hi);
  cp_async_commit();
  cp_async_wait<0>();
  __syncthreads();

  uint32_t qf[D / 16][4];
#pragma unroll
  for (int kk = 0; kk < D / 16; ++kk) ldmatrix_x4(qf[kk], a_frag_addr<D>(sQ, warp * 16, kk, lane));

  // This thread's two rows: r (lane/4) and r + 8 of the warp's 16.
  const int row_a = warp * 16 + (lane >> 2);
  const int64_t pos[2] = {p_first + row_a, p_first + row_a + 8};
  float o[kDt][4];
#pragma unroll
  for (int t = 0; t < kDt; ++t) o[t][0] = o[t][1] = o[t][2] = o[t][3] = 0.0f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};

  for (int64_t tile = tile_hi; tile >= tile_lo; --tile) {
    const int64_t n0 = tile * kBlockN;
    cp_async_wait<0>();
    __syncthreads();  // K[tile] landed; every warp is done reading sV
    load_kv(sV, v_base, tile);
    cp_async_commit();

    float s[kNt][4];
#pragma unroll
    for (int t = 0; t < kNt; ++t) s[t][0] = s[t][1] = s[t][2] = s[t][3] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
#pragma unroll
      for (int np = 0; np < kNt / 2; ++np) {
        uint32_t bk[4];
        ldmatrix_x4(bk, b_frag_addr<D>(sK, np * 16, kk, lane));
        mma_bf16(s[2 * np], qf[kk], bk[0], bk[1]);
        mma_bf16(s[2 * np + 1], qf[kk], bk[2], bk[3]);
      }
    }

    // Tiles entirely inside every row's window need no mask (most of a long causal attention).
    const bool full = n0 + kBlockN - 1 <= p_first && n0 >= p_last - a.window && n0 + kBlockN <= a.Tk;
    if (!full) {
#pragma unroll
      for (int t = 0; t < kNt; ++t)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int64_t key = n0 + t * 8 + 2 * (lane & 3) + (e & 1);
          if (!visible(pos[e >> 1], key, a.window, a.Tk)) s[t][e] = -INFINITY;
        }
    }

    // Online softmax, two rows per thread; the 4 threads of a quad share a row.
    float scale_prev[2], base[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float mx = m[r];
#pragma unroll
      for (int t = 0; t < kNt; ++t) mx = fmaxf(mx, fmaxf(s[t][2 * r], s[t][2 * r + 1]));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      // A row that has seen no visible key yet keeps m = -inf; base 0 keeps exp2 away from NaN.
      base[r] = mx == -INFINITY ? 0.0f : mx * a.scale_log2;
      scale_prev[r] = fast_exp2(m[r] * a.scale_log2 - base[r]);
      m[r] = mx;
      l[r] *= scale_prev[r];
    }
#pragma unroll
    for (int t = 0; t < kDt; ++t) {
      o[t][0] *= scale_prev[0];
      o[t][1] *= scale_prev[0];
      o[t][2] *= scale_prev[1];
      o[t][3] *= scale_prev[1];
    }
#pragma unroll
    for (int t = 0; t < kNt; ++t)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const float p = fast_exp2(fmaf(s[t][e], a.scale_log2, -base[e >> 1]));
        s[t][e] = p;
        l[e >> 1] += p;
      }

    cp_async_wait<0>();
    __syncthreads();  // V[tile] landed; every warp is done reading sK
    if (tile > tile_lo) {
      load_kv(sK, k_base, tile - 1);
      cp_async_commit();
    }

#pragma unroll
    for (int kk = 0; kk < kBlockN / 16; ++kk) {
      const uint32_t pa[4] = {pack_bf16(s[2 * kk][0], s[2 * kk][1]), pack_bf16(s[2 * kk][2], s[2 * kk][3]),
                              pack_bf16(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                              pack_bf16(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
      for (int np = 0; np < kDt / 2; ++np) {
        uint32_t bv[4];
        ldmatrix_x4_trans(bv, bt_frag_addr<D>(sV, kk * 16, np, lane));
        mma_bf16(o[2 * np], pa, bv[0], bv[1]);
        mma_bf16(o[2 * np + 1], pa, bv[2], bv[3]);
      }
    }
  }

#pragma unroll
  for (int r = 0; r < 2; ++r) {
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
  }
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int row = row_a + 8 * r;
    if (row >= nq) continue;
    const float inv_l = 1.0f / l[r];
    bf16* yr = a.y + ((b * a.Tq + i0 + row) * a.H + h) * D + 2 * (lane & 3);
#pragma unroll
    for (int t = 0; t < kDt; ++t)
      *reinterpret_cast<__nv_bfloat162*>(yr + t * 8) = __floats2bfloat162_rn(o[t][2 * r] * inv_l, o[t][2 * r + 1] * inv_l);
    if (a.lse != nullptr && (lane & 3) == 0)
      a.lse[(b * a.H + h) * a.Tq + i0 + row] = m[r] * (a.scale_log2 * kLn2) + logf(l[r]);
  }
}

template <int D, int kWarps>
void launch_forward(const ForwardArgs& args, const cpu::AttentionShape& s, cudaStream_t stream) {
  constexpr int kBlockM = 16 * kWarps;
  constexpr size_t kSmem = static_cast<size_t>(kBlockM + 2 * kBlockN) * D * sizeof(bf16);
  static const bool configured = [] {
    NC_CUDA_CHECK(cudaFuncSetAttribute(attention_forward_kernel<D, kWarps>,
                                       cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(kSmem)));
    return true;
  }();
  (void)configured;
  const dim3 grid(static_cast<unsigned>((s.Tq + kBlockM - 1) / kBlockM), static_cast<unsigned>(s.H),
                  static_cast<unsigned>(s.B));
  attention_forward_kernel<D, kWarps><<<grid, kWarps * 32, kSmem, stream>>>(args);
  NC_CUDA_CHECK_LAUNCH();
}

}  // namespace

void attention_forward(bf16* y, float* lse, const bf16* q, const bf16* k, const bf16* v,
                       const cpu::AttentionShape& s, cudaStream_t stream) {
  check_attention_shape(s, "attention_forward");
  // Split-KV pays off only while the tiled grid (B*H blocks for Tq <= 128) leaves SMs idle: measured on
  // an H100 at Tk = 2048, B=1 H=10: 31 us vs 85 us tiled; B=32 H=10: 373 us vs 241 us tiled.
  constexpr int64_t kDecodeMaxBlocks = 128;
  if (attention_decode_fits(s) && s.B * s.H < kDecodeMaxBlocks) attention_forward_decode(y, lse, q, k, v, s, stream);
  else attention_forward_tiled(y, lse, q, k, v, s, stream);
}

void attention_forward_tiled(bf16* y, float* lse, const bf16* q, const bf16* k, const bf16* v,
                             const cpu::AttentionShape& s, cudaStream_t stream) {
  check_attention_shape(s, "attention_forward");
  const ForwardArgs args{y,    lse,  q,           k,      v,        s.Tq, s.H, s.Hk, s.Tk, s.kv_stride, s.pos0,
                         s.window, kLog2e / std::sqrt(static_cast<float>(s.d))};
  if (s.d == 64) launch_forward<64, 8>(args, s, stream);
  else launch_forward<128, 8>(args, s, stream);
}

}  // namespace nanochat::kernels::cuda
