// Kernels of the GPU KV-cache forward (see inference_ops.h). Positions come from device memory so a
// captured decode graph replays unchanged; the roundings follow the training ops of ops.h.
#include <algorithm>
#include <cmath>

#include "nanochat/kernels/cuda/check.h"
#include "nanochat/kernels/cuda/device_math.cuh"
#include "nanochat/kernels/cuda/inference_ops.h"
#include "nanochat/kernels/ops.h"

namespace nanochat::kernels::cuda {

namespace {

constexpr float kEps = static_cast<float>(kernels::cpu::kRmsNormEps);
constexpr int kGate = static_cast<int>(kVeGateChannels);

using detail::kLog2e;
using detail::round_bf16;
using detail::value_of;

// ---------------------------------------------------------------- mix + rmsnorm

__global__ void mix_rmsnorm_kernel(bf16* z, bf16* h, const bf16* x, const bf16* x0, ScalarParam alpha,
                                   ScalarParam beta, int64_t C) {
  __shared__ float scratch[32];
  const float a = value_of(alpha), b = value_of(beta);
  const int64_t r = blockIdx.x, n8 = C / detail::kVec;
  const bf16* xr = x + r * C;
  const bf16* x0r = x0 + r * C;
  bf16* zr = z + r * C;
  float ss = 0.0f;
  for (int64_t v = threadIdx.x; v < n8; v += blockDim.x) {
    float xv[detail::kVec], x0v[detail::kVec], zv[detail::kVec];
    detail::load8(xr + v * detail::kVec, xv);
    detail::load8(x0r + v * detail::kVec, x0v);
#pragma unroll
    for (int e = 0; e < detail::kVec; ++e) {
      zv[e] = round_bf16(a * xv[e] + b * x0v[e]);
      ss += zv[e] * zv[e];
    }
    detail::store8(zr + v * detail::kVec, zv);
  }
  ss = detail::block_sum(ss, scratch);
  const float rs = 1.0f / sqrtf(ss / static_cast<float>(C) + kEps);
  bf16* hr = h + r * C;
  for (int64_t v = threadIdx.x; v < n8; v += blockDim.x) {  // each thread rereads what it wrote
    float zv[detail::kVec];
    detail::load8(zr + v * detail::kVec, zv);
#pragma unroll
    for (int e = 0; e < detail::kVec; ++e) zv[e] *= rs;
    detail::store8(hr + v * detail::kVec, zv);
  }
}

// ---------------------------------------------------------------- q/k/v post-processing

constexpr int kMaxPairsPerLane = 4;  // head_dim <= 256

// One warp's share of the post-processing of row r (batch row b, position p): slot s < H is query head
// s, then Hk key heads, then Hk value heads. q and k get rotary(p), then the RMS norm and qk_scale, each
// rounded to bf16 as rotary_forward and scaled_rmsnorm_forward do; v gets its gated value embedding.
// Query heads go to q_dst (the head's d values); keys and values to the cache at p.
__device__ __forceinline__ void post_process_slot(const QkvPostArgs& a, int64_t r, int64_t b, int64_t p, int64_t slot,
                                                  bf16* q_dst, int lane) {
  const int64_t half = a.d / 2, KV = a.Hk * a.d, width = a.C + 2 * KV;
  const bf16* row = a.qkv + r * width;
  const int64_t cache_row = (b * a.kv_stride + p) * KV;
  if (slot >= a.H + a.Hk) {  // value head j
    const int64_t j = slot - a.H - a.Hk;
    const bf16* v = row + a.C + KV + j * a.d;
    bf16* dst = a.v_cache + cache_row + j * a.d;
    if (a.table == nullptr) {
      for (int64_t e = lane; e < a.d; e += 32) dst[e] = v[e];
      return;
    }
    const bf16* hr = a.h + r * a.C;
    float acc = 0.0f;
    for (int c = 0; c < kGate; ++c) acc += detail::load(hr[c]) * detail::load(a.wg[j * kGate + c]);
    const float g = 3.0f * (1.0f / (1.0f + expf(-acc)));
    const bf16* ve = a.table + a.idx[r] * KV + j * a.d;
    for (int64_t e = lane; e < a.d; e += 32) dst[e] = detail::to_bf16(detail::load(v[e]) + g * detail::load(ve[e]));
    return;
  }
  const bool is_q = slot < a.H;
  const bf16* src = is_q ? row + slot * a.d : row + a.C + (slot - a.H) * a.d;
  bf16* dst = is_q ? q_dst : a.k_cache + cache_row + (slot - a.H) * a.d;
  float x1[kMaxPairsPerLane], x2[kMaxPairsPerLane];
  float ss = 0.0f;
#pragma unroll
  for (int i = 0; i < kMaxPairsPerLane; ++i) {
    const int64_t j = lane + 32 * i;
    if (j >= half) break;
    const float c = a.cos[p * half + j], s = a.sin[p * half + j];
    const float u1 = detail::load(src[j]), u2 = detail::load(src[j + half]);
    x1[i] = round_bf16(u1 * c + u2 * s);
    x2[i] = round_bf16(u2 * c - u1 * s);
    ss += x1[i] * x1[i] + x2[i] * x2[i];
  }
  ss = detail::warp_sum(ss);
  const float rs = 1.0f / sqrtf(ss / static_cast<float>(a.d) + kEps);
#pragma unroll
  for (int i = 0; i < kMaxPairsPerLane; ++i) {
    const int64_t j = lane + 32 * i;
    if (j >= half) break;
    dst[j] = detail::to_bf16((x1[i] * rs) * a.qk_scale);
    dst[j + half] = detail::to_bf16((x2[i] * rs) * a.qk_scale);
  }
}

// Blocks (row, slot group); each warp takes whole heads. At batch 1 a decode step has a single row:
// spreading its slots over blocks lets ~30 heads run on as many SMs instead of queueing behind each
// other's dependent loads on one.
constexpr int kQkvPostThreads = 128;
__global__ void qkv_post_kernel(QkvPostArgs a) {
  const int64_t r = blockIdx.x, b = r / a.T, t = r % a.T;
  const int lane = threadIdx.x & 31, warps = blockDim.x >> 5;
  const int warp = static_cast<int>(blockIdx.y) * warps + (threadIdx.x >> 5);
  const int stride = warps * static_cast<int>(gridDim.y);
  const int64_t p = a.pos[b] + t;
  for (int64_t slot = warp; slot < a.H + 2 * a.Hk; slot += stride)
    post_process_slot(a, r, b, p, slot, a.q_out + (r * a.H + (slot < a.H ? slot : 0)) * a.d, lane);
}

// ---------------------------------------------------------------- decode attention

constexpr int kAttnThreads = 128;

struct DecodeArgs {
  const bf16 *q, *k, *v;
  const int32_t* pos;
  bf16* y;
  float *part_o, *part_ml;  // [(b*H + h)*splits + split][D] and [..][2]
  int* done;                // [b*Hk + kvh]: chunks finished in this call; the merging block resets it
  int64_t H, Hk, kv_stride, window, chunk, splits;
  int G;
  float scale_log2;
  QkvPostArgs post;  // decode_attention_with_post: the qkv post-processing folded in (q unused)
};

// One block per (chunk, kv head, batch row); a key's D/8 lanes each hold 16 bytes of it, so a warp
// holds 32/(D/8) keys and the block kGroups. Every group walks its keys kUnroll at a time with the next
// kUnroll keys' K and V already requested (the cache streams from HBM once; at batch 32 this read is most
// of a decode step), and folds each batch of kUnroll scores into its online softmax with one rescale.
// The groups then combine in shared memory into the chunk's partial (max, sum, output). The last block
// of a (row, kv head) to finish merges the chunks in chunk order, so the result does not depend on which
// block that is, and no second kernel is launched.
template <int D, int MAXG, bool kPost>
__global__ void __launch_bounds__(kAttnThreads) decode_attention_kernel(DecodeArgs a) {
  constexpr int kLanesPerKey = D / 8, kKeysPerWarp = 32 / kLanesPerKey;
  constexpr int kGroups = (kAttnThreads / 32) * kKeysPerWarp, kUnroll = 4;
  __shared__ float sm_o[kGroups][MAXG][D];
  __shared__ float sm_m[kGroups][MAXG], sm_l[kGroups][MAXG];
  __shared__ bool sm_last;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int sub = lane % kLanesPerKey, group = warp * kKeysPerWarp + lane / kLanesPerKey;
  const int64_t split = blockIdx.x, kvh = blockIdx.y, b = blockIdx.z;
  const int64_t p = a.pos[b];
  const int64_t key_lo = p - a.window > 0 ? p - a.window : 0;
  const int64_t first = key_lo + split * a.chunk;
  const int64_t last = first + a.chunk < p + 1 ? first + a.chunk : p + 1;

  // With the post-processing folded in, every block forms its G query heads in shared memory, and the
  // block whose chunk holds the new key (position p) first appends that key and value to the cache: no
  // other block reads them, and this block's own reads below come after the barrier.
  __shared__ __align__(16) bf16 sm_q[kPost ? MAXG : 1][D];
  if constexpr (kPost) {
    const int64_t used = (p + 1 - key_lo + a.chunk - 1) / a.chunk;
    const int tasks = a.G + (split == (used < a.splits ? used : a.splits) - 1 ? 2 : 0);
    for (int task = warp; task < tasks; task += kAttnThreads / 32) {
      const int64_t slot = task < a.G ? kvh * a.G + task : (task == a.G ? a.H + kvh : a.H + a.Hk + kvh);
      post_process_slot(a.post, b, b, p, slot, sm_q[task < a.G ? task : 0], lane);
    }
    __syncthreads();
  }
  float q[MAXG][8], o[MAXG][8], m[MAXG], l[MAXG];
#pragma unroll
  for (int r = 0; r < MAXG; ++r) {
    m[r] = -INFINITY;
    l[r] = 0.0f;
#pragma unroll
    for (int e = 0; e < 8; ++e) o[r][e] = q[r][e] = 0.0f;
    if (r < a.G) detail::load8(kPost ? sm_q[r] + sub * 8 : a.q + (b * a.H + kvh * a.G + r) * D + sub * 8, q[r]);
  }
  const int64_t row_stride = a.Hk * D;
  const bf16* kb = a.k + (b * a.kv_stride * a.Hk + kvh) * D + sub * 8;
  const bf16* vb = a.v + (b * a.kv_stride * a.Hk + kvh) * D + sub * 8;
  constexpr int64_t kStep = int64_t{kGroups} * kUnroll;
  auto fetch = [&](int64_t s0, uint4 (&kr)[kUnroll], uint4 (&vr)[kUnroll]) {
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t key = s0 + int64_t{u} * kGroups + group;
      if (key < last) {
        kr[u] = *reinterpret_cast<const uint4*>(kb + key * row_stride);
        vr[u] = *reinterpret_cast<const uint4*>(vb + key * row_stride);
      } else {
        kr[u] = vr[u] = make_uint4(0, 0, 0, 0);
      }
    }
  };
  uint4 kc[kUnroll], vc[kUnroll];
  fetch(first, kc, vc);
  // The loop bound is uniform across the block (shuffles below need every lane).
  for (int64_t s0 = first; s0 < last; s0 += kStep) {
    uint4 kn[kUnroll], vn[kUnroll];
    fetch(s0 + kStep, kn, vn);  // zeros, and no loads, past the chunk
#pragma unroll
    for (int r = 0; r < MAXG; ++r) {
      if (r >= a.G) break;
      float s[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        float kv[8];
        detail::unpack8(kc[u], kv);
        float dot = 0.0f;
#pragma unroll
        for (int e = 0; e < 8; ++e) dot = fmaf(q[r][e], kv[e], dot);
        s[u] = dot;
      }
#pragma unroll
      for (int off = kLanesPerKey / 2; off > 0; off >>= 1)
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) s[u] += __shfl_xor_sync(0xffffffffu, s[u], off);
      float m_new = m[r];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const bool valid = s0 + int64_t{u} * kGroups + group < last;
        s[u] = valid ? s[u] * a.scale_log2 : -INFINITY;
        m_new = fmaxf(m_new, s[u]);
      }
      if (m_new == -INFINITY) continue;  // no key of this group yet
      const float c = exp2f(m[r] - m_new);  // 0 when m[r] is -inf
      l[r] *= c;
#pragma unroll
      for (int e = 0; e < 8; ++e) o[r][e] *= c;
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const float pr = exp2f(s[u] - m_new);  // 0 for a key past the chunk
        float vv[8];
        detail::unpack8(vc[u], vv);
        l[r] += pr;
#pragma unroll
        for (int e = 0; e < 8; ++e) o[r][e] = fmaf(pr, vv[e], o[r][e]);
      }
      m[r] = m_new;
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) kc[u] = kn[u], vc[u] = vn[u];
  }
