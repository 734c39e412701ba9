// The MLP's two relu^2 GEMMs on the GPT's training shapes (M = B*T = 65536): cuBLASLt alone, the
// current path (cuBLASLt + the relu^2 pass of mlp.cu), our GEMM alone (plain store) and our fused
// kernels (mlp_gemm.h). TFLOP/s count the product's 2*M*N*K only, over each variant's whole time.
// Before timing, our plain products are compared element by element with cuBLASLt's (at most one bf16
// step apart is expected: another accumulation order).
//   mlp_gemm_bench [iters] [M]
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "nanochat/kernels/cuda/check.h"
#include "nanochat/kernels/cuda/context.h"
#include "nanochat/kernels/cuda/linear.h"
#include "nanochat/kernels/cuda/mlp_gemm.h"
#include "nanochat/kernels/cuda/ops.h"
#include "event_timing.cuh"
#include "random_fill.cuh"

namespace {

namespace kc = nanochat::kernels::cuda;
using kc::bf16;

// Three untimed calls first (shared-memory configuration, cuBLASLt plans, tensor maps).
template <class F>
float time_ms(F&& f, int iters, cudaStream_t stream) {
  return nanochat::bench::time_ms(f, iters, stream, 3);
}


float bf16_value(uint16_t b) {
  const uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Elements of `got` further than one bf16 step (plus a small absolute slack) from `want`, and the
// fraction bitwise equal.
void compare(const char* what, const bf16* got, const bf16* want, int64_t n) {
  std::vector<uint16_t> g(static_cast<size_t>(n)), w(static_cast<size_t>(n));
  NC_CUDA_CHECK(cudaMemcpy(g.data(), got, g.size() * 2, cudaMemcpyDeviceToHost));
  NC_CUDA_CHECK(cudaMemcpy(w.data(), want, w.size() * 2, cudaMemcpyDeviceToHost));
  size_t far = 0, equal = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    const float a = bf16_value(g[i]), b = bf16_value(w[i]);
    equal += g[i] == w[i];
    far += !(std::fabs(a - b) <= std::ldexp(std::fabs(b), -7) + 1e-3f);
  }
  std::printf("  check %-28s: %zu elements beyond one bf16 step, %.4f bitwise equal\n", what, far,
              static_cast<double>(equal) / static_cast<double>(g.size()));
}

void row(const char* name, float ms, double flops, float base_ms) {
  std::printf("  %-34s %8.3f ms %7.1f TFLOP/s  (%.3fx the current path)\n", name, ms, flops / (ms * 1e-3) / 1e12,
              base_ms / ms);
}

void run_shape(nanochat::cuda::CudaContext& ctx, const char* name, int64_t M, int64_t C, int iters) {
  const int64_t N = 4 * C, K = C;
  cudaStream_t st = ctx.stream();
  bf16 *x, *w_fc, *w_proj, *u, *a, *g;
  for (bf16** p : {&u, &a}) NC_CUDA_CHECK(cudaMalloc(p, static_cast<size_t>(M * N) * sizeof(bf16)));
  for (bf16** p : {&x, &g}) NC_CUDA_CHECK(cudaMalloc(p, static_cast<size_t>(M * K) * sizeof(bf16)));
  for (bf16** p : {&w_fc, &w_proj}) NC_CUDA_CHECK(cudaMalloc(p, static_cast<size_t>(N * K) * sizeof(bf16)));
  nanochat::bench::fill_random_bf16<<<1024, 256, 0, st>>>(x, M * K, 1, 2.0f);
  nanochat::bench::fill_random_bf16<<<1024, 256, 0, st>>>(g, M * K, 2, 1.0f);
  nanochat::bench::fill_random_bf16<<<1024, 256, 0, st>>>(w_fc, N * K, 3, 0.05f);
  nanochat::bench::fill_random_bf16<<<1024, 256, 0, st>>>(w_proj, N * K, 4, 0.05f);
  const double flops = 2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K);
  std::printf("%s: M=%ld N=%ld K=%ld (%.1f GFLOP per product)\n", name, static_cast<long>(M), static_cast<long>(N),
              static_cast<long>(K), flops / 1e9);

