// Split-KV attention for decoding (see attention.h): a handful of query rows against a long cache.
// The tiled path gives one block per (query tile, head), so batch 1 with 10 heads would run on 10 of
// 132 SMs, each walking the whole cache. Here each warp takes one chunk of kChunk keys of one kv head
// and all R = Tq*H/Hk query rows that read it (GQA rows share every K/V load), keeps a base-2 online
// softmax per row in registers, and writes its partial (max, sum, output); a merge pass then
// combines the chunks of each row in chunk order (deterministic).
#include <algorithm>
#include <cmath>

#include "nanochat/kernels/cuda/attention.h"
#include "nanochat/kernels/cuda/attention_tile.cuh"
#include "nanochat/kernels/cuda/check.h"
#include "nanochat/kernels/cuda/reduce.h"

namespace nanochat::kernels::cuda {

namespace {

using namespace attention_detail;

constexpr int kChunk = 64;     // keys per warp
constexpr int kMaxRows = 16;   // query rows per kv head (registers hold each row's q and output)
constexpr int kMaxTq = 4;

struct DecodeArgs {
  const bf16 *q, *k, *v;
  bf16* y;
  float* lse;
  float *part_o, *part_ml;  // [row][split][D] and [row][split][2]; row = (b*Hk + kvh)*R + r
  int64_t Tq, H, Hk, Tk, kv_stride, pos0, window, key_lo, splits;
  int G, R;
  float scale_log2;
};

template <int E>
__device__ __forceinline__ void load_bf16s(float (&out)[E], const bf16* p) {
  if constexpr (E == 4) {
    const uint2 raw = *reinterpret_cast<const uint2*>(p);
    const float2 a = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&raw.x));
    const float2 b = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&raw.y));
    out[0] = a.x, out[1] = a.y, out[2] = b.x, out[3] = b.y;
  } else {
    static_assert(E == 2);
    const float2 a = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(p));
    out[0] = a.x, out[1] = a.y;
  }
}

template <int D>
__global__ void __launch_bounds__(32) attention_decode_split_kernel(DecodeArgs a) {
  constexpr int E = D / 32;  // head dims per lane
  const int lane = static_cast<int>(threadIdx.x);
  const int64_t split = blockIdx.x, kvh = blockIdx.y, b = blockIdx.z;
  float qv[kMaxRows][E], o[kMaxRows][E], m[kMaxRows], l[kMaxRows];
#pragma unroll
  for (int r = 0; r < kMaxRows; ++r) {
    m[r] = -INFINITY;
    l[r] = 0.0f;
#pragma unroll
    for (int e = 0; e < E; ++e) qv[r][e] = o[r][e] = 0.0f;
    if (r < a.R) {
      const int64_t i = r / a.G, h = kvh * a.G + r % a.G;
      load_bf16s<E>(qv[r], a.q + ((b * a.Tq + i) * a.H + h) * D + lane * E);
    }
  }
  const int64_t key0 = a.key_lo + split * kChunk, key_end = min64(key0 + kChunk, a.Tk);
  const int64_t kv_row = a.Hk * D;
  const bf16* kp = a.k + ((b * a.kv_stride + key0) * a.Hk + kvh) * D + lane * E;
  const bf16* vp = a.v + ((b * a.kv_stride + key0) * a.Hk + kvh) * D + lane * E;
  for (int64_t key = key0; key < key_end; ++key, kp += kv_row, vp += kv_row) {
    float kv[E], vv[E];
    load_bf16s<E>(kv, kp);
    load_bf16s<E>(vv, vp);
#pragma unroll
    for (int r = 0; r < kMaxRows; ++r) {
      if (r >= a.R) break;  // uniform across the warp
      float dot = 0.0f;
#pragma unroll
      for (int e = 0; e < E; ++e) dot = fmaf(qv[r][e], kv[e], dot);
#pragma unroll
      for (int off = 16; off > 0; off >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, off);
      if (!visible(a.pos0 + r / a.G, key, a.window, a.Tk)) continue;
      const float s = dot * a.scale_log2, m_new = fmaxf(m[r], s);
      const float c = fast_exp2(m[r] - m_new), p = fast_exp2(s - m_new);
      l[r] = l[r] * c + p;
#pragma unroll
      for (int e = 0; e < E; ++e) o[r][e] = fmaf(o[r][e], c, p * vv[e]);
      m[r] = m_new;
    }
  }
#pragma unroll
  for (int r = 0; r < kMaxRows; ++r) {
    if (r >= a.R) break;
    const int64_t at = ((b * a.Hk + kvh) * a.R + r) * a.splits + split;
#pragma unroll
    for (int e = 0; e < E; ++e) a.part_o[at * D + lane * E + e] = o[r][e];
    if (lane == 0) {
      a.part_ml[2 * at] = m[r];
      a.part_ml[2 * at + 1] = l[r];
    }
  }
}

