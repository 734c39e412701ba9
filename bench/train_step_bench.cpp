// One full CPU training step of the fp32 reference (forward + backward + MuonAdamW), the figure the
// issue compares with PyTorch's CPU step of the original model at the same config. Prints JSON.
//   train_step_bench [--depth 4] [--seq 512] [--batch 8] [--vocab 32768] [--steps 10] [--window-pattern SSSL]
//                    [--fuse-lm-head-backward 1]
// With NANOCHAT_PROFILE=1 it also prints the mean time per step of each phase (fwd.*, bwd.*, optim.*) to stderr.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>

#include "nanochat/core/cli.h"
#include "nanochat/core/error.h"
#include "nanochat/kernels/cpu/gemm.h"
#include "nanochat/kernels/cpu/profile.h"
#include "nanochat/model/gpt.h"
#include "nanochat/optim/muon_adamw.h"
#include "nanochat/train/init_weights.h"

using namespace nanochat;

int main(int argc, char** argv) {
  int64_t depth = 4, T = 512, B = 8, vocab = 32768, steps = 10, aspect = 64, head_dim = 128;
  std::string pattern = "SSSL";
  int64_t fuse_lm_head = 1;
  ArgParser p("train_step_bench", "CPU training step (forward, backward, optimizer) of the reference GPT.");
  p.add("--depth", &depth, "depth").add("--seq", &T, "sequence length").add("--batch", &B, "batch rows")
      .add("--vocab", &vocab, "vocabulary size").add("--steps", &steps, "timed steps")
      .add("--aspect-ratio", &aspect, "model dim = depth * aspect").add("--head-dim", &head_dim, "head dim")
      .add("--window-pattern", &pattern, "window pattern")
      .add("--fuse-lm-head-backward", &fuse_lm_head, "1: the forward also runs lm_head's backward (a training step's setting); 0: the backward recomputes the logits");
  try {
    if (!p.parse(std::vector<std::string>(argv + 1, argv + argc))) return 0;
    const auto cfg = model::GPTConfig::from_depth(depth, vocab, T, aspect, head_dim, pattern);
    model::GPT<float> gpt(cfg);
    train::init_weights(gpt);
    optim::MuonAdamW opt(gpt.layout(), optim::OptimizerSetup{});
    std::mt19937 rng(1);
    std::vector<int64_t> idx(static_cast<size_t>(B * T)), targets(idx.size());
    for (size_t i = 0; i < idx.size(); ++i) {
      idx[i] = static_cast<int64_t>(rng() % static_cast<uint64_t>(vocab));
      targets[i] = static_cast<int64_t>(rng() % static_cast<uint64_t>(vocab));
    }
    model::Activations<float> acts(cfg, B, T);
    acts.fuse_lm_head_backward = fuse_lm_head != 0;
    auto step = [&] {
      gpt.zero_grads();
      const float loss = gpt.forward(acts, idx.data(), targets.data());
      gpt.backward(acts);
      opt.step(gpt.params(), gpt.grads());
      return loss;
    };
    step();
    step();
    kernels::cpu::profile::reset();  // the breakdown (NANOCHAT_PROFILE=1) covers the timed steps only
    std::vector<double> secs;
    float loss = 0;
    for (int64_t s = 0; s < steps; ++s) {
      const auto t0 = std::chrono::steady_clock::now();
      loss = step();
      secs.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(secs.begin(), secs.end());
    const double med = secs[secs.size() / 2];
    std::printf("{\"impl\": \"nanochat.cpp\", \"blas_core\": \"%s\", \"threads\": %d, \"depth\": %lld, \"n_embd\": %lld, \"B\": %lld, \"T\": %lld, \"params\": %zu, "
                "\"fuse_lm_head_backward\": %d, \"step_ms_median\": %.2f, \"tokens_per_s\": %.1f, \"last_loss\": %.4f}\n",
                kernels::cpu::blas_core_name(), omp_get_max_threads(), static_cast<long long>(depth), static_cast<long long>(cfg.n_embd), static_cast<long long>(B),
                static_cast<long long>(T), gpt.layout().num_parameters(), static_cast<int>(fuse_lm_head != 0), med * 1e3,
                static_cast<double>(B * T) / med, static_cast<double>(loss));
    if (kernels::cpu::profile::enabled()) kernels::cpu::profile::report(stderr, static_cast<int>(steps));
    return 0;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