#pragma unroll
  for (int r = 0; r < MAXG; ++r) {
    if (r >= a.G) break;
#pragma unroll
    for (int e = 0; e < 8; ++e) sm_o[group][r][sub * 8 + e] = o[r][e];
    if (sub == 0) {
      sm_m[group][r] = m[r];
      sm_l[group][r] = l[r];
    }
  }
  __syncthreads();
  for (int i = threadIdx.x; i < a.G * D; i += kAttnThreads) {
    const int r = i / D, dim = i % D;
    float mx = -INFINITY;
    for (int g = 0; g < kGroups; ++g) mx = fmaxf(mx, sm_m[g][r]);
    float sum = 0.0f, acc = 0.0f;
    if (mx != -INFINITY) {
      for (int g = 0; g < kGroups; ++g) {
        const float w = exp2f(sm_m[g][r] - mx);  // 0 for a group that saw no key
        sum = fmaf(sm_l[g][r], w, sum);
        acc = fmaf(sm_o[g][r][dim], w, acc);
      }
    }
    const int64_t at = (b * a.H + kvh * a.G + r) * a.splits + split;
    a.part_o[at * D + dim] = acc;
    if (dim == 0) {
      a.part_ml[2 * at] = mx;
      a.part_ml[2 * at + 1] = sum;
    }
  }
  // Publish this chunk's partials, then count it; the block that counts last merges.
  __threadfence();
  __syncthreads();
  int* done = a.done + b * a.Hk + kvh;
  if (threadIdx.x == 0) {
    sm_last = atomicAdd(done, 1) == static_cast<int>(a.splits) - 1;
    __threadfence();
  }
  __syncthreads();
  if (!sm_last) return;
  // Only the chunks that start at or before the query hold keys.
  const int64_t used = (p + 1 - key_lo + a.chunk - 1) / a.chunk < a.splits ? (p + 1 - key_lo + a.chunk - 1) / a.chunk
                                                                           : a.splits;
  for (int i = threadIdx.x; i < a.G * D; i += kAttnThreads) {
    const int r = i / D, dim = i % D;
    const int64_t base = (b * a.H + kvh * a.G + r) * a.splits;
    float mx = -INFINITY;
    for (int64_t sp = 0; sp < used; ++sp) mx = fmaxf(mx, __ldcg(a.part_ml + 2 * (base + sp)));
    float sum = 0.0f, acc = 0.0f;
    for (int64_t sp = 0; sp < used; ++sp) {
      const float w = exp2f(__ldcg(a.part_ml + 2 * (base + sp)) - mx);
      sum = fmaf(__ldcg(a.part_ml + 2 * (base + sp) + 1), w, sum);
      acc = fmaf(__ldcg(a.part_o + (base + sp) * D + dim), w, acc);
    }
    a.y[(b * a.H + kvh * a.G + r) * D + dim] = detail::to_bf16(acc / sum);
  }
  if (threadIdx.x == 0) *done = 0;  // ready for the next call (the next kernel on the stream)
}

