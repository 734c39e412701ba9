#include "nanochat/kernels/cuda/decode_gemv.h"

#include "nanochat/kernels/ops.h"
#include "nanochat/kernels/cuda/check.h"
#include "nanochat/kernels/cuda/device_math.cuh"

namespace nanochat::kernels::cuda {

namespace {

constexpr int kThreads = 128;    // 4 warps: small blocks, so even N = 1280 spreads over every SM
constexpr int kWarps = kThreads / 32;
constexpr int kRowsPerWarp = 2;  // two weight rows in flight per warp
constexpr int kPrefetch = 5;     // 16-byte weight vectors per lane and row loaded before the prologue
constexpr int64_t kSmemBytes = 48 * 1024;
constexpr float kEps = static_cast<float>(kernels::cpu::kRmsNormEps);

using detail::round_bf16;
using detail::value_of;

// Streams weight rows once; __ldg-style read-only loads, never cached in L1 for reuse.
__device__ __forceinline__ uint4 load_weights8(const bf16* p) {
  return __ldg(reinterpret_cast<const uint4*>(p));
}

template <int M, GemvPrologue P, GemvEpilogue E>
__global__ void __launch_bounds__(kThreads) decode_gemv_kernel(DecodeGemvArgs a) {
  extern __shared__ uint4 smem[];
  __shared__ float scratch[32];
  bf16* xs = reinterpret_cast<bf16*>(smem);  // (M, K): the product's input rows
  const int64_t K = a.K, n8 = K / detail::kVec;
  const bool writer = blockIdx.x == 0;  // block 0 publishes z and h (mix_rmsnorm)
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t n0 = (int64_t{blockIdx.x} * kWarps + warp) * kRowsPerWarp;
  const bool active = n0 < a.N, two = n0 + 1 < a.N;
  const bf16* w0 = a.w + (active ? n0 : 0) * K;
  const bf16* w1 = two ? w0 + K : w0;
  // The first weight vectors are requested before the prologue, so HBM's latency overlaps the norm.
  uint4 pre0[kPrefetch], pre1[kPrefetch];
#pragma unroll
  for (int j = 0; j < kPrefetch; ++j) {
    const int64_t v = lane + 32 * j;
    if (active && v < n8) {
      pre0[j] = load_weights8(w0 + v * detail::kVec);
      pre1[j] = load_weights8(w1 + v * detail::kVec);
    } else {
      pre0[j] = pre1[j] = make_uint4(0, 0, 0, 0);
    }
  }

  // Everything below reads what earlier kernels wrote (x, x0, the residual): wait for them. Without a
  // programmatic launch this returns at once.
  asm volatile("griddepcontrol.wait;" ::: "memory");
#pragma unroll
  for (int m = 0; m < M; ++m) {
    float ss = 0.0f;
    for (int64_t v = threadIdx.x; v < n8; v += kThreads) {
      float xv[detail::kVec];
      detail::load8(a.x + m * K + v * detail::kVec, xv);
      if constexpr (P == GemvPrologue::mix_rmsnorm) {
        float x0v[detail::kVec];
        detail::load8(a.x0 + m * K + v * detail::kVec, x0v);
        const float al = value_of(a.alpha), be = value_of(a.beta);
#pragma unroll
        for (int e = 0; e < detail::kVec; ++e) xv[e] = round_bf16(al * xv[e] + be * x0v[e]);
        if (writer) detail::store8(a.z_out + m * K + v * detail::kVec, xv);
      }
      if constexpr (P != GemvPrologue::none) {
#pragma unroll
        for (int e = 0; e < detail::kVec; ++e) ss += xv[e] * xv[e];
      }
      detail::store8(xs + m * K + v * detail::kVec, xv);
    }
    if constexpr (P != GemvPrologue::none) {
      ss = detail::block_sum(ss, scratch);
      const float rs = 1.0f / sqrtf(ss / static_cast<float>(K) + kEps);
      // Each thread rescales exactly the vectors it stored.
      for (int64_t v = threadIdx.x; v < n8; v += kThreads) {
        float xv[detail::kVec];
        detail::load8(xs + m * K + v * detail::kVec, xv);
#pragma unroll
        for (int e = 0; e < detail::kVec; ++e) xv[e] *= rs;
        const uint4 packed = detail::pack8(xv);
        detail::store_raw8(xs + m * K + v * detail::kVec, packed);
        if (P == GemvPrologue::mix_rmsnorm && writer) detail::store_raw8(a.h_out + m * K + v * detail::kVec, packed);
      }
    }
  }
  __syncthreads();
  // The next kernel may launch and prefetch now; it waits for this grid's writes before reading them.
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");

  if (!active) return;
  float acc0[M], acc1[M];
#pragma unroll
  for (int m = 0; m < M; ++m) acc0[m] = acc1[m] = 0.0f;
  auto accumulate = [&](int64_t v, const uint4& r0, const uint4& r1) {
    float f0[detail::kVec], f1[detail::kVec];
    detail::unpack8(r0, f0);
    detail::unpack8(r1, f1);
#pragma unroll
    for (int m = 0; m < M; ++m) {
      float xv[detail::kVec];
      detail::unpack8(*reinterpret_cast<const uint4*>(xs + m * K + v * detail::kVec), xv);
#pragma unroll
      for (int e = 0; e < detail::kVec; ++e) {
        acc0[m] = fmaf(xv[e], f0[e], acc0[m]);
        acc1[m] = fmaf(xv[e], f1[e], acc1[m]);
      }
    }
  };
#pragma unroll
  for (int j = 0; j < kPrefetch; ++j)
    if (lane + 32 * j < n8) accumulate(lane + 32 * j, pre0[j], pre1[j]);
#pragma unroll 4
  for (int64_t v = lane + 32 * kPrefetch; v < n8; v += 32)
    accumulate(v, load_weights8(w0 + v * detail::kVec), load_weights8(w1 + v * detail::kVec));
#pragma unroll
  for (int m = 0; m < M; ++m) {
    acc0[m] = detail::warp_sum(acc0[m]);
    acc1[m] = detail::warp_sum(acc1[m]);
  }
  if (lane < 2 * M) {  // lane 2m writes row m's n0, lane 2m+1 its n0+1
    const int m = lane >> 1;
    const bool second = (lane & 1) != 0;
    if (second && !two) return;
    const int64_t n = n0 + (second ? 1 : 0);
    float v = 0.0f;
#pragma unroll
    for (int k = 0; k < M; ++k)
      if (k == m) v = second ? acc1[k] : acc0[k];
    if constexpr (E == GemvEpilogue::residual) v += detail::load(a.residual[m * a.N + n]);
    if constexpr (E == GemvEpilogue::relu2) v = detail::relu2(round_bf16(v));
    a.y[m * a.N + n] = detail::to_bf16(v);
  }
}

template <int M, GemvPrologue P, GemvEpilogue E>
void launch(const DecodeGemvArgs& a, cudaStream_t stream, unsigned blocks, size_t smem) {
  cudaLaunchConfig_t config{};
  config.gridDim = dim3(blocks);
  config.blockDim = dim3(kThreads);
  config.dynamicSmemBytes = smem;
  config.stream = stream;
  cudaLaunchAttribute attribute{};
  attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute.val.programmaticStreamSerializationAllowed = 1;
  config.attrs = &attribute;
  config.numAttrs = a.overlap_previous ? 1 : 0;
  NC_CUDA_CHECK(cudaLaunchKernelEx(&config, decode_gemv_kernel<M, P, E>, a));
}

template <int M, GemvPrologue P>
void launch_epilogue(const DecodeGemvArgs& a, cudaStream_t stream, unsigned blocks, size_t smem) {
  switch (a.epilogue) {
    case GemvEpilogue::none: launch<M, P, GemvEpilogue::none>(a, stream, blocks, smem); break;
    case GemvEpilogue::residual: launch<M, P, GemvEpilogue::residual>(a, stream, blocks, smem); break;
    case GemvEpilogue::relu2: launch<M, P, GemvEpilogue::relu2>(a, stream, blocks, smem); break;
  }
}

template <int M>
void launch_rows(const DecodeGemvArgs& a, cudaStream_t stream, unsigned blocks, size_t smem) {
  switch (a.prologue) {
    case GemvPrologue::none: launch_epilogue<M, GemvPrologue::none>(a, stream, blocks, smem); break;
    case GemvPrologue::rmsnorm: launch_epilogue<M, GemvPrologue::rmsnorm>(a, stream, blocks, smem); break;
    case GemvPrologue::mix_rmsnorm: launch_epilogue<M, GemvPrologue::mix_rmsnorm>(a, stream, blocks, smem); break;
  }
}

}  // namespace

bool decode_gemv_supported(int64_t M, int64_t K) {
  return M >= 1 && M <= kDecodeGemvMaxRows && K > 0 && K % detail::kVec == 0 && M * K * 2 <= kSmemBytes;
}

void decode_gemv(const DecodeGemvArgs& a, cudaStream_t stream) {
  ::nanochat::cuda::require(decode_gemv_supported(a.M, a.K) && a.N > 0, "decode_gemv",
                            "needs 1 <= M <= 4, K a multiple of 8 with M*K bf16 in 48 KB, and N > 0");
  ::nanochat::cuda::require(a.w != nullptr && a.x != nullptr && a.y != nullptr && detail::aligned16(a.w) &&
                                detail::aligned16(a.x),
                            "decode_gemv", "needs w, x and y, with w and x 16-byte aligned");
  if (a.prologue == GemvPrologue::mix_rmsnorm)
    ::nanochat::cuda::require(a.x0 != nullptr && a.z_out != nullptr && a.h_out != nullptr && detail::aligned16(a.x0) &&
                                  detail::aligned16(a.z_out) && detail::aligned16(a.h_out),
                              "decode_gemv", "mix_rmsnorm needs x0, z_out and h_out, 16-byte aligned");
  if (a.epilogue == GemvEpilogue::residual)
    ::nanochat::cuda::require(a.residual != nullptr && a.residual != a.y, "decode_gemv",
                              "the residual epilogue needs a residual that does not alias y");
  const int64_t rows_per_block = int64_t{kWarps} * kRowsPerWarp;
  const auto blocks = static_cast<unsigned>((a.N + rows_per_block - 1) / rows_per_block);
  const auto smem = static_cast<size_t>(a.M * a.K * 2);
  switch (a.M) {
    case 1: launch_rows<1>(a, stream, blocks, smem); break;
    case 2: launch_rows<2>(a, stream, blocks, smem); break;
    case 3: launch_rows<3>(a, stream, blocks, smem); break;
    default: launch_rows<4>(a, stream, blocks, smem); break;
  }
  NC_CUDA_CHECK_LAUNCH();
}

}  // namespace nanochat::kernels::cuda
