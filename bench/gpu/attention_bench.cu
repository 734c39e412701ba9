// Flash attention forward/backward timings (kernels/cuda/attention.h) on the GPT's training shapes.
// FLOP convention (printed with the results): only visible (causal, windowed) score entries count;
// forward = 4 * d * visible_pairs * B * H (two products), backward = 2.5 x forward (five products),
// the usual flash-attention accounting, which is also what the backward runs. "kt64" and "kt128" are
// the backward with its key tile pinned (the default picks by window).
// "fwd-kernels" lines: the head_dim 128 forward kernels pinned (attention_forward_tiled_kernel), best of two
// interleaved timings each, for A/B comparison in one process.
//   attention_bench [iters]
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "nanochat/kernels/cuda/attention.h"
#include "nanochat/kernels/cuda/check.h"
#include "event_timing.cuh"
#include "random_fill.cuh"

namespace {

using nanochat::bench::time_ms;

using nanochat::kernels::cuda::bf16;

struct Case {
  const char* name;
  int64_t B, T, H, Hk, d, window;
};

double visible_pairs(int64_t T, int64_t window) {
  double n = 0;
  for (int64_t i = 0; i < T; ++i) n += static_cast<double>(i - std::max<int64_t>(0, i - window) + 1);
  return n;
}


}  // namespace

