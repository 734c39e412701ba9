// Feasibility of a persistent batch-1 decode kernel (the "megakernel" idea): one block per SM runs the
// 20 layers' four matrix-vector stages (c_q|c_k|c_v 1280->3840, c_proj 1280->1280, c_fc 1280->5120,
// mlp c_proj 5120->1280) separated by grid-wide barriers (plus one for attention), while a producer warp
// per block streams the block's next weight rows into a shared-memory ring (weight_stream.cuh)
// regardless of the barriers. Compared with the decode_gemv kernels the decoder launches now (4 per layer,
// programmatic dependent launch, one CUDA graph), and split into its parts: the stream without barriers,
// and the barriers without weights.
//   persistent_decode_bench [replays = 30] [sync: 0 barrier with fences, 1 barrier with release/acquire,
//                                             2 flagged words (no barrier)] [copies in flight, 0 = slots]
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "nanochat/kernels/cuda/check.h"
#include "nanochat/kernels/cuda/decode_gemv.h"
#include "nanochat/kernels/cuda/device_buffer.h"
#include "nanochat/kernels/cuda/device_math.cuh"
#include "event_timing.cuh"
#include "random_fill.cuh"
#include "weight_stream.cuh"

namespace {

namespace kc = nanochat::kernels::cuda;
namespace ks = nanochat::kernels::cuda::stream;
namespace kd = nanochat::kernels::cuda::detail;
using nanochat::bench::time_graph_us;
using kc::bf16;

constexpr int kC = 1280, kQkv = 3 * kC, kLayers = 20;
constexpr int kVpl = kC / 256;  // 16-byte vectors per lane of one C-long segment
constexpr int kWarps = 8, kThreads = (kWarps + 1) * 32, kConsumers = kWarps * 32;
constexpr int kSlotBytes = 8 * kC * 2;  // 8 rows of K = C or 2 rows of K = 4C
constexpr int kMaxRows = 64;            // rows of one stage per block (5120 / 132 = 39)
constexpr int64_t kLayerElems = int64_t{kQkv} * kC + int64_t{kC} * kC + 8 * int64_t{kC} * kC;

struct Args {
  const bf16* w;  // kLayers x [qkv][proj][fc][mlp]
  bf16 *x, *qkv, *y, *xmid, *a;
  uint64_t* ll;       // flagged words (sync 2): qkv 3C/2, y C/2, xmid C/2, a 2C, x C/2
  unsigned* counter;  // [0] barrier, [1] epoch, [2] blocks finished (sync 2)
  int slots, mode;    // mode 0: everything, 1: no grid barriers, 2: synchronisation and activations, no weights
  int in_flight;      // copies the producer keeps in flight at most (<= slots)
};

struct Stage {
  int64_t offset;  // within a layer's weights
  int n, k;
};
__device__ __forceinline__ Stage stage_of(int s) {
  switch (s) {
    case 0: return {0, kQkv, kC};
    case 1: return {int64_t{kQkv} * kC, kC, kC};
    case 2: return {int64_t{kQkv + kC} * kC, 4 * kC, kC};
    default: return {int64_t{kQkv + 5 * kC} * kC, kC, 4 * kC};
  }
}

// Flagged-word buffers: hop h of a layer (0 qkv, 1 y, 2 xmid, 3 a, 4 x).
__device__ __forceinline__ uint64_t* ll_buffer(const Args& a, int h) {
  const int offset = h == 0 ? 0 : h == 1 ? 3 * kC / 2 : h == 2 ? 2 * kC : h == 3 ? 5 * kC / 2 : 9 * kC / 2;
  return a.ll + offset;
}

template <int SYNC>
__device__ __forceinline__ void sync_grid(const Args& a) {
  if (a.mode == 1) return;
  if constexpr (SYNC == 0) ks::grid_barrier(a.counter, kConsumers);
  if constexpr (SYNC == 1) ks::grid_barrier_acq_rel(a.counter, kConsumers);
}

// SYNC 0: grid barrier with fences, 1: grid barrier with release/acquire, 2: flagged words, no barrier.
template <int SYNC>
__global__ void __launch_bounds__(kThreads, 1) persistent_kernel(Args a) {
  extern __shared__ __align__(128) unsigned char smem[];
  unsigned char* ring = smem;
  auto* full = reinterpret_cast<uint64_t*>(smem + a.slots * kSlotBytes);
  uint64_t* empty = full + a.slots;
  auto* part = reinterpret_cast<float*>(empty + a.slots);  // [4][kMaxRows]
  auto* xin = reinterpret_cast<uint32_t*>(part + 4 * kMaxRows);  // sync 2: the input vector, 4C bf16
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  if (threadIdx.x == 0) {
    for (int i = 0; i < a.slots; ++i) {
      ks::mbar_init(&full[i], 1);
      ks::mbar_init(&empty[i], kWarps);
    }
    ks::mbar_init_fence();
  }
  __syncthreads();

  if (warp == kWarps) {  // the producer: every weight row this block will use, in order
    if (lane != 0 || a.mode == 2) return;
    const uint64_t policy = ks::evict_first_policy();
    int slot = 0, issued = 0;
    uint32_t phase = 0;
    for (int l = 0; l < kLayers; ++l)
      for (int s = 0; s < 4; ++s) {
        const Stage st = stage_of(s);
        const int piece = kWarps / (st.k / kC);
        const ks::RowShare pairs = ks::row_share(st.n / 2, blockIdx.x, gridDim.x, 4 * l + s);
        const int start = 2 * pairs.start, count = 2 * pairs.count;
        const bf16* w = a.w + l * kLayerElems + st.offset;
        for (int r0 = 0; r0 < count; r0 += piece) {
          const int rows = piece < count - r0 ? piece : count - r0;
          const uint32_t bytes = static_cast<uint32_t>(rows) * st.k * 2;
          ks::mbar_wait(&empty[slot], phase ^ 1);
          if (issued >= a.in_flight) {  // fewer requests queued in the memory system: shorter loaded latency
            const int j = issued - a.in_flight;
            ks::mbar_wait(&full[j % a.slots], static_cast<uint32_t>(j / a.slots) & 1u);
          }
          ++issued;
          ks::mbar_arrive_expect_tx(&full[slot], bytes);
          ks::bulk_load(ring + slot * kSlotBytes, w + int64_t{start + r0} * st.k, bytes, &full[slot], policy);
          if (++slot == a.slots) slot = 0, phase ^= 1;
        }
      }
    return;
  }

  const uint32_t flag0 = SYNC == 2 ? __ldcg(a.counter + 1) * (5u * kLayers) + 1u : 0u;
  int slot = 0;
  uint32_t phase = 0;
  for (int l = 0; l < kLayers; ++l)
    for (int s = 0; s < 4; ++s) {
      const Stage st = stage_of(s);
      const int segs = st.k / kC, piece = kWarps / segs;
      const int seg = warp / piece, prow = warp % piece;
      const int in_hop = s == 0 ? 4 : s == 1 ? 1 : s + 0;  // s 2 reads xmid (hop 2), s 3 reads a (hop 3)
      const int out_hop = s == 0 ? 0 : s + 1;
      // The input segment this warp multiplies by, in registers (RMS-normed for c_q|c_k|c_v and c_fc).
      float xf[kVpl][8];
      if (SYNC == 2 && !(l == 0 && s == 0)) {
        // Every word of the input vector, polled until it carries this hop's flag; all requested first.
        constexpr int kMaxWords = 4 * kC / 2 / kConsumers;
        const int words = st.k / 2;
        const uint64_t* src = ll_buffer(a, in_hop);
        const uint32_t want = flag0 + 5u * (s == 0 ? l - 1 : l) + in_hop;
        uint64_t v[kMaxWords];
#pragma unroll
        for (int k = 0; k < kMaxWords; ++k)
          if (threadIdx.x + k * kConsumers < words) v[k] = ks::load_flagged(src + threadIdx.x + k * kConsumers);
#pragma unroll
        for (int k = 0; k < kMaxWords; ++k) {
          const int i = threadIdx.x + k * kConsumers;
          if (i < words) {
            if (a.mode != 1)
              while (ks::flag_of(v[k]) != want) v[k] = ks::load_flagged(src + i);
            xin[i] = static_cast<uint32_t>(v[k]);
          }
        }
        ks::named_sync(1, kConsumers);
#pragma unroll
        for (int j = 0; j < kVpl; ++j)
          kd::unpack8(*reinterpret_cast<const uint4*>(xin + (seg * kC + (lane + 32 * j) * 8) / 2), xf[j]);
      } else {
        const bf16* in = s == 0 ? a.x : s == 1 ? a.y : s == 2 ? a.xmid : a.a;
#pragma unroll
        for (int j = 0; j < kVpl; ++j)
          kd::unpack8(__ldcg(reinterpret_cast<const uint4*>(in + seg * kC + (lane + 32 * j) * 8)), xf[j]);
      }
      if (s == 0 || s == 2) {
        float ss = 0.0f;
#pragma unroll
        for (int j = 0; j < kVpl; ++j)
#pragma unroll
          for (int e = 0; e < 8; ++e) ss += xf[j][e] * xf[j][e];
        const float rs = 1.0f / sqrtf(kd::warp_sum(ss) / kC + 1e-6f);
#pragma unroll
        for (int j = 0; j < kVpl; ++j)
#pragma unroll
          for (int e = 0; e < 8; ++e) xf[j][e] = kd::round_bf16(xf[j][e] * rs);
      }
      const ks::RowShare pairs = ks::row_share(st.n / 2, blockIdx.x, gridDim.x, 4 * l + s);
      const int start = 2 * pairs.start, count = 2 * pairs.count;
      if (a.mode != 2) {
        for (int r0 = 0; r0 < count; r0 += piece) {
          const int rows = piece < count - r0 ? piece : count - r0;
          ks::mbar_wait(&full[slot], phase);
          if (prow < rows) {
            const uint4* wp =
                reinterpret_cast<const uint4*>(ring + slot * kSlotBytes + prow * st.k * 2) + seg * (kC / 8) + lane;
            float acc = 0.0f;
#pragma unroll
            for (int j = 0; j < kVpl; ++j) {
              float wf[8];
              kd::unpack8(wp[32 * j], wf);
#pragma unroll
              for (int e = 0; e < 8; ++e) acc = fmaf(xf[j][e], wf[e], acc);
            }
            acc = kd::warp_sum(acc);
            if (lane == 0) part[seg * kMaxRows + r0 + prow] = acc;
          }
          __syncwarp();
          if (lane == 0) ks::mbar_arrive(&empty[slot]);
          if (++slot == a.slots) slot = 0, phase ^= 1;
        }
      } else if (threadIdx.x < count) {
        for (int g = 0; g < segs; ++g) part[g * kMaxRows + threadIdx.x] = xf[0][0];
      }
      ks::named_sync(1, kConsumers);
      auto result = [&](int r) {
        float v = 0.0f;
        for (int g = 0; g < segs; ++g) v += part[g * kMaxRows + r];
        if (s == 2) {
          const float u = fmaxf(kd::round_bf16(v), 0.0f);
          v = u * u;
        }
        return kd::to_bf16(v);
      };
      if (SYNC == 2 && !(l == kLayers - 1 && s == 3)) {
        if (threadIdx.x < pairs.count) {
          const bf16 lo = result(2 * threadIdx.x), hi = result(2 * threadIdx.x + 1);
          const uint32_t data = static_cast<uint32_t>(__bfloat16_as_ushort(lo)) |
                                (static_cast<uint32_t>(__bfloat16_as_ushort(hi)) << 16);
          ks::store_flagged(ll_buffer(a, out_hop) + pairs.start + threadIdx.x, data, flag0 + 5u * l + out_hop);
        }
      } else {
        bf16* out = s == 0 ? a.qkv : s == 1 ? a.xmid : s == 2 ? a.a : a.x;
        if (threadIdx.x < count) out[start + threadIdx.x] = result(threadIdx.x);
      }
      sync_grid<SYNC>(a);
      if (s == 0) {  // stands in for attention: y from the new q, one more hop
        if constexpr (SYNC == 2) {
          for (int i = blockIdx.x * kConsumers + threadIdx.x; i < kC / 2; i += gridDim.x * kConsumers) {
            uint64_t v = ks::load_flagged(ll_buffer(a, 0) + i);
            if (a.mode != 1)
              while (ks::flag_of(v) != flag0 + 5u * l) v = ks::load_flagged(ll_buffer(a, 0) + i);
            ks::store_flagged(ll_buffer(a, 1) + i, static_cast<uint32_t>(v), flag0 + 5u * l + 1);
          }
        } else {
          for (int i = blockIdx.x * kConsumers + threadIdx.x; i < kC; i += gridDim.x * kConsumers)
            a.y[i] = __ldcg(a.qkv + i);
          sync_grid<SYNC>(a);
        }
      }
    }
  if constexpr (SYNC == 2) {  // the last block to finish moves the flags on for the next launch
    ks::named_sync(1, kConsumers);
    if (threadIdx.x == 0 && atomicAdd(a.counter + 2, 1u) == gridDim.x - 1) {
      a.counter[2] = 0;
      a.counter[1] += 1;
    }
  }
}


}  // namespace