// One warp per output row (b, i, h): merges the chunks in order.
template <int D>
__global__ void attention_decode_merge_kernel(DecodeArgs a, int64_t rows) {
  constexpr int E = D / 32;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5);
  if (row >= rows) return;
  const int lane = static_cast<int>(threadIdx.x & 31);
  const int64_t h = row % a.H, bi = row / a.H, i = bi % a.Tq, b = bi / a.Tq;
  const int64_t kvh = h / a.G, r = i * a.G + h % a.G;
  const int64_t base = ((b * a.Hk + kvh) * a.R + r) * a.splits;
  float mx = -INFINITY;
  for (int64_t sp = 0; sp < a.splits; ++sp) mx = fmaxf(mx, a.part_ml[2 * (base + sp)]);
  float sum = 0.0f, acc[E] = {};
  for (int64_t sp = 0; sp < a.splits; ++sp) {
    const float w = fast_exp2(a.part_ml[2 * (base + sp)] - mx);  // 0 for chunks this row cannot see
    sum = fmaf(a.part_ml[2 * (base + sp) + 1], w, sum);
#pragma unroll
    for (int e = 0; e < E; ++e) acc[e] = fmaf(a.part_o[(base + sp) * D + lane * E + e], w, acc[e]);
  }
  const float inv = 1.0f / sum;
  bf16* yr = a.y + ((b * a.Tq + i) * a.H + h) * D + lane * E;
#pragma unroll
  for (int e = 0; e < E; e += 2)
    *reinterpret_cast<__nv_bfloat162*>(yr + e) = __floats2bfloat162_rn(acc[e] * inv, acc[e + 1] * inv);
  if (a.lse != nullptr && lane == 0) a.lse[(b * a.H + h) * a.Tq + i] = (mx + log2f(sum)) * kLn2;
}

}  // namespace

bool attention_decode_fits(const cpu::AttentionShape& s) {
  return s.Tq >= 1 && s.Tq <= kMaxTq && s.Hk > 0 && s.H % s.Hk == 0 && s.Tq * (s.H / s.Hk) <= kMaxRows;
}

void attention_forward_decode(bf16* y, float* lse, const bf16* q, const bf16* k, const bf16* v,
                              const cpu::AttentionShape& s, cudaStream_t stream) {
  check_attention_shape(s, "attention_forward_decode");
  ::nanochat::cuda::require(attention_decode_fits(s), "attention_forward_decode",
                            "needs Tq <= 4 and Tq*H/Hk <= 16 query rows per kv head");
  const int G = static_cast<int>(s.H / s.Hk), R = static_cast<int>(s.Tq) * G;
  const int64_t key_lo = std::max<int64_t>(0, s.pos0 - s.window);
  const int64_t splits = (s.Tk - key_lo + kChunk - 1) / kChunk;
  const int64_t part_rows = s.B * s.Hk * R * splits;
  detail::StreamScratch scratch(static_cast<size_t>(part_rows * (s.d + 2)) * sizeof(float), stream);
  const DecodeArgs args{q,      k,          v,      y,        lse,    scratch.floats(),
                        scratch.floats(static_cast<size_t>(part_rows * s.d)),
                        s.Tq,   s.H,        s.Hk,   s.Tk,     s.kv_stride, s.pos0, s.window, key_lo, splits, G, R,
                        kLog2e / std::sqrt(static_cast<float>(s.d))};
  const dim3 grid(static_cast<unsigned>(splits), static_cast<unsigned>(s.Hk), static_cast<unsigned>(s.B));
  const int64_t rows = s.B * s.Tq * s.H;
  const unsigned merge_blocks = static_cast<unsigned>((rows + 3) / 4);
  if (s.d == 64) {
    attention_decode_split_kernel<64><<<grid, 32, 0, stream>>>(args);
    NC_CUDA_CHECK_LAUNCH();
    attention_decode_merge_kernel<64><<<merge_blocks, 128, 0, stream>>>(args, rows);
  } else {
    attention_decode_split_kernel<128><<<grid, 32, 0, stream>>>(args);
    NC_CUDA_CHECK_LAUNCH();
    attention_decode_merge_kernel<128><<<merge_blocks, 128, 0, stream>>>(args, rows);
  }
  NC_CUDA_CHECK_LAUNCH();
}

}  // namespace nanochat::kernels::cuda
