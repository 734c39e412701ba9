// Embedding lookup and its deterministic scatter-add backward (spec §4.7).
#include <cub/device/device_radix_sort.cuh>

#include "nanochat/kernels/cuda/check.h"
#include "nanochat/kernels/cuda/device_math.cuh"
#include "nanochat/kernels/cuda/ops.h"

namespace nanochat::kernels::cuda {

namespace {

constexpr int kThreads = 256;

__global__ void embedding_forward_kernel(bf16* out, const bf16* table, const int64_t* idx, int64_t rows, int64_t dim,
                                         bool vectorized) {
  const int64_t total = rows * dim;
  if (vectorized) {  // 16-byte copies (8 divides dim)
    const int64_t nvec = total / detail::kVec, vec_dim = dim / detail::kVec;
    for (int64_t v = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; v < nvec; v += int64_t{gridDim.x} * blockDim.x) {
      const int64_t r = v / vec_dim, c = (v % vec_dim) * detail::kVec;
      detail::store_raw8(out + v * detail::kVec, detail::load_raw8(table + idx[r] * dim + c));
    }
    return;
  }
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t r = i / dim, c = i % dim;
    out[i] = table[idx[r] * dim + c];
  }
}

__global__ void iota_kernel(int32_t* v, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    v[i] = static_cast<int32_t>(i);
}

// Block i looks at sorted position i; only the first position of each token's run does work: its
// threads (one per column) add the run's rows in their original order, then add once to the table.
// With a gate, row r's column c is first scaled by gate[r * (dim / group) + c / group] in fp32.
__global__ void segment_sum_kernel(float* gtable, const bf16* gout, const float* gate, int64_t group,
                                   const int64_t* sorted_ids, const int32_t* order, int64_t rows, int64_t dim,
                                   bool vectorized) {
  const int64_t i = blockIdx.x;
  const int64_t id = sorted_ids[i];
  if (i > 0 && sorted_ids[i - 1] == id) return;
  int64_t end = i + 1;
  while (end < rows && sorted_ids[end] == id) ++end;
  const int64_t gates_per_row = gate != nullptr ? dim / group : 0;
  if (vectorized) {  // 8 columns per thread (16-byte loads), all under one gate (8 divides group)
    for (int64_t c = threadIdx.x * int64_t{detail::kVec}; c < dim; c += int64_t{blockDim.x} * detail::kVec) {
      float acc[detail::kVec] = {};
      for (int64_t j = i; j < end; ++j) {
        const int64_t row = order[j];
        float g[detail::kVec];
        detail::load8(gout + row * dim + c, g);
        const float w = gate != nullptr ? gate[row * gates_per_row + c / group] : 1.0f;
#pragma unroll
        for (int k = 0; k < detail::kVec; ++k) acc[k] += gate != nullptr ? w * g[k] : g[k];
      }
      float t[detail::kVec];
      detail::load8(gtable + id * dim + c, t);
#pragma unroll
      for (int k = 0; k < detail::kVec; ++k) t[k] += acc[k];
      detail::store8(gtable + id * dim + c, t);
    }
    return;
  }
  for (int64_t c = threadIdx.x; c < dim; c += blockDim.x) {
    float acc = 0.0f;
    for (int64_t j = i; j < end; ++j) {
      const int64_t row = order[j];
      const float g = detail::load(gout[row * dim + c]);
      acc += gate != nullptr ? gate[row * gates_per_row + c / group] * g : g;
    }
    gtable[id * dim + c] += acc;
  }
}

int end_bit_for(int64_t num_embeddings) {
  int bits = 1;
  while (bits < 63 && (int64_t{1} << bits) < num_embeddings) ++bits;
  return bits;
}

}  // namespace

void embedding_forward(bf16* out, const bf16* table, const int64_t* idx, int64_t rows, int64_t dim,
                       cudaStream_t stream) {
  if (rows <= 0 || dim <= 0) return;
  const bool vectorized = dim % detail::kVec == 0 && detail::aligned16(out) && detail::aligned16(table);
  embedding_forward_kernel<<<detail::grid_for(vectorized ? rows * dim / detail::kVec : rows * dim, kThreads), kThreads,
                             0, stream>>>(out, table, idx, rows, dim, vectorized);
  NC_CUDA_CHECK_LAUNCH();
}

void embedding_backward(float* gtable, const bf16* gout, const int64_t* idx, int64_t rows, int64_t dim,
                        int64_t num_embeddings, cudaStream_t stream) {
  embedding_backward_gated(gtable, gout, nullptr, dim, idx, rows, dim, num_embeddings, stream);
}

void embedding_backward_gated(float* gtable, const bf16* gout, const float* gate, int64_t group, const int64_t* idx,
                              int64_t rows, int64_t dim, int64_t num_embeddings, cudaStream_t stream) {
  if (rows <= 0 || dim <= 0) return;
  ::nanochat::cuda::require(group > 0 && dim % group == 0, "embedding_backward_gated",
                            "the gate group width must divide the row width");
  const int n = static_cast<int>(rows);
  const int end_bit = end_bit_for(num_embeddings);  // ids are non-negative: only the low bits differ
  size_t sort_bytes = 0;
  NC_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, sort_bytes, static_cast<const int64_t*>(nullptr),
                                                static_cast<int64_t*>(nullptr), static_cast<const int32_t*>(nullptr),
                                                static_cast<int32_t*>(nullptr), n, 0, end_bit, stream));
  // One stream-ordered scratch block: sorted ids, row order in and out, then CUB's temp space.
  const size_t ids_bytes = (static_cast<size_t>(rows) * sizeof(int64_t) + 255) / 256 * 256;
  const size_t ord_bytes = (static_cast<size_t>(rows) * sizeof(int32_t) + 255) / 256 * 256;
  void* scratch = nullptr;
  NC_CUDA_CHECK(cudaMallocAsync(&scratch, ids_bytes + 2 * ord_bytes + sort_bytes, stream));
  auto* base = static_cast<unsigned char*>(scratch);
  auto* sorted_ids = reinterpret_cast<int64_t*>(base);
  auto* order_in = reinterpret_cast<int32_t*>(base + ids_bytes);
  auto* order_out = reinterpret_cast<int32_t*>(base + ids_bytes + ord_bytes);
  void* sort_tmp = base + ids_bytes + 2 * ord_bytes;
  iota_kernel<<<detail::grid_for(rows, kThreads), kThreads, 0, stream>>>(order_in, rows);
  NC_CUDA_CHECK_LAUNCH();
  // LSD radix sort is stable: equal ids keep their row order, which fixes the summation order.
  NC_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(sort_tmp, sort_bytes, idx, sorted_ids, order_in, order_out, n, 0,
                                                end_bit, stream));
  const bool vectorized = dim % detail::kVec == 0 && group % detail::kVec == 0 && detail::aligned16(gout) &&
                          detail::aligned16(gtable);
  segment_sum_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(gtable, gout, gate, group, sorted_ids,
                                                                          order_out, rows, dim, vectorized);
  NC_CUDA_CHECK_LAUNCH();
  NC_CUDA_CHECK(cudaFreeAsync(scratch, stream));
}

}  // namespace nanochat::kernels::cuda