int main(int argc, char** argv) {
  const int replays = argc > 1 ? std::atoi(argv[1]) : 30;
  const int sync = argc > 2 ? std::atoi(argv[2]) : 0;
  const int in_flight = argc > 3 ? std::atoi(argv[3]) : 0;  // 0: as many as the ring has slots
  if (sync < 0 || sync > 2) {
    std::fprintf(stderr, "persistent_decode_bench: sync variant %d is not 0, 1 or 2\n", sync);
    return 2;
  }
  cudaDeviceProp prop{};
  NC_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  cudaStream_t stream;
  NC_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  const int64_t total = kLayers * kLayerElems;
  const double bytes_per_layer = static_cast<double>(kLayerElems) * 2;
  std::printf("persistent_decode_bench on %s (%d SMs, %zu KB smem/block): %d layers, %.2f MB of weights per layer, "
              "bytes bound at 3.35 TB/s %.2f us/layer\n",
              prop.name, prop.multiProcessorCount, prop.sharedMemPerBlockOptin / 1024, kLayers, bytes_per_layer / 1e6,
              bytes_per_layer / 3.35e6);
  nanochat::cuda::DeviceBuffer<bf16> w(static_cast<size_t>(total));
  nanochat::bench::fill_random_bf16<<<4096, 256, 0, stream>>>(w.data(), total, 7u, 0.05f);
  nanochat::cuda::DeviceBuffer<bf16> act(static_cast<size_t>(16 * kC));
  nanochat::bench::fill_random_bf16<<<64, 256, 0, stream>>>(act.data(), 16 * kC, 9u, 1.0f);
  nanochat::cuda::DeviceBuffer<unsigned> counter(3);
  counter.fill_bytes(0);
  nanochat::cuda::DeviceBuffer<uint64_t> ll(static_cast<size_t>(5 * kC));
  ll.fill_bytes(0);
  bf16* base = act.data();
  Args args{w.data(), base, base + kC, base + 4 * kC, base + 5 * kC, base + 6 * kC, ll.data(), counter.data(), 0, 0, 0};

  // The existing path: four decode_gemv launches per layer, chained by programmatic dependent launch.
  auto gemv_step = [&] {
    for (int l = 0; l < kLayers; ++l) {
      const bf16* lw = w.data() + l * kLayerElems;
      kc::DecodeGemvArgs g;
      g.M = 1, g.overlap_previous = l > 0;
      g.w = lw, g.x = args.x, g.y = args.qkv, g.N = kQkv, g.K = kC, g.prologue = kc::GemvPrologue::rmsnorm;
      kc::decode_gemv(g, stream);
      g.overlap_previous = true;
      g.w = lw + int64_t{kQkv} * kC, g.x = args.y, g.y = args.xmid, g.N = kC, g.prologue = kc::GemvPrologue::none;
      g.epilogue = kc::GemvEpilogue::residual, g.residual = args.x;
      kc::decode_gemv(g, stream);
      g.w = lw + int64_t{kQkv + kC} * kC, g.x = args.xmid, g.y = args.a, g.N = 4 * kC;
      g.prologue = kc::GemvPrologue::rmsnorm, g.epilogue = kc::GemvEpilogue::relu2, g.residual = nullptr;
      kc::decode_gemv(g, stream);
      g.w = lw + int64_t{kQkv + 5 * kC} * kC, g.x = args.a, g.y = args.x, g.N = kC, g.K = 4 * kC;
      g.prologue = kc::GemvPrologue::none, g.epilogue = kc::GemvEpilogue::residual, g.residual = args.xmid;
      kc::decode_gemv(g, stream);
    }
  };
  if (sync == 0) {
    const double gemv_us = time_graph_us(stream, gemv_step, replays);
    std::printf("decode_gemv x4 per layer (graph, PDL):   %7.2f us/layer  %6.0f GB/s\n", gemv_us / kLayers,
                bytes_per_layer * kLayers / (gemv_us * 1e3));
  }

  static const char* sync_names[] = {"barrier (fences)", "barrier (acq/rel)", "flagged words"};
  static const char* mode_names[] = {"full", "no sync", "sync only"};
  const int grid = prop.multiProcessorCount;
  auto kernel = sync == 0 ? persistent_kernel<0> : sync == 1 ? persistent_kernel<1> : persistent_kernel<2>;
  for (const int slots : {6, 10}) {
    const size_t smem = static_cast<size_t>(slots) * kSlotBytes + 2 * slots * 8 + 4 * kMaxRows * 4 + 4 * kC * 2;
    if (smem > prop.sharedMemPerBlockOptin) continue;
    NC_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
    for (const int mode : {0, 1, 2}) {
      if (mode != 0 && slots != 10) continue;
      if (mode == 1 && sync != 0) continue;
      Args a = args;
      a.slots = slots, a.mode = mode, a.in_flight = in_flight > 0 && in_flight < slots ? in_flight : slots;
      auto step = [&] {
        cudaLaunchConfig_t config{};
        config.gridDim = dim3(static_cast<unsigned>(grid));
        config.blockDim = dim3(kThreads);
        config.dynamicSmemBytes = smem;
        config.stream = stream;
        cudaLaunchAttribute attribute{};
        attribute.id = cudaLaunchAttributeCooperative;
        attribute.val.cooperative = 1;
        config.attrs = &attribute;
        config.numAttrs = 1;
        NC_CUDA_CHECK(cudaLaunchKernelEx(&config, kernel, a));
        NC_CUDA_CHECK_LAUNCH();
      };
      if (slots == 10 && mode == 0) {
        // The same launch from the same activations must give the same bits under every sync variant.
        nanochat::bench::fill_random_bf16<<<64, 256, 0, stream>>>(act.data(), 16 * kC, 9u, 1.0f);
        step();
        std::vector<uint16_t> out(kC);
        NC_CUDA_CHECK(cudaMemcpyAsync(out.data(), args.x, kC * 2, cudaMemcpyDeviceToHost, stream));
        NC_CUDA_CHECK(cudaStreamSynchronize(stream));
        uint64_t hash = 1469598103934665603ull;
        for (const uint16_t b : out) hash = (hash ^ b) * 1099511628211ull;
        std::printf("check: output of one launch (sync %d) hashes to %016llx\n", sync, static_cast<unsigned long long>(hash));
      }
      const double us = time_graph_us(stream, step, replays);
      std::printf("persistent %-18s %-9s slots %2d (%3d KB) in flight %2d: %7.2f us/layer  %6.0f GB/s\n",
                  sync_names[sync], mode_names[mode], slots, static_cast<int>(smem / 1024), a.in_flight, us / kLayers,
                  mode == 2 ? 0.0 : bytes_per_layer * kLayers / (us * 1e3));
    }
  }
  NC_CUDA_CHECK(cudaStreamDestroy(stream));
  return 0;
}
