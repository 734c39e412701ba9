#include "nanochat/kernels/cuda/reduce.h"

#include "nanochat/kernels/cuda/check.h"
#include "nanochat/kernels/cuda/device_math.cuh"

namespace nanochat::kernels::cuda::detail {

namespace {

__global__ void finish_partials_kernel(float* dst, const float* partials, int64_t count, float scale) {
  const int64_t k = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (k >= count) return;
  const float* pk = partials + k * kPartials;
  float s = 0.0f;
  for (int b = 0; b < kPartials; ++b) s += pk[b];
  dst[k] += scale * s;
}

// Block b owns rows [b*chunk, (b+1)*chunk); thread k = j*G + c walks them in order.
__global__ void weighted_column_partials_kernel(float* partials, const float* p, int64_t J,
                                                const __nv_bfloat16* x, int64_t ldx, int64_t G, int64_t rows,
                                                int64_t chunk) {
  const int64_t k = threadIdx.x;
  if (k >= J * G) return;
  const int64_t j = k / G, c = k % G;
  const int64_t r0 = blockIdx.x * chunk;
  const int64_t r1 = r0 + chunk < rows ? r0 + chunk : rows;
  float s = 0.0f;
  for (int64_t r = r0; r < r1; ++r) s += p[r * J + j] * (x != nullptr ? load(x[r * ldx + c]) : 1.0f);
  partials[k * kPartials + blockIdx.x] = s;
}

}  // namespace

void finish_partials(float* dst, const float* partials, int64_t count, float scale, cudaStream_t stream) {
  if (count <= 0) return;
  constexpr int threads = 128;
  finish_partials_kernel<<<grid_for(count, threads), threads, 0, stream>>>(dst, partials, count, scale);
  NC_CUDA_CHECK_LAUNCH();
}

void weighted_column_partials(float* partials, const float* p, int64_t J, const __nv_bfloat16* x, int64_t ldx,
                              int64_t G, int64_t rows, cudaStream_t stream) {
  ::nanochat::cuda::require(J > 0 && G > 0 && J * G <= 1024, "weighted_column_partials",
                            "needs 0 < J*G <= 1024 outputs");
  const int threads = static_cast<int>((J * G + 31) / 32 * 32);
  const int64_t chunk = (rows + kPartials - 1) / kPartials;
  weighted_column_partials_kernel<<<kPartials, threads, 0, stream>>>(partials, p, J, x, ldx, G, rows, chunk);
  NC_CUDA_CHECK_LAUNCH();
}

StreamScratch::StreamScratch(size_t bytes, cudaStream_t stream) : stream_(stream) {
  NC_CUDA_CHECK(cudaMallocAsync(&ptr_, bytes > 0 ? bytes : 1, stream));
}

StreamScratch::~StreamScratch() {
  if (ptr_ != nullptr) cudaFreeAsync(ptr_, stream_);  // a failure cannot be reported from a destructor
}

}  // namespace nanochat::kernels::cuda::detail