// ---------------------------------------------------------------- small helpers

__global__ void softcap_kernel(float* x, int64_t n, float cap) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    x[i] = cap * tanhf(x[i] / cap);
}

__global__ void argmax_kernel(int32_t* out, const float* x, int64_t n, int64_t ld) {
  __shared__ float best_v[32];
  __shared__ int64_t best_i[32];
  const float* xr = x + blockIdx.x * ld;
  float bv = -INFINITY;
  int64_t bi = n;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const float v = xr[i];
    if (v > bv || bi == n) bv = v, bi = i;  // indices rise: ties keep the first
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  for (int off = 16; off > 0; off >>= 1) {
    const float v = __shfl_xor_sync(0xffffffffu, bv, off);
    const int64_t i = __shfl_xor_sync(0xffffffffu, bi, off);
    if (i < n && (bi >= n || v > bv || (v == bv && i < bi))) bv = v, bi = i;
  }
  if (lane == 0) best_v[warp] = bv, best_i[warp] = bi;
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < warps; ++w)
      if (best_i[w] < n && (bi >= n || best_v[w] > bv || (best_v[w] == bv && best_i[w] < bi)))
        bv = best_v[w], bi = best_i[w];
    out[blockIdx.x] = static_cast<int32_t>(bi < n ? bi : 0);
  }
}

