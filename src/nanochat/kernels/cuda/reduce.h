// Deterministic reductions for the scalar and small-matrix parameter gradients (lambdas, gates).
// Two passes, no float atomics: pass 1 writes kPartials fp32 partial sums per output (a fixed grid,
// so each partial covers the same elements on every run and every device); pass 2 adds them in
// index order and accumulates into the fp32 master gradient. The result is bitwise reproducible.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace nanochat::kernels::cuda::detail {

// Partial sums per output, i.e. the pass-1 grid size (fixed: results must not depend on the device).
inline constexpr int kPartials = 1024;

// dst[k] += scale * sum_{b < kPartials} partials[k * kPartials + b], summed in order of b.
void finish_partials(float* dst, const float* partials, int64_t count, float scale, cudaStream_t stream);

// Pass 1 of out[j*G + c] = sum_r p[r*J + j] * x[r*ldx + c] (j < J, c < G, J*G <= 1024); x == nullptr
// stands for all ones. Writes J*G*kPartials partials (row blocks of ceil(rows / kPartials)).
void weighted_column_partials(float* partials, const float* p, int64_t J, const __nv_bfloat16* x, int64_t ldx,
                              int64_t G, int64_t rows, cudaStream_t stream);

// A stream-ordered scratch allocation (cudaMallocAsync), freed stream-ordered when it goes out of
// scope, also when an exception leaves the op early.
class StreamScratch {
 public:
  StreamScratch(size_t bytes, cudaStream_t stream);
  ~StreamScratch();
  StreamScratch(const StreamScratch&) = delete;
  StreamScratch& operator=(const StreamScratch&) = delete;
  // The scratch as an array of float starting `float_offset` floats in.
  float* floats(size_t float_offset = 0) const { return static_cast<float*>(ptr_) + float_offset; }

 private:
  void* ptr_ = nullptr;
  cudaStream_t stream_ = nullptr;
};

}  // namespace nanochat::kernels::cuda::detail
