// One full MuonAdamWCuda step (every AdamW and Muon group) at d12 and d20 (vocab 32768, seq 2048,
// aspect 64, head_dim 128), timed with CUDA events after two warm-up steps (which build the GEMM
// plans). Usage: optimizer_bench [steps=10] [depths...]
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "nanochat/kernels/cuda/check.h"
#include "nanochat/kernels/cuda/context.h"
#include "nanochat/kernels/cuda/device_buffer.h"
#include "nanochat/model/config.h"
#include "nanochat/model/param_layout.h"
#include "nanochat/optim/muon_adamw_cuda.h"

namespace {

using namespace nanochat;

// Fills a device slab with a random block of 1M values tiled over it (the values only need a
// realistic scale; generating a billion on the host would dominate the run).
void fill_random(cuda::DeviceBuffer<float>& buf, float stddev, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, stddev);
  std::vector<float> block(size_t{1} << 20);
  for (float& v : block) v = dist(rng);
  for (size_t off = 0; off < buf.size(); off += block.size()) {
    const size_t n = std::min(block.size(), buf.size() - off);
    NC_CUDA_CHECK(cudaMemcpy(buf.data() + off, block.data(), n * sizeof(float), cudaMemcpyHostToDevice));
  }
  NC_CUDA_CHECK(cudaDeviceSynchronize());
}

void bench_depth(cuda::CudaContext& ctx, int64_t depth, int steps) {
  const model::GPTConfig config = model::GPTConfig::from_depth(depth, 32768, 2048);
  const model::ParamLayout layout(config);
  const size_t total = layout.total_floats();
  cuda::DeviceBuffer<float> params(total), grads(total);
  cuda::DeviceBuffer<__nv_bfloat16> shadow(total);
  fill_random(params, 0.02f, 1);
  fill_random(grads, 1e-2f, 2);
  // NANOCHAT_OPTIMIZER_OVERLAP=0: the AdamW groups on the context's stream too (A/B of the side stream).
  const char* overlap_env = std::getenv("NANOCHAT_OPTIMIZER_OVERLAP");
  const bool overlap = overlap_env == nullptr || std::string(overlap_env) != "0";
  optim::MuonAdamWCuda opt(layout, optim::OptimizerSetup{}, ctx, {.overlap_adamw = overlap});
  opt.refresh_shadow(params.data(), shadow.data());
  for (int i = 0; i < 2; ++i) opt.step(params.data(), grads.data(), shadow.data());
  ctx.synchronize();

  cudaEvent_t start, stop;
  NC_CUDA_CHECK(cudaEventCreate(&start));
  NC_CUDA_CHECK(cudaEventCreate(&stop));
  std::vector<float> times;
  for (int i = 0; i < steps; ++i) {
    NC_CUDA_CHECK(cudaEventRecord(start, ctx.stream()));
    opt.step(params.data(), grads.data(), shadow.data());
    NC_CUDA_CHECK(cudaEventRecord(stop, ctx.stream()));
    NC_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    NC_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    times.push_back(ms);
  }
  std::sort(times.begin(), times.end());
  const float full_ms = times[times.size() / 2];
  // Where the time goes: each Muon group's step alone and its orthogonalization (MuonEq +
  // normalization + Polar Express, GEMM-bound) alone, on scratch state of the group's shape.
  double muon_ms = 0;
  for (const auto& g : layout.groups()) {
    if (g.kind != model::OptimKind::Muon) continue;
    const auto K = static_cast<int64_t>(g.params.size());
    const int64_t side = std::min(g.rows, g.cols), other = std::max(g.rows, g.cols);
    cuda::DeviceBuffer<float> momentum(static_cast<size_t>(K * g.rows * g.cols)), second(static_cast<size_t>(K * other));
    momentum.fill_bytes(0);
    second.fill_bytes(0);
    cuda::DeviceBuffer<__nv_bfloat16> x(static_cast<size_t>(K * g.rows * g.cols));
    kernels::cuda::MuonScratch scratch;
    kernels::cuda::MuonStackArgs a;
    a.params = params.data() + g.offset;
    a.shadow = shadow.data() + g.offset;
    a.grads = grads.data() + g.offset;
    a.momentum_buffer = momentum.data();
    a.second_moment = second.data();
    a.K = K;
    a.m = g.rows;
    a.n = g.cols;
    a.lr = 1e-4f;
    const auto time_it = [&](auto&& fn) {
      fn();  // warm-up (plans)
      NC_CUDA_CHECK(cudaEventRecord(start, ctx.stream()));
      for (int i = 0; i < 5; ++i) fn();
      NC_CUDA_CHECK(cudaEventRecord(stop, ctx.stream()));
      NC_CUDA_CHECK(cudaEventSynchronize(stop));
      float ms = 0;
      NC_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
      return ms / 5;
    };
    const float step_ms = time_it([&] { kernels::cuda::muon_step(ctx, a, scratch); });
    kernels::cuda::round_to_bf16(x.data(), grads.data() + g.offset, K * g.rows * g.cols, ctx.stream());
    const float ortho_ms = time_it([&] { kernels::cuda::muon_orthogonalize(ctx, x.data(), K, g.rows, g.cols, 5, scratch); });
    const double flops = 5.0 * static_cast<double>(K) * (4.0 * side * side * other + 2.0 * side * side * side);
    std::printf("  %-16s K=%-3lld step %.3f ms, orthogonalize %.3f ms (Polar Express GEMMs %.1f TFLOP/s)\n",
                g.label.c_str(), static_cast<long long>(K), step_ms, ortho_ms, flops / (ortho_ms * 1e-3) / 1e12);
    muon_ms += step_ms;
  }
  std::printf("  Muon groups alone %.3f ms; AdamW groups and the rest %.3f ms\n", muon_ms, full_ms - muon_ms);
  size_t muon_groups = 0;
  for (const auto& g : layout.groups()) muon_groups += g.kind == model::OptimKind::Muon ? 1 : 0;
  std::printf("optimizer_bench d%lld%s: %zu params (%zu Muon groups), step median %.3f ms, min %.3f ms, max %.3f ms\n",
              static_cast<long long>(depth), overlap ? "" : " (AdamW on the main stream)", layout.num_parameters(),
              muon_groups, times[times.size() / 2],
              times.front(), times.back());
  NC_CUDA_CHECK(cudaEventDestroy(start));
  NC_CUDA_CHECK(cudaEventDestroy(stop));
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const int steps = argc > 1 ? std::max(1, std::atoi(argv[1])) : 10;
    std::vector<int64_t> depths;
    for (int i = 2; i < argc; ++i) depths.push_back(std::atoll(argv[i]));
    if (depths.empty()) depths = {12, 20};
    cuda::CudaContext ctx;
    for (int64_t d : depths) bench_depth(ctx, d, steps);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "optimizer_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