__global__ void advance_positions_kernel(int32_t* pos, int64_t B, int64_t T) {
  const int64_t b = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (b < B) pos[b] += static_cast<int32_t>(T);
}

__global__ void fill_positions_kernel(int32_t* pos, int64_t B, int32_t value) {
  const int64_t b = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (b < B) pos[b] = value;
}

__global__ void broadcast_rows_kernel(uint4* dst, const uint4* src, int64_t vecs, int64_t dst_layer, int64_t dst_row,
                                      int64_t src_layer) {
  const int64_t l = blockIdx.z, b = blockIdx.y;
  const uint4* s = src + l * src_layer;
  uint4* d = dst + l * dst_layer + b * dst_row;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < vecs; i += int64_t{gridDim.x} * blockDim.x)
    d[i] = s[i];
}

}  // namespace

void mix_rmsnorm(bf16* z, bf16* h, const bf16* x, const bf16* x0, ScalarParam alpha, ScalarParam beta, int64_t rows,
                 int64_t C, cudaStream_t stream) {
  if (rows <= 0) return;
  ::nanochat::cuda::require(C % detail::kVec == 0 && detail::aligned16(z) && detail::aligned16(h) &&
                                detail::aligned16(x) && detail::aligned16(x0),
                            "mix_rmsnorm", "needs C a multiple of 8 and 16-byte aligned rows");
  mix_rmsnorm_kernel<<<static_cast<unsigned>(rows), 128, 0, stream>>>(z, h, x, x0, alpha, beta, C);
  NC_CUDA_CHECK_LAUNCH();
}

