// Split-KV decode attention (kernels/cuda/inference_ops.h decode_attention) on the d20 decode shapes, for
// choosing the key chunk per block: H = Hk = 10, d = 128, a 768-token cache, the query at position P.
// One call per layer for 20 layers (distinct caches, more than L2 holds at batch 32), captured in a CUDA
// graph as a decode step replays them; the time per call is the graph's time over 20. Bytes: the K and V
// rows each call must read (B * Hk * (P + 1) * d * 2 * 2) plus q and y.
//   decode_attention_bench [position P = 639] [replays = 50]
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "nanochat/kernels/cuda/check.h"
#include "nanochat/kernels/cuda/device_buffer.h"
#include "nanochat/kernels/cuda/inference_ops.h"
#include "event_timing.cuh"
#include "random_fill.cuh"

namespace {

namespace kc = nanochat::kernels::cuda;
using nanochat::bench::time_graph_us;
using kc::bf16;

}  // namespace

int main(int argc, char** argv) {
  const int32_t P = argc > 1 ? std::atoi(argv[1]) : 639;
  const int replays = argc > 2 ? std::atoi(argv[2]) : 50;
  constexpr int64_t kLayers = 20, kHeads = 10, kDim = 128, kTmax = 768, kWindow = 1024;
  if (P < 0 || P >= kTmax) {
    std::fprintf(stderr, "decode_attention_bench: position %d outside the %lld-token cache\n", P,
                 static_cast<long long>(kTmax));
    return 2;
  }
  cudaDeviceProp prop{};
  NC_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  cudaStream_t stream;
  NC_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  std::printf("decode_attention_bench on %s (%d SMs): H = Hk = %lld, d = %lld, cache %lld, query position %d, "
              "%lld layers per graph\n",
              prop.name, prop.multiProcessorCount, static_cast<long long>(kHeads), static_cast<long long>(kDim),
              static_cast<long long>(kTmax), P, static_cast<long long>(kLayers));
  std::printf("%6s %6s %7s %10s %10s %9s\n", "batch", "chunk", "splits", "us/call", "GB/s", "planned");
  for (const int64_t B : {1, 8, 32}) {
    const int64_t cache_elems = B * kTmax * kHeads * kDim, row_elems = B * kHeads * kDim;
    std::vector<nanochat::cuda::DeviceBuffer<bf16>> keys, values;
    for (int64_t l = 0; l < kLayers; ++l) {
      keys.emplace_back(static_cast<size_t>(cache_elems));
      values.emplace_back(static_cast<size_t>(cache_elems));
      nanochat::bench::fill_random_bf16<<<1024, 256, 0, stream>>>(keys.back().data(), cache_elems, static_cast<uint32_t>(2 * l + 1), 1.0f);
      nanochat::bench::fill_random_bf16<<<1024, 256, 0, stream>>>(values.back().data(), cache_elems, static_cast<uint32_t>(2 * l + 2), 1.0f);
    }
    nanochat::cuda::DeviceBuffer<bf16> q(static_cast<size_t>(row_elems)), y(static_cast<size_t>(row_elems));
    nanochat::bench::fill_random_bf16<<<64, 256, 0, stream>>>(q.data(), row_elems, 99u, 1.0f);
    nanochat::cuda::DeviceBuffer<int32_t> pos(static_cast<size_t>(B));
    kc::fill_positions(pos.data(), B, P, stream);
    NC_CUDA_CHECK_LAUNCH();
    const kc::DecodeAttentionPlan planned = kc::plan_decode_attention(B, kHeads, kTmax);
    std::vector<int64_t> chunks = {32, 64, 96, 128, 192, 256, 384, 768};
    for (const int64_t chunk : chunks) {
      const kc::DecodeAttentionPlan plan{chunk, (kTmax + chunk - 1) / chunk};
      nanochat::cuda::DeviceBuffer<float> scratch(
          static_cast<size_t>(kc::decode_attention_scratch_floats(B, kHeads, kDim, plan)));
      scratch.fill_bytes(0);
      auto step = [&] {
        for (int64_t l = 0; l < kLayers; ++l)
          kc::decode_attention(y.data(), q.data(), keys[static_cast<size_t>(l)].data(),
                               values[static_cast<size_t>(l)].data(), pos.data(), B, kHeads, kHeads, kDim, kTmax,
                               kWindow, plan, scratch.data(), stream);
      };
      const double us = time_graph_us(stream, step, replays) / kLayers;
      const double bytes = static_cast<double>(B * kHeads * (P + 1) * kDim * 2 * 2 + 2 * row_elems * 2);
      std::printf("%6lld %6lld %7lld %10.2f %10.0f %9s\n", static_cast<long long>(B), static_cast<long long>(chunk),
                  static_cast<long long>(plan.splits), us, bytes / (us * 1e3), chunk == planned.chunk ? "<-" : "");
    }
    if (planned.chunk % 32 != 0 || planned.chunk > 768)
      std::printf("%6lld planned chunk %lld (not in the sweep)\n", static_cast<long long>(B),
                  static_cast<long long>(planned.chunk));
  }
  NC_CUDA_CHECK(cudaStreamDestroy(stream));
  return 0;
}
