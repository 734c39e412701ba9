// One full GPU training step (forward + backward + MuonAdamW, everything on the device) at the issue's
// configs: random tokens, vocab 32768, T 2048, device batch 32. Times with CUDA events, reports
// tokens/s, MFU (spec §6 FLOPs/token over the device's bf16 peak), the peak device memory and the
// time from process start to the end of the first step. Prints one JSON line.
//   gpu_train_step_bench [--depth 20] [--seq 2048] [--batch 32] [--vocab 32768] [--steps 10]
//                        [--window-pattern L]
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>

#include "nanochat/core/cli.h"
#include "nanochat/core/error.h"
#include "nanochat/kernels/cuda/check.h"
#include "nanochat/model/gpt_cuda.h"
#include "nanochat/model/model_stats.h"
#include "nanochat/optim/muon_adamw_cuda.h"
#include "nanochat/train/init_weights.h"
#include "nanochat/train/peak_flops.h"

using namespace nanochat;

namespace {

const auto kProcessStart = std::chrono::steady_clock::now();

double seconds_since_start() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - kProcessStart).count();
}

size_t device_used_bytes() {
  size_t free_b = 0, total_b = 0;
  NC_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  return total_b - free_b;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t depth = 20, T = 2048, B = 32, vocab = 32768, steps = 10, aspect = 64, head_dim = 128;
  std::string pattern = "L";
  ArgParser p("gpu_train_step_bench", "GPU training step (forward, backward, optimizer) of the GPT.");
  p.add("--depth", &depth, "depth").add("--seq", &T, "sequence length").add("--batch", &B, "batch rows")
      .add("--vocab", &vocab, "vocabulary size").add("--steps", &steps, "timed steps")
      .add("--aspect-ratio", &aspect, "model dim = depth * aspect").add("--head-dim", &head_dim, "head dim")
      .add("--window-pattern", &pattern, "window pattern");
  try {
    if (!p.parse(std::vector<std::string>(argv + 1, argv + argc))) return 0;
    const auto cfg = model::GPTConfig::from_depth(depth, vocab, T, aspect, head_dim, pattern);
    cuda::CudaContext ctx(0);
    const size_t used_before = device_used_bytes();
    model::GptCuda gpu(cfg, ctx);
    {
      // Initial weights as base_train makes them (host init, one upload).
      model::GPT<float> host(cfg);
      train::init_weights(host);
      gpu.upload_params(host.params());
    }
    optim::MuonAdamWCuda opt(gpu.layout(), optim::OptimizerSetup{}, ctx);
    model::CudaActivations acts(cfg, B, T);
    std::mt19937 rng(1);
    std::vector<int64_t> idx(static_cast<size_t>(B * T)), targets(idx.size());
    for (size_t i = 0; i < idx.size(); ++i) {
      idx[i] = static_cast<int64_t>(rng() % static_cast<uint64_t>(vocab));
      targets[i] = static_cast<int64_t>(rng() % static_cast<uint64_t>(vocab));
    }
    cudaEvent_t e0, e1, e2;
    NC_CUDA_CHECK(cudaEventCreate(&e0));
    NC_CUDA_CHECK(cudaEventCreate(&e1));
    NC_CUDA_CHECK(cudaEventCreate(&e2));
    // NANOCHAT_PROFILE=1: the mean device time of each phase of the timed steps, to stderr.
    const char* prof_env = std::getenv("NANOCHAT_PROFILE");
    std::unique_ptr<cuda::PhaseProfiler> prof;
    if (prof_env != nullptr && std::string(prof_env) == "1") prof = std::make_unique<cuda::PhaseProfiler>(ctx.stream());
    float fb_ms = 0, opt_ms = 0;
    auto step = [&] {
      NC_CUDA_CHECK(cudaEventRecord(e0, ctx.stream()));
      gpu.forward_backward(acts, idx.data(), targets.data(), 1.0f);
      NC_CUDA_CHECK(cudaEventRecord(e1, ctx.stream()));
      cuda::profile_mark(prof.get(), "optimizer");
      opt.step(gpu.params(), gpu.grads(), gpu.shadow());
      gpu.zero_grads();
      NC_CUDA_CHECK(cudaEventRecord(e2, ctx.stream()));
      if (prof) prof->end_step();
      const float loss = gpu.read_loss(acts);
      NC_CUDA_CHECK(cudaEventElapsedTime(&fb_ms, e0, e1));
      NC_CUDA_CHECK(cudaEventElapsedTime(&opt_ms, e1, e2));
      return loss;
    };
    const float first_loss = step();
    const double first_step_s = seconds_since_start();
    step();
    if (prof) {
      prof->reset();
      gpu.set_profiler(prof.get());
    }
    std::vector<double> ms, fb, op;
    float loss = 0;
    for (int64_t s = 0; s < steps; ++s) {
      loss = step();
      ms.push_back(fb_ms + opt_ms);
      fb.push_back(fb_ms);
      op.push_back(opt_ms);
    }
    auto median = [](std::vector<double> v) {
      std::sort(v.begin(), v.end());
      return v[v.size() / 2];
    };
    const double med = median(ms);
    const size_t used_after = device_used_bytes();
    cudaDeviceProp prop{};
    NC_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    const double peak = train::peak_bf16_flops(prop.name);
    const double tok_s = static_cast<double>(B * T) / (med / 1e3);
    const double mfu = train::mfu_percent(model::flops_per_token(cfg), B * T, med / 1e3, peak);
    std::printf("{\"impl\": \"nanochat.cpp\", \"device\": \"%s\", \"depth\": %lld, \"n_embd\": %lld, \"window_pattern\": \"%s\", "
                "\"B\": %lld, \"T\": %lld, \"params\": %zu, \"step_ms_median\": %.2f, \"fwd_bwd_ms\": %.2f, \"optim_ms\": %.2f, "
                "\"tokens_per_s\": %.0f, \"mfu_percent\": %.1f, \"device_mem_gib\": %.2f, \"activations_gib\": %.2f, "
                "\"launch_to_first_step_s\": %.2f, \"first_loss\": %.4f, \"last_loss\": %.4f}\n",
                prop.name, static_cast<long long>(depth), static_cast<long long>(cfg.n_embd), pattern.c_str(),
                static_cast<long long>(B), static_cast<long long>(T), gpu.layout().num_parameters(), med, median(fb),
                median(op), tok_s, mfu, static_cast<double>(used_after - used_before) / (1 << 30),
                static_cast<double>(acts.bytes()) / (1 << 30), first_step_s, static_cast<double>(first_loss),
                static_cast<double>(loss));
    if (prof) prof->report(stderr);
    return 0;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