void qkv_post(const QkvPostArgs& a, cudaStream_t stream) {
  if (a.rows <= 0) return;
  ::nanochat::cuda::require(a.d % 2 == 0 && a.d / 2 <= 32 * kMaxPairsPerLane, "qkv_post", "head_dim must be even and <= 256");
  ::nanochat::cuda::require(a.T > 0 && a.rows % a.T == 0 && a.C == a.H * a.d, "qkv_post", "inconsistent shape");
  const int64_t slots = a.H + 2 * a.Hk, warps = kQkvPostThreads / 32;
  const dim3 grid(static_cast<unsigned>(a.rows), static_cast<unsigned>((slots + warps - 1) / warps));
  qkv_post_kernel<<<grid, kQkvPostThreads, 0, stream>>>(a);
  NC_CUDA_CHECK_LAUNCH();
}

DecodeAttentionPlan plan_decode_attention(int64_t B, int64_t Hk, int64_t max_keys) {
  static const int sms = [] {
    int dev = 0, n = 132;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess)
      n = 132;
    return n;
  }();
  // Blocks for about two per SM, but chunks of at least 96 keys: a block's fixed costs (the query, the
  // groups' combine, its partial) outweigh a smaller chunk's keys. Measured on an H100 (d20, H = Hk = 10,
  // d = 128, 640-768 keys; bench/gpu/decode_attention_bench): the best chunks were 96 at batch 1, 192 at
  // batch 8 and 192-768 at batch 32, which this rule picks (96, 192, 768).
  constexpr int64_t kMinChunk = 96;
  max_keys = std::max<int64_t>(max_keys, 1);
  const int64_t target_blocks = 2 * int64_t{sms};
  const int64_t splits = std::clamp<int64_t>((target_blocks + B * Hk - 1) / (B * Hk), 1,
                                             (max_keys + kMinChunk - 1) / kMinChunk);
  DecodeAttentionPlan plan;
  plan.chunk = ((max_keys + splits - 1) / splits + 31) / 32 * 32;
  plan.splits = (max_keys + plan.chunk - 1) / plan.chunk;
  return plan;
}