int main(int argc, char** argv) {
  const int iters = argc > 1 ? std::atoi(argv[1]) : 10;
  cudaDeviceProp prop{};
  NC_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  std::printf("attention_bench on %s; FLOPs count visible pairs only: fwd = 4*d*pairs*B*H, bwd = 2.5*fwd\n",
              prop.name);
  const std::vector<Case> cases = {
      {"d20 full", 32, 2048, 10, 10, 128, 2048}, {"d20 w1024", 32, 2048, 10, 10, 128, 1024},
      {"d20 w512(S)", 32, 2048, 10, 10, 128, 512}, {"d12 full", 32, 2048, 6, 6, 128, 2048},
      {"d12 w1024", 32, 2048, 6, 6, 128, 1024},   {"d12 w512(S)", 32, 2048, 6, 6, 128, 512},
      {"d6 hd64 full", 32, 512, 6, 6, 64, 512},
  };
  cudaStream_t stream;
  NC_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  for (const Case& c : cases) {
    const int64_t nq = c.B * c.T * c.H * c.d, nkv = c.B * c.T * c.Hk * c.d;
    bf16 *q, *k, *v, *y, *gy, *gq, *gk, *gv;
    float* lse;
    for (bf16** p : {&q, &y, &gy, &gq}) NC_CUDA_CHECK(cudaMalloc(p, static_cast<size_t>(nq) * sizeof(bf16)));
    for (bf16** p : {&k, &v, &gk, &gv}) NC_CUDA_CHECK(cudaMalloc(p, static_cast<size_t>(nkv) * sizeof(bf16)));
    NC_CUDA_CHECK(cudaMalloc(&lse, static_cast<size_t>(c.B * c.H * c.T) * sizeof(float)));
    nanochat::bench::fill_random_bf16<<<1024, 256, 0, stream>>>(q, nq, 1, 2.0f);
    nanochat::bench::fill_random_bf16<<<1024, 256, 0, stream>>>(k, nkv, 2, 2.0f);
    nanochat::bench::fill_random_bf16<<<1024, 256, 0, stream>>>(v, nkv, 3, 1.0f);
    nanochat::bench::fill_random_bf16<<<1024, 256, 0, stream>>>(gy, nq, 4, 1.0f);
    const nanochat::kernels::cpu::AttentionShape s{c.B, c.T, c.H, c.Hk, c.d, c.T, c.T, 0, c.window};
    const float fwd_ms = time_ms([&] { nanochat::kernels::cuda::attention_forward(y, lse, q, k, v, s, stream); },
                                 iters, stream);
    const float bwd_ms = time_ms(
        [&] { nanochat::kernels::cuda::attention_backward(gq, gk, gv, gy, q, k, v, y, lse, s, stream); }, iters,
        stream);
    const float bwd64_ms = time_ms([&] {
      nanochat::kernels::cuda::attention_backward_key_tile(gq, gk, gv, gy, q, k, v, y, lse, s, 64, stream);
    }, iters, stream);
    const float bwd128_ms = time_ms([&] {
      nanochat::kernels::cuda::attention_backward_key_tile(gq, gk, gv, gy, q, k, v, y, lse, s, 128, stream);
    }, iters, stream);
    const double fwd_flops = 4.0 * static_cast<double>(c.d) * visible_pairs(c.T, c.window) * static_cast<double>(c.B * c.H);
    if (c.d == 128) {
      // The pinned head_dim 128 forward kernels, timed twice each in turns (the better of two).
      using nanochat::kernels::cuda::AttentionForwardKernel;
      const AttentionForwardKernel kernels[] = {AttentionForwardKernel::kWgmma, AttentionForwardKernel::kWarpSpecialized,
                                                AttentionForwardKernel::kWarpSpecializedPersistent};
      const char* names[] = {"wgmma", "ws", "wsp"};
      constexpr int kKernels = 3;
      float best[kKernels] = {1e30f, 1e30f, 1e30f};
      for (int round = 0; round < 2; ++round)
        for (int i = 0; i < kKernels; ++i)
          best[i] = std::min(best[i], time_ms([&] {
                               nanochat::kernels::cuda::attention_forward_tiled_kernel(y, lse, q, k, v, s, kernels[i],
                                                                                       stream);
                             }, iters, stream));
      std::printf("fwd-kernels %-14s", c.name);
      for (int i = 0; i < kKernels; ++i)
        std::printf(" | %s %7.3f ms %6.1f TFLOP/s", names[i], best[i], fwd_flops / (best[i] * 1e-3) / 1e12);
      std::printf("\n");
    }
    std::printf("%-14s B=%ld T=%ld H=%ld Hk=%ld d=%ld w=%ld | fwd %8.3f ms %6.1f TFLOP/s | bwd %8.3f ms %6.1f TFLOP/s | kt64 %7.3f kt128 %7.3f ms\n",
                c.name, static_cast<long>(c.B), static_cast<long>(c.T), static_cast<long>(c.H),
                static_cast<long>(c.Hk), static_cast<long>(c.d), static_cast<long>(c.window), fwd_ms,
                fwd_flops / (fwd_ms * 1e-3) / 1e12, bwd_ms, 2.5 * fwd_flops / (bwd_ms * 1e-3) / 1e12, bwd64_ms,
                bwd128_ms);
    for (bf16* p : {q, k, v, y, gy, gq, gk, gv}) NC_CUDA_CHECK(cudaFree(p));
    NC_CUDA_CHECK(cudaFree(lse));
  }
  // Decoding one token per row against a full 2048-position cache: tiled vs split-KV path.
  for (int64_t B : {1, 32}) {
    const int64_t H = 10, d = 128, Tmax = 2048;
    const nanochat::kernels::cpu::AttentionShape s{B, 1, H, H, d, Tmax, Tmax, Tmax - 1, Tmax};
    bf16 *q, *k, *v, *y;
    float* lse;
    NC_CUDA_CHECK(cudaMalloc(&q, static_cast<size_t>(B * H * d) * sizeof(bf16)));
    NC_CUDA_CHECK(cudaMalloc(&y, static_cast<size_t>(B * H * d) * sizeof(bf16)));
    NC_CUDA_CHECK(cudaMalloc(&k, static_cast<size_t>(B * Tmax * H * d) * sizeof(bf16)));
    NC_CUDA_CHECK(cudaMalloc(&v, static_cast<size_t>(B * Tmax * H * d) * sizeof(bf16)));
    NC_CUDA_CHECK(cudaMalloc(&lse, static_cast<size_t>(B * H) * sizeof(float)));
    nanochat::bench::fill_random_bf16<<<1024, 256, 0, stream>>>(q, B * H * d, 5, 2.0f);
    nanochat::bench::fill_random_bf16<<<1024, 256, 0, stream>>>(k, B * Tmax * H * d, 6, 2.0f);
    nanochat::bench::fill_random_bf16<<<1024, 256, 0, stream>>>(v, B * Tmax * H * d, 7, 1.0f);
    const float tiled_ms = time_ms(
        [&] { nanochat::kernels::cuda::attention_forward_tiled(y, lse, q, k, v, s, stream); }, iters * 10, stream);
    const float decode_ms = time_ms(
        [&] { nanochat::kernels::cuda::attention_forward_decode(y, lse, q, k, v, s, stream); }, iters * 10, stream);
    const double gbytes = 2.0 * static_cast<double>(B * Tmax * H * d) * sizeof(bf16) / 1e9;
    std::printf("decode B=%ld Tq=1 H=Hk=%ld d=%ld Tk=%ld | tiled %7.1f us | split-KV %7.1f us (%6.0f GB/s of K+V)\n",
                static_cast<long>(B), static_cast<long>(H), static_cast<long>(d), static_cast<long>(Tmax),
                tiled_ms * 1e3, decode_ms * 1e3, gbytes / (decode_ms * 1e-3));
    for (bf16* p : {q, k, v, y}) NC_CUDA_CHECK(cudaFree(p));
    NC_CUDA_CHECK(cudaFree(lse));
  }
  NC_CUDA_CHECK(cudaStreamDestroy(stream));
  return 0;
}
