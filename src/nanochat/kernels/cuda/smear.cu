// Smear of the previous token's embedding (spec §3.2 step 3, §4.6): out[t] = xn[t] + lambda *
// sigmoid(xn[t][0:24] . w) * xn[t-1]. One block per row; the gate's 24-term dot product runs in
// warp 0. The gate weight and lambda gradients use the deterministic two-pass reduction.
#include "nanochat/kernels/cuda/check.h"
#include "nanochat/kernels/cuda/device_math.cuh"
#include "nanochat/kernels/cuda/ops.h"
#include "nanochat/kernels/cuda/reduce.h"
#include "nanochat/kernels/ops.h"

namespace nanochat::kernels::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kGate = static_cast<int>(kSmearGateChannels);
static_assert(kGate <= 32, "the smear gate's dot product runs in one warp");

// sigmoid(xr[0:24] . w), computed by warp 0 and shared with the block (a uniform call: it syncs).
__device__ float gate_sigmoid(const bf16* xr, const bf16* w, float* shared_value) {
  if (threadIdx.x < 32) {
    const int lane = threadIdx.x;
    float z = lane < kGate ? detail::load(xr[lane]) * detail::load(w[lane]) : 0.0f;
    z = detail::warp_sum(z);
    if (lane == 0) *shared_value = 1.0f / (1.0f + expf(-z));
  }
  __syncthreads();
  return *shared_value;
}

// prev == nullptr: training layout, the previous row is row r-1 of the same sequence (none at t = 0).
// prev != nullptr: decode, the previous token's embedding is row r of prev.
__global__ void smear_forward_kernel(bf16* out, float* sig, const bf16* xn, const bf16* prev, const bf16* w,
                                     const float* lambda, int64_t T, int64_t C) {
  __shared__ float s_shared;
  const int64_t r = blockIdx.x;
  const bf16* xr = xn + r * C;
  bf16* outr = out + r * C;
  const bool first = prev == nullptr && r % T == 0;
  if (first) {  // uniform across the block
    if (sig != nullptr && threadIdx.x == 0) sig[r] = 0.0f;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) outr[c] = xr[c];
    return;
  }
  const float s = gate_sigmoid(xr, w, &s_shared);
  if (sig != nullptr && threadIdx.x == 0) sig[r] = s;
  const float gate = *lambda * s;
  const bf16* pr = prev != nullptr ? prev + r * C : xr - C;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x)
    outr[c] = detail::to_bf16(detail::load(xr[c]) + gate * detail::load(pr[c]));
}

// Per row: dg = gout[r] . xn[r-1]; gz[r] = dg*lambda*s*(1-s) (the gate pre-activation's gradient),
// dgs[r] = dg*s (lambda's); and gxn[r] = gout[r] + lambda*sig[r+1]*gout[r+1] + gz[r]*w (first 24).
__global__ void smear_backward_rows_kernel(bf16* gxn, float* gz, float* dgs, const float* gout, const bf16* xn,
                                           const float* sig, const bf16* w, const float* lambda, int64_t T,
                                           int64_t C) {
  __shared__ float scratch[32];
  const int64_t r = blockIdx.x, t = r % T;
  const float lam = *lambda;
  const float* go = gout + r * C;
  float g_pre = 0.0f;
  if (t >= 1) {  // uniform across the block
    const bf16* xp = xn + (r - 1) * C;
    float dot = 0.0f;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) dot += go[c] * detail::load(xp[c]);
    const float dg = detail::block_sum(dot, scratch);
    const float s = sig[r];
    g_pre = dg * lam * s * (1.0f - s);
    if (threadIdx.x == 0) dgs[r] = dg * s;
  } else if (threadIdx.x == 0) {
    dgs[r] = 0.0f;
  }
  if (threadIdx.x == 0) gz[r] = g_pre;
  const bool has_next = t + 1 < T;
  const float gate_next = has_next ? lam * sig[r + 1] : 0.0f;
  bf16* gx = gxn + r * C;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    float v = go[c];
    if (has_next) v += gate_next * go[C + c];
    if (c < kGate) v += g_pre * detail::load(w[c]);
    gx[c] = detail::to_bf16(v);
  }
}

void check_width(const char* op, int64_t C) {
  ::nanochat::cuda::require(C >= kGate, op, "the row width must cover the 24 gate channels");
}

}  // namespace

void smear_forward(bf16* out, float* sig, const bf16* xn, const bf16* w, const float* lambda, int64_t B, int64_t T,
                   int64_t C, cudaStream_t stream) {
  if (B <= 0 || T <= 0) return;
  check_width("smear_forward", C);
  smear_forward_kernel<<<static_cast<unsigned>(B * T), kThreads, 0, stream>>>(out, sig, xn, nullptr, w, lambda, T,
                                                                              C);
  NC_CUDA_CHECK_LAUNCH();
}

void smear_step(bf16* out, const bf16* xn, const bf16* prev, const bf16* w, const float* lambda, int64_t rows,
                int64_t C, cudaStream_t stream) {
  if (rows <= 0) return;
  check_width("smear_step", C);
  ::nanochat::cuda::require(prev != nullptr, "smear_step", "needs the previous token's embedding");
  smear_forward_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(out, nullptr, xn, prev, w, lambda, 1,
                                                                             C);
  NC_CUDA_CHECK_LAUNCH();
}

void smear_backward(bf16* gxn, float* gw, float* g_lambda, const float* gout, const bf16* xn, const float* sig,
                    const bf16* w, const float* lambda, int64_t B, int64_t T, int64_t C, cudaStream_t stream) {
  if (B <= 0 || T <= 0) return;
  check_width("smear_backward", C);
  const int64_t rows = B * T;
  // Scratch: gz and dgs per row, then the partial sums of the 24 gate weights and of lambda.
  const size_t rows_floats = static_cast<size_t>(rows);
  detail::StreamScratch scratch((2 * rows_floats + (kGate + 1) * size_t{detail::kPartials}) * sizeof(float), stream);
  float* gz = scratch.floats();
  float* dgs = scratch.floats(rows_floats);
  float* partials = scratch.floats(2 * rows_floats);
  smear_backward_rows_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(gxn, gz, dgs, gout, xn, sig, w,
                                                                                   lambda, T, C);
  NC_CUDA_CHECK_LAUNCH();
  detail::weighted_column_partials(partials, gz, 1, xn, C, kGate, rows, stream);
  detail::weighted_column_partials(partials + kGate * detail::kPartials, dgs, 1, nullptr, 0, 1, rows, stream);
  detail::finish_partials(gw, partials, kGate, 1.0f, stream);
  detail::finish_partials(g_lambda, partials + kGate * detail::kPartials, 1, 1.0f, stream);
}

}  // namespace nanochat::kernels::cuda