int64_t decode_attention_scratch_floats(int64_t B, int64_t H, int64_t d, const DecodeAttentionPlan& plan) {
  return B * H + B * H * plan.splits * (d + 2);  // one counter per (row, head) (Hk <= H), then the partials
}

namespace {
template <int D, bool kPost>
void launch_decode_d(const DecodeArgs& args, int64_t B, int G, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(args.splits), static_cast<unsigned>(args.Hk), static_cast<unsigned>(B));
  if (G == 1)
    decode_attention_kernel<D, 1, kPost><<<grid, kAttnThreads, 0, stream>>>(args);
  else if (G == 2)
    decode_attention_kernel<D, 2, kPost><<<grid, kAttnThreads, 0, stream>>>(args);
  else if (G <= 4)
    decode_attention_kernel<D, 4, kPost><<<grid, kAttnThreads, 0, stream>>>(args);
  else
    decode_attention_kernel<D, 8, kPost><<<grid, kAttnThreads, 0, stream>>>(args);
  NC_CUDA_CHECK_LAUNCH();
}

template <bool kPost>
void launch_decode(const DecodeArgs& args, int64_t B, int64_t d, int G, cudaStream_t stream) {
  if (d == 64)
    launch_decode_d<64, kPost>(args, B, G, stream);
  else
    launch_decode_d<128, kPost>(args, B, G, stream);
}

DecodeArgs make_decode_args(bf16* y, const bf16* q, const bf16* k_cache, const bf16* v_cache, const int32_t* pos,
                            int64_t B, int64_t H, int64_t Hk, int64_t d, int64_t kv_stride, int64_t window,
                            const DecodeAttentionPlan& plan, float* scratch, const char* op) {
  ::nanochat::cuda::require(d == 64 || d == 128, op, "head_dim must be 64 or 128");
  ::nanochat::cuda::require(Hk > 0 && H % Hk == 0 && H / Hk <= 8, op,
                            "needs H a multiple of Hk with at most 8 query heads per kv head");
  ::nanochat::cuda::require(plan.splits > 0 && plan.chunk > 0, op, "empty plan");
  // The counters come first: layers with different plans share one scratch, so their place must not
  // depend on the plan (a counter under another plan's partials would be overwritten).
  float* partials = scratch + B * H;
  return DecodeArgs{q,  k_cache, v_cache, pos, y, partials, partials + B * H * plan.splits * d,
                    reinterpret_cast<int*>(scratch),
                    H,  Hk,      kv_stride, window, plan.chunk, plan.splits, static_cast<int>(H / Hk),
                    kLog2e / std::sqrt(static_cast<float>(d)), QkvPostArgs{}};
}
}  // namespace

