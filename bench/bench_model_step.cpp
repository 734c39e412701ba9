// CPU training step of the fp32 reference GPT (forward + backward), Google Benchmark. Reports
// tokens/s; shapes are small enough for the 2-core dev box. Not a test: figures go to RESULTS.md.
#include <benchmark/benchmark.h>

#include <random>

#include "nanochat/model/gpt.h"

namespace {

using nanochat::model::Activations;
using nanochat::model::GPT;
using nanochat::model::GPTConfig;

// depth, n_embd/head_dim from the base_train rule (aspect 64, head_dim 64), vocab 8192, T 256, B 4.
void BM_TrainStep(benchmark::State& state) {
  const int64_t depth = state.range(0), B = 4, T = 256;
  const GPTConfig c = GPTConfig::from_depth(depth, 8192, T, 64, 64, "SSSL");
  GPT<float> model(c);
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  for (float& x : model.params()) x = normal(rng);
  std::vector<int64_t> idx(static_cast<size_t>(B * T)), targets(idx.size());
  for (size_t i = 0; i < idx.size(); ++i) {
    idx[i] = static_cast<int64_t>(rng() % 8192);
    targets[i] = static_cast<int64_t>(rng() % 8192);
  }
  Activations<float> acts(c, B, T);
  for (auto _ : state) {
    model.zero_grads();
    benchmark::DoNotOptimize(model.forward(acts, idx.data(), targets.data()));
    model.backward(acts);
  }
  state.counters["tok/s"] = benchmark::Counter(static_cast<double>(B * T), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["params"] = static_cast<double>(model.layout().num_parameters());
}
BENCHMARK(BM_TrainStep)->Arg(2)->Arg(4)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
