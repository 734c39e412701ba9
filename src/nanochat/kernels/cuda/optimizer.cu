#include "nanochat/kernels/cuda/optimizer.h"

#include <cmath>
#include <initializer_list>
#include <type_traits>
#include <utility>

#include "nanochat/kernels/cuda/check.h"
#include "nanochat/kernels/cuda/device_math.cuh"
#include "nanochat/kernels/cuda/gemm.h"
#include "nanochat/optim/polar_express.h"

namespace nanochat::kernels::cuda {

namespace {

using detail::block_sum;
using detail::grid_for;
using detail::load;
using detail::to_bf16;
using detail::warp_sum;

constexpr int kThreads = 256;

__device__ __forceinline__ float round_bf16(float x) { return ::nanochat::bf16::round(x); }

// PyTorch's lerp, each branch one fused multiply-add (as optim::lerp_f32). Explicit _rn intrinsics
// so nvcc cannot contract or reorder anything the CPU reference rounds separately.
__device__ __forceinline__ float lerp(float start, float end, float weight) {
  const float diff = __fsub_rn(end, start);
  return fabsf(weight) < 0.5f ? __fmaf_rn(weight, diff, start) : __fmaf_rn(__fsub_rn(weight, 1.0f), diff, end);
}

// ---- AdamW ----

// The per-element work of each kernel is one __device__ function, used by both the 8-wide vector path
// and the scalar path (unaligned slabs, tails, MuonAdamWCudaOptions::vector_kernels = false), so the
// two give the same bits; the vector path only moves the bytes in 16-byte accesses and does the index
// arithmetic (64-bit divisions) once per 8 elements. The per-element kernels had run these passes at
// 0.6-1.4 TB/s (ncu, d20 optimizer step).
struct AdamWElement {
  float p, m, v, shadow_value;
};

__device__ __forceinline__ AdamWElement adamw_element(float p, float g, float exp_avg, float exp_avg_sq,
                                                      const AdamWScalars& k, bool bf16_storage) {
  if (bf16_storage) g = round_bf16(g);
  float param = __fmul_rn(p, k.decay);
  float m = lerp(exp_avg, g, k.w1);
  float v = lerp(exp_avg_sq, __fmul_rn(g, g), k.w2);
  const float denom = __fadd_rn(__fsqrt_rn(__fdiv_rn(v, k.bias2)), k.eps);
  param = __fmaf_rn(__fdiv_rn(m, denom), k.neg_step_size, param);
  if (bf16_storage) {
    param = round_bf16(param);
    m = round_bf16(m);
    v = round_bf16(v);
  }
  return {param, m, v, param};
}

__global__ void adamw_kernel(float* p, bf16* shadow, const float* grad, float* exp_avg, float* exp_avg_sq,
                             int64_t n, int64_t nvec, AdamWScalars k, bool bf16_storage) {
  detail::vec_loops(
      n, nvec,
      [&](int64_t e) {
        float pv[detail::kVec], gv[detail::kVec], mv[detail::kVec], vv[detail::kVec];
        detail::load8(p + e, pv);
        detail::load8(grad + e, gv);
        detail::load8(exp_avg + e, mv);
        detail::load8(exp_avg_sq + e, vv);
#pragma unroll
        for (int j = 0; j < detail::kVec; ++j) {
          const AdamWElement r = adamw_element(pv[j], gv[j], mv[j], vv[j], k, bf16_storage);
          pv[j] = r.p, mv[j] = r.m, vv[j] = r.v;
        }
        detail::store8(p + e, pv);
        detail::store8(exp_avg + e, mv);
        detail::store8(exp_avg_sq + e, vv);
        detail::store8(shadow + e, pv);
      },
      [&](int64_t i) {
        const AdamWElement r = adamw_element(p[i], grad[i], exp_avg[i], exp_avg_sq[i], k, bf16_storage);
        p[i] = r.p;
        exp_avg[i] = r.m;
        exp_avg_sq[i] = r.v;
        shadow[i] = to_bf16(r.shadow_value);
      });
}

__global__ void round_to_bf16_kernel(bf16* out, const float* in, int64_t n, int64_t nvec) {
  detail::vec_loops(
      n, nvec,
      [&](int64_t e) {
        float v[detail::kVec];
        detail::load8(in + e, v);
        detail::store8(out + e, v);
      },
      [&](int64_t i) { out[i] = to_bf16(in[i]); });
}

// ---- Muon ----

// Step 1: Mb = lerp(Mb, G, 1 - mu); U = lerp(G, Mb, mu); x = bf16(U) (step 2).
__global__ void nesterov_kernel(bf16* x, float* mbuf, const float* g, int64_t n, int64_t nvec, float mu,
                                float one_minus_mu) {
  detail::vec_loops(
      n, nvec,
      [&](int64_t e) {
        float gv[detail::kVec], mv[detail::kVec], u[detail::kVec];
        detail::load8(g + e, gv);
        detail::load8(mbuf + e, mv);
#pragma unroll
        for (int j = 0; j < detail::kVec; ++j) {
          mv[j] = lerp(mv[j], gv[j], one_minus_mu);
          u[j] = lerp(gv[j], mv[j], mu);
        }
        detail::store8(mbuf + e, mv);
        detail::store8(x + e, u);
      },
      [&](int64_t i) {
        const float gi = g[i];
        const float mb = lerp(mbuf[i], gi, one_minus_mu);
        mbuf[i] = mb;
        x[i] = to_bf16(lerp(gi, mb, mu));
      });
}

// out[r] = sum_c (scale_k * x[r, c])^2 over rows of n (fp32), one warp per row, lanes in a fixed
// order. scale_k = 1 when mats is null, else snap(mats[r / m]) (the Muon+ factor, see snap()).
__device__ __forceinline__ float snap(float sumsq, float target) { return target / fmaxf(sqrtf(sumsq), 1e-6f); }

__global__ void row_sumsq_kernel(float* out, const bf16* x, int64_t rows, int64_t n, const float* mats, int64_t m,
                                 float target, float divisor) {
  const int64_t warps_per_block = blockDim.x / 32;
  const int64_t r = blockIdx.x * warps_per_block + threadIdx.x / 32;
  if (r >= rows) return;
  const int lane = threadIdx.x & 31;
  const float scale = mats != nullptr ? snap(mats[r / m], target) : 1.0f;
  const bf16* row = x + r * n;
  float s = 0.0f;
  for (int64_t c = lane; c < n; c += 32) {
    const float v = mats != nullptr ? load(row[c]) * scale : load(row[c]);
    s += v * v;
  }
  s = warp_sum(s);
  if (lane == 0) out[r] = s / divisor;
}

// out[k] = sum of in[k*len .. (k+1)*len), one block per k (fixed block size: fixed order).
__global__ void segment_sum_kernel(float* out, const float* in, int64_t len) {
  __shared__ float scratch[32];
  const float* seg = in + blockIdx.x * len;
  float s = 0.0f;
  for (int64_t i = threadIdx.x; i < len; i += blockDim.x) s += seg[i];
  s = block_sum(s, scratch);
  if (threadIdx.x == 0) out[blockIdx.x] = s;
}

// Step 3 (MuonEq): x[r,:] = bf16(x[r,:] * bf16(target_k / max(||x[r,:]||, 1e-6))), with
// target_k = ||x_k||_F / sqrt(m). The vector path needs n % 8 == 0 (a vector never straddles rows).
__device__ __forceinline__ float equilibrate_scale(const float* rows_sumsq, const float* mats_sumsq, int64_t r,
                                                   int64_t m, float sqrt_m) {
  const float target = sqrtf(mats_sumsq[r / m]) / sqrt_m;
  return round_bf16(target / fmaxf(sqrtf(rows_sumsq[r]), 1e-6f));
}

__global__ void equilibrate_kernel(bf16* x, const float* rows_sumsq, const float* mats_sumsq, int64_t total,
                                   int64_t nvec, int64_t m, int64_t n, float sqrt_m) {
  detail::vec_loops(
      total, nvec,
      [&](int64_t e) {
        const float scale = equilibrate_scale(rows_sumsq, mats_sumsq, e / n, m, sqrt_m);
        float v[detail::kVec];
        detail::load8(x + e, v);
#pragma unroll
        for (int j = 0; j < detail::kVec; ++j) v[j] *= scale;
        detail::store8(x + e, v);
      },
      [&](int64_t i) { x[i] = to_bf16(load(x[i]) * equilibrate_scale(rows_sumsq, mats_sumsq, i / n, m, sqrt_m)); });
}

// Step 4: x_k = bf16(x_k / (||x_k||_F * 1.01 + 1e-6)). The vector path needs m*n % 8 == 0.
__global__ void normalize_kernel(bf16* x, const float* mats_sumsq, int64_t total, int64_t nvec, int64_t mn) {
  detail::vec_loops(
      total, nvec,
      [&](int64_t e) {
        const float denom = sqrtf(mats_sumsq[e / mn]) * 1.01f + 1e-6f;
        float v[detail::kVec];
        detail::load8(x + e, v);
#pragma unroll
        for (int j = 0; j < detail::kVec; ++j) v[j] = v[j] / denom;
        detail::store8(x + e, v);
      },
      [&](int64_t i) {
        const float denom = sqrtf(mats_sumsq[i / mn]) * 1.01f + 1e-6f;
        x[i] = to_bf16(load(x[i]) / denom);
      });
}

// NorMuon statistic per column (m < n): stats[k*n + c] = mean_r (snap_k * x[k,r,c])^2. One thread
// per column walks the rows in order (neighbouring threads read neighbouring columns).
__global__ void column_stats_kernel(float* stats, const bf16* x, const float* mats, int64_t K, int64_t m, int64_t n,
                                    float target) {
  const int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (i >= K * n) return;
  const int64_t k = i / n, c = i % n;
  const float scale = snap(mats[k], target);
  const bf16* col = x + k * m * n + c;
  float s = 0.0f;
  for (int64_t r = 0; r < m; ++r) {
    const float v = load(col[r * n]) * scale;
    s += v * v;
  }
  stats[i] = s / static_cast<float>(m);
}

// Step 7 for matrix k = blockIdx.x: updates its second moment (q values) and turns its statistics
// into the per-row/column factor st * vnorm / max(vnorm2, 1e-10).
__global__ void normuon_kernel(float* stats, float* second_moment, int64_t q, float reduced, float w) {
  __shared__ float scratch[32];
  float* st = stats + blockIdx.x * q;
  float* vb = second_moment + blockIdx.x * q;
  float sum = 0.0f;
  for (int64_t i = threadIdx.x; i < q; i += blockDim.x) sum += st[i];
  const float v_norm = sqrtf(block_sum(sum, scratch) * reduced);
  float scaled = 0.0f;
  for (int64_t i = threadIdx.x; i < q; i += blockDim.x) {
    const float v = lerp(vb[i], st[i], w);
    vb[i] = v;
    const float step = 1.0f / sqrtf(fmaxf(v, 1e-10f));
    scaled += (st[i] * reduced) * (step * step);
    st[i] = step;
  }
  const float v_norm_new = sqrtf(block_sum(scaled, scratch));
  const float ratio = v_norm / fmaxf(v_norm_new, 1e-10f);
  for (int64_t i = threadIdx.x; i < q; i += blockDim.x) st[i] = st[i] * ratio;
}

// Steps 6-8 elementwise: O = snap_k * fp32(x) * factor; P -= lr*O + (O*P >= 0 ? lr_wd*P : 0);
// shadow = bf16(P). The vector path needs n % 8 == 0 (a vector lies in one row of one matrix).
__device__ __forceinline__ float muon_update(float pi, float xv, float scale, float factor, float lr, float lr_wd) {
  const float o = (xv * scale) * factor;
  const float decay = o * pi >= 0.0f ? lr_wd * pi : 0.0f;
  return pi - (lr * o + decay);
}

__global__ void muon_apply_kernel(float* p, bf16* shadow, const bf16* x, const float* mats, const float* factors,
                                  int64_t total, int64_t nvec, int64_t m, int64_t n, bool per_row, float target,
                                  float lr, float lr_wd) {
  const int64_t mn = m * n;
  detail::vec_loops(
      total, nvec,
      [&](int64_t e) {
        const int64_t k = e / mn, row = e / n, r = row % m, c = e - row * n;
        const float scale = snap(mats[k], target);
        float f[detail::kVec], xv[detail::kVec], pv[detail::kVec];
        if (per_row) {
#pragma unroll
          for (int j = 0; j < detail::kVec; ++j) f[j] = factors[k * m + r];
        } else {
          detail::load8(factors + k * n + c, f);
        }
        detail::load8(x + e, xv);
        detail::load8(p + e, pv);
#pragma unroll
        for (int j = 0; j < detail::kVec; ++j) pv[j] = muon_update(pv[j], xv[j], scale, f[j], lr, lr_wd);
        detail::store8(p + e, pv);
        detail::store8(shadow + e, pv);
      },
      [&](int64_t i) {
        const int64_t k = i / mn, r = (i / n) % m, c = i % n;
        const float factor = factors[per_row ? k * m + r : k * n + c];
        const float updated = muon_update(p[i], load(x[i]), snap(mats[k], target), factor, lr, lr_wd);
        p[i] = updated;
        shadow[i] = to_bf16(updated);
      });
}

// ---- launch helpers ----

// The 8-element vectors of an n-element pass when `allowed` and every pointer allows 16-byte access,
// else 0 (the scalar path).
int64_t vector_count(bool allowed, int64_t n, std::initializer_list<const void*> ptrs) {
  return allowed ? detail::vectors_for(n, ptrs) : 0;
}

void launch_row_sumsq(float* out, const bf16* x, int64_t rows, int64_t n, const float* mats, int64_t m, float target,
                      float divisor, cudaStream_t stream) {
  constexpr int warps = kThreads / 32;
  const auto blocks = static_cast<unsigned>((rows + warps - 1) / warps);
  row_sumsq_kernel<<<blocks, kThreads, 0, stream>>>(out, x, rows, n, mats, m, target, divisor);
  NC_CUDA_CHECK_LAUNCH();
}

void launch_segment_sum(float* out, const float* in, int64_t segments, int64_t len, cudaStream_t stream) {
  segment_sum_kernel<<<static_cast<unsigned>(segments), kThreads, 0, stream>>>(out, in, len);
  NC_CUDA_CHECK_LAUNCH();
}

// Per-matrix sum of squares of a bf16 stack into s.mats (row sums in s.rows).
void matrix_sumsq(MuonScratch& s, const bf16* x, int64_t K, int64_t m, int64_t n, cudaStream_t stream) {
  launch_row_sumsq(s.rows.data(), x, K * m, n, nullptr, m, 0.0f, 1.0f, stream);
  launch_segment_sum(s.mats.data(), s.rows.data(), K, m, stream);
}

// Steps 3-5 on the stack in s.x; returns the buffer holding the result (s.x or s.x_next).
bf16* orthogonalize(nanochat::cuda::CudaContext& ctx, bf16* x, bf16* x_next, int64_t K, int64_t m, int64_t n,
                    int ns_steps, MuonScratch& s, bool vectorized) {
  cudaStream_t stream = ctx.stream();
  const int64_t total = K * m * n;
  matrix_sumsq(s, x, K, m, n, stream);
  const int64_t row_vecs = vector_count(vectorized && n % detail::kVec == 0, total, {x});
  equilibrate_kernel<<<grid_for(row_vecs > 0 ? row_vecs : total, kThreads), kThreads, 0, stream>>>(
      x, s.rows.data(), s.mats.data(), total, row_vecs, m, n, static_cast<float>(std::sqrt(static_cast<double>(m))));
  NC_CUDA_CHECK_LAUNCH();
  matrix_sumsq(s, x, K, m, n, stream);
  const int64_t mat_vecs = vector_count(vectorized && (m * n) % detail::kVec == 0, total, {x});
  normalize_kernel<<<grid_for(mat_vecs > 0 ? mat_vecs : total, kThreads), kThreads, 0, stream>>>(
      x, s.mats.data(), total, mat_vecs, m * n);
  NC_CUDA_CHECK_LAUNCH();

  using nanochat::cuda::GemmArgs;
  using nanochat::cuda::GemmOut;
  const bool tall = m > n;
  const int64_t side = tall ? n : m;
  for (int it = 0; it < ns_steps; ++it) {
    const auto a = static_cast<float>(optim::kPolarExpressCoeffs[it][0]);
    const auto b = static_cast<float>(optim::kPolarExpressCoeffs[it][1]);
    const auto c = static_cast<float>(optim::kPolarExpressCoeffs[it][2]);
    // A = X^T X (tall) or X X^T.
    GemmArgs gram{.out = s.gram.data(), .out_type = GemmOut::kBF16, .a = x, .trans_a = tall, .b = x,
                  .trans_b = !tall, .M = side, .N = side, .K = tall ? m : n};
    gram.batch = K;
    nanochat::cuda::gemm(ctx, gram);
    // B = b*A + c*A*A.
    GemmArgs poly{.out = s.poly.data(), .out_type = GemmOut::kBF16, .a = s.gram.data(), .b = s.gram.data(),
                  .M = side, .N = side, .K = side, .alpha = c};
    poly.c = s.gram.data();
    poly.beta = b;
    poly.batch = K;
    nanochat::cuda::gemm(ctx, poly);
    // X' = a*X + X*B (tall) or a*X + B*X.
    GemmArgs step{.out = x_next, .out_type = GemmOut::kBF16, .a = tall ? x : s.poly.data(),
                  .b = tall ? s.poly.data() : x, .M = m, .N = n, .K = side};
    step.c = x;
    step.beta = a;
    step.batch = K;
    nanochat::cuda::gemm(ctx, step);
    std::swap(x, x_next);
  }
  return x;
}

void check_stack(int64_t K, int64_t m, int64_t n, int ns_steps, const char* op) {
  ::nanochat::cuda::require(K > 0 && m > 0 && n > 0, op, "needs a non-empty (K, m, n) stack");
  ::nanochat::cuda::require(ns_steps >= 0 && ns_steps <= optim::kPolarExpressSteps, op, "ns_steps must be in [0, 5]");
}

}  // namespace

void adamw_step(float* p, bf16* shadow, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n,
                const AdamWScalars& k, bool bf16_storage, cudaStream_t stream, bool vector_kernels) {
  if (n <= 0) return;
  const int64_t nvec = vector_count(vector_kernels, n, {p, shadow, grad, exp_avg, exp_avg_sq});
  adamw_kernel<<<grid_for(nvec > 0 ? nvec : n, kThreads), kThreads, 0, stream>>>(p, shadow, grad, exp_avg, exp_avg_sq,
                                                                                  n, nvec, k, bf16_storage);
  NC_CUDA_CHECK_LAUNCH();
}

void round_to_bf16(bf16* out, const float* in, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  const int64_t nvec = vector_count(true, n, {out, in});
  round_to_bf16_kernel<<<grid_for(nvec > 0 ? nvec : n, kThreads), kThreads, 0, stream>>>(out, in, n, nvec);
  NC_CUDA_CHECK_LAUNCH();
}

void MuonScratch::reserve(int64_t K, int64_t m, int64_t n) {
  const auto grow = [](auto& buf, int64_t count) {
    if (buf.size() < static_cast<size_t>(count)) buf = std::remove_reference_t<decltype(buf)>(static_cast<size_t>(count));
  };
  const int64_t side = m < n ? m : n, wide = m > n ? m : n;
  grow(x, K * m * n);
  grow(x_next, K * m * n);
  grow(gram, K * side * side);
  grow(poly, K * side * side);
  grow(rows, K * m);
  grow(mats, K);
  grow(stats, K * wide);
}

void muon_orthogonalize(nanochat::cuda::CudaContext& ctx, bf16* x, int64_t K, int64_t m, int64_t n, int ns_steps,
                        MuonScratch& scratch) {
  check_stack(K, m, n, ns_steps, "cuda::muon_orthogonalize");
  scratch.reserve(K, m, n);
  const bf16* result = orthogonalize(ctx, x, scratch.x_next.data(), K, m, n, ns_steps, scratch, /*vectorized=*/true);
  if (result != x)
    NC_CUDA_CHECK(cudaMemcpyAsync(x, result, static_cast<size_t>(K * m * n) * sizeof(bf16), cudaMemcpyDeviceToDevice,
                                  ctx.stream()));
}

void muon_step(nanochat::cuda::CudaContext& ctx, const MuonStackArgs& a, MuonScratch& s) {
  check_stack(a.K, a.m, a.n, a.ns_steps, "cuda::muon_step");
  s.reserve(a.K, a.m, a.n);
  cudaStream_t stream = ctx.stream();
  const int64_t K = a.K, m = a.m, n = a.n, total = K * m * n;
  const int64_t nvec = vector_count(a.vector_kernels, total, {s.x.data(), a.momentum_buffer, a.grads});
  nesterov_kernel<<<grid_for(nvec > 0 ? nvec : total, kThreads), kThreads, 0, stream>>>(
      s.x.data(), a.momentum_buffer, a.grads, total, nvec, a.momentum, 1.0f - a.momentum);
  NC_CUDA_CHECK_LAUNCH();
  const bf16* o = orthogonalize(ctx, s.x.data(), s.x_next.data(), K, m, n, a.ns_steps, s, a.vector_kernels);

  // 6. Muon+: ||O_k||_F -> sqrt(min(m, n)); the factor is applied on the fly (snap()).
  const float target = static_cast<float>(std::sqrt(static_cast<double>(m < n ? m : n)));
  matrix_sumsq(s, o, K, m, n, stream);
  // 7. NorMuon statistics of the renormalized O, then the second moment and the factors.
  const bool per_row = m >= n;
  const int64_t q = per_row ? m : n, reduced = per_row ? n : m;
  if (per_row) {
    launch_row_sumsq(s.stats.data(), o, K * m, n, s.mats.data(), m, target, static_cast<float>(n), stream);
  } else {
    column_stats_kernel<<<grid_for(K * n, kThreads), kThreads, 0, stream>>>(s.stats.data(), o, s.mats.data(), K, m, n,
                                                                            target);
    NC_CUDA_CHECK_LAUNCH();
  }
  normuon_kernel<<<static_cast<unsigned>(K), kThreads, 0, stream>>>(s.stats.data(), a.second_moment, q,
                                                                    static_cast<float>(reduced), 1.0f - a.beta2);
  NC_CUDA_CHECK_LAUNCH();
  // 8. Cautious weight decay and the update.
  const int64_t apply_vecs = vector_count(a.vector_kernels && n % detail::kVec == 0, total,
                                          {a.params, a.shadow, o, per_row ? nullptr : s.stats.data()});
  muon_apply_kernel<<<grid_for(apply_vecs > 0 ? apply_vecs : total, kThreads), kThreads, 0, stream>>>(
      a.params, a.shadow, o, s.mats.data(), s.stats.data(), total, apply_vecs, m, n, per_row, target, a.lr, a.lr_wd);
  NC_CUDA_CHECK_LAUNCH();
}

}  // namespace nanochat::kernels::cuda