void decode_attention(bf16* y, const bf16* q, const bf16* k_cache, const bf16* v_cache, const int32_t* pos, int64_t B,
                      int64_t H, int64_t Hk, int64_t d, int64_t kv_stride, int64_t window,
                      const DecodeAttentionPlan& plan, float* scratch, cudaStream_t stream) {
  if (B <= 0) return;
  const DecodeArgs args = make_decode_args(y, q, k_cache, v_cache, pos, B, H, Hk, d, kv_stride, window, plan, scratch,
                                           "decode_attention");
  launch_decode<false>(args, B, d, args.G, stream);
}

void decode_attention_with_post(bf16* y, const QkvPostArgs& post, int64_t window, const DecodeAttentionPlan& plan,
                                float* scratch, cudaStream_t stream) {
  if (post.rows <= 0) return;
  ::nanochat::cuda::require(post.T == 1, "decode_attention_with_post", "one new token per row (T = 1)");
  ::nanochat::cuda::require(post.C == post.H * post.d, "decode_attention_with_post", "inconsistent shape");
  DecodeArgs args = make_decode_args(y, nullptr, post.k_cache, post.v_cache, post.pos, post.rows, post.H, post.Hk,
                                     post.d, post.kv_stride, window, plan, scratch, "decode_attention_with_post");
  args.post = post;
  launch_decode<true>(args, post.rows, post.d, args.G, stream);
}

void softcap_inplace(float* x, int64_t n, float cap, cudaStream_t stream) {
  if (n <= 0) return;
  softcap_kernel<<<detail::grid_for(n, 256, 4096), 256, 0, stream>>>(x, n, cap);
  NC_CUDA_CHECK_LAUNCH();
}

void argmax_rows(int32_t* out, const float* x, int64_t rows, int64_t n, int64_t ld, cudaStream_t stream) {
  if (rows <= 0) return;
  ::nanochat::cuda::require(n > 0 && ld >= n, "argmax_rows", "needs 0 < n <= ld");
  argmax_kernel<<<static_cast<unsigned>(rows), 1024, 0, stream>>>(out, x, n, ld);
  NC_CUDA_CHECK_LAUNCH();
}

void advance_positions(int32_t* pos, int64_t B, int64_t T, cudaStream_t stream) {
  if (B <= 0) return;
  advance_positions_kernel<<<detail::grid_for(B, 128), 128, 0, stream>>>(pos, B, T);
  NC_CUDA_CHECK_LAUNCH();
}

void fill_positions(int32_t* pos, int64_t B, int32_t value, cudaStream_t stream) {
  if (B <= 0) return;
  fill_positions_kernel<<<detail::grid_for(B, 128), 128, 0, stream>>>(pos, B, value);
  NC_CUDA_CHECK_LAUNCH();
}

void broadcast_rows(void* dst, const void* src, int64_t layers, int64_t rows, int64_t bytes, int64_t dst_layer_bytes,
                    int64_t dst_row_bytes, int64_t src_layer_bytes, cudaStream_t stream) {
  if (layers <= 0 || rows <= 0 || bytes <= 0) return;
  ::nanochat::cuda::require(bytes % 16 == 0 && dst_layer_bytes % 16 == 0 && dst_row_bytes % 16 == 0 &&
                                src_layer_bytes % 16 == 0 && detail::aligned16(dst) && detail::aligned16(src),
                            "broadcast_rows", "sizes and pointers must be multiples of 16 bytes");
  ::nanochat::cuda::require(rows < 65536 && layers < 65536, "broadcast_rows", "too many rows or layers");
  const int64_t vecs = bytes / 16;
  const dim3 grid(detail::grid_for(vecs, 256, 64), static_cast<unsigned>(rows), static_cast<unsigned>(layers));
  broadcast_rows_kernel<<<grid, 256, 0, stream>>>(static_cast<uint4*>(dst), static_cast<const uint4*>(src), vecs,
                                                  dst_layer_bytes / 16, dst_row_bytes / 16, src_layer_bytes / 16);
  NC_CUDA_CHECK_LAUNCH();
}

}  // namespace nanochat::kernels::cuda