  // Correctness of our products at full size against cuBLASLt.
  nanochat::cuda::linear_forward(ctx, u, x, w_fc, M, N, K);
  kc::mlp_gemm_plain(a, x, w_fc, false, M, N, K, st);
  NC_CUDA_CHECK(cudaStreamSynchronize(st));
  compare("fwd u (B = W_fc, K-major)", a, u, M * N);
  nanochat::cuda::linear_backward_input(ctx, u, g, w_proj, M, K, N, false);
  kc::mlp_gemm_plain(a, g, w_proj, true, M, N, K, st);
  NC_CUDA_CHECK(cudaStreamSynchronize(st));
  compare("bwd G (B = W_proj, MN-major)", a, u, M * N);

  // Forward.
  const float f_lt = time_ms([&] { nanochat::cuda::linear_forward(ctx, u, x, w_fc, M, N, K); }, iters, st);
  const float f_cur = time_ms([&] {
    nanochat::cuda::linear_forward(ctx, u, x, w_fc, M, N, K);
    kc::relu2_forward(a, u, M * N, st);
  }, iters, st);
  const float f_own = time_ms([&] { kc::mlp_gemm_plain(u, x, w_fc, false, M, N, K, st); }, iters, st);
  const float f_fused = time_ms([&] { kc::fc_relu2_forward(u, a, x, w_fc, M, N, K, st); }, iters, st);
  std::printf(" forward  u = h2 W_fc^T, a = relu(u)^2\n");
  row("cuBLASLt GEMM alone", f_lt, flops, f_cur);
  row("cuBLASLt GEMM + relu2_forward", f_cur, flops, f_cur);
  row("ours GEMM alone (plain store)", f_own, flops, f_cur);
  row("ours fused fc_relu2_forward", f_fused, flops, f_cur);

  // Backward (u is overwritten with relu(u)^2 every call, as in the model; timing does not depend on it).
  const float b_lt =
      time_ms([&] { nanochat::cuda::linear_backward_input(ctx, a, g, w_proj, M, K, N, false); }, iters, st);
  const float b_cur = time_ms([&] {
    nanochat::cuda::linear_backward_input(ctx, a, g, w_proj, M, K, N, false);
    kc::relu2_backward_with_forward(a, u, a, u, M * N, st);
  }, iters, st);
  const float b_own = time_ms([&] { kc::mlp_gemm_plain(a, g, w_proj, true, M, N, K, st); }, iters, st);
  const float b_fused = time_ms([&] { kc::mlp_proj_input_grad_relu2(a, u, g, w_proj, M, N, K, st); }, iters, st);
  std::printf(" backward G = g W_proj, g_u = relu2_grad(G, u), u = relu(u)^2\n");
  row("cuBLASLt GEMM alone", b_lt, flops, b_cur);
  row("cuBLASLt GEMM + relu2_backward_w_fwd", b_cur, flops, b_cur);
  row("ours GEMM alone (plain store)", b_own, flops, b_cur);
  row("ours fused mlp_proj_input_grad_relu2", b_fused, flops, b_cur);
  for (bf16* p : {x, w_fc, w_proj, u, a, g}) NC_CUDA_CHECK(cudaFree(p));
}

}  // namespace

int main(int argc, char** argv) {
  const int iters = argc > 1 ? std::atoi(argv[1]) : 20;
  const int64_t M = argc > 2 ? std::atoll(argv[2]) : 65536;
  cudaDeviceProp prop{};
  NC_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  std::printf("mlp_gemm_bench on %s (%d SMs), %d timed repetitions after 3 warm-up calls\n", prop.name,
              prop.multiProcessorCount, iters);
  nanochat::cuda::CudaContext ctx(0);
  run_shape(ctx, "d12", M, 768, iters);
  run_shape(ctx, "d20", M, 1280, iters);
  return 0;
}
