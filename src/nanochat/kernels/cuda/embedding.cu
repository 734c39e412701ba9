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

// The backward sums, per token, the gradient rows of its positions in their original order (a stable
// sort by id gives that order). The sorted positions are cut into segments of kSegmentRows; block b
// sums the runs of equal ids clipped to segment b, each in order. A run inside one segment is added
// to its table row at once; a run crossing segment boundaries leaves its pieces (`tail` of the segment
// it starts in, `head` of each later one) for combine_kernel, which adds them up in segment order. So
// no block walks more than kSegmentRows rows: a token filling thousands of positions (SFT's padding,
// "the" in real text) used to be one block's serial loop, ~0.3 ms a call while the other SMs idled.
// Fixed segments and orders: the result does not depend on scheduling (two runs are bitwise equal).
constexpr int64_t kSegmentRows = 64;

struct GradRows {
  const bf16* gout;   // (rows, dim)
  const float* gate;  // null, or (rows, dim / group): row r's columns scaled by gate[r][c / group]
  int64_t group, dim;
  const int32_t* order;  // row of each sorted position
};

// Sum over sorted positions [a, b) of the (gated) gradient, columns c .. c + 7 (8 divides group).
__device__ __forceinline__ void sum_rows8(float (&acc)[detail::kVec], const GradRows& g, int64_t a, int64_t b,
                                          int64_t c) {
  const int64_t gates_per_row = g.gate != nullptr ? g.dim / g.group : 0;
#pragma unroll
  for (int k = 0; k < detail::kVec; ++k) acc[k] = 0.0f;
#pragma unroll 4
  for (int64_t j = a; j < b; ++j) {
    const int64_t row = g.order[j];
    float v[detail::kVec];
    detail::load8(g.gout + row * g.dim + c, v);
    const float w = g.gate != nullptr ? g.gate[row * gates_per_row + c / g.group] : 1.0f;
#pragma unroll
    for (int k = 0; k < detail::kVec; ++k) acc[k] += g.gate != nullptr ? w * v[k] : v[k];
  }
}
__device__ __forceinline__ float sum_rows1(const GradRows& g, int64_t a, int64_t b, int64_t c) {
  const int64_t gates_per_row = g.gate != nullptr ? g.dim / g.group : 0;
  float acc = 0.0f;
  for (int64_t j = a; j < b; ++j) {
    const int64_t row = g.order[j];
    const float v = detail::load(g.gout[row * g.dim + c]);
    acc += g.gate != nullptr ? g.gate[row * gates_per_row + c / g.group] * v : v;
  }
  return acc;
}

__global__ void segment_partial_kernel(float* gtable, float* head, float* tail, GradRows g, const int64_t* sorted_ids,
                                       int64_t rows, bool vectorized) {
  const int64_t seg = blockIdx.x, begin = seg * kSegmentRows;
  const int64_t end = begin + kSegmentRows < rows ? begin + kSegmentRows : rows;
  const int64_t dim = g.dim;
  for (int64_t s = begin; s < end;) {
    const int64_t id = sorted_ids[s];
    int64_t e = s + 1;
    while (e < end && sorted_ids[e] == id) ++e;
    const bool starts_here = s == 0 || sorted_ids[s - 1] != id;
    const bool ends_here = e == rows || sorted_ids[e] != id;
    // A whole run goes to the table; a piece to head (continued from before) or tail (continued after).
    float* dst = starts_here && ends_here ? gtable + id * dim : (!starts_here ? head : tail) + seg * dim;
    const bool add = starts_here && ends_here;
    if (vectorized) {
      for (int64_t c = threadIdx.x * int64_t{detail::kVec}; c < dim; c += int64_t{blockDim.x} * detail::kVec) {
        float acc[detail::kVec];
        sum_rows8(acc, g, s, e, c);
        if (add) {
          float t[detail::kVec];
          detail::load8(dst + c, t);
#pragma unroll
          for (int k = 0; k < detail::kVec; ++k) acc[k] += t[k];
        }
        detail::store8(dst + c, acc);
      }
    } else {
      for (int64_t c = threadIdx.x; c < dim; c += blockDim.x) {
        const float acc = sum_rows1(g, s, e, c);
        dst[c] = add ? dst[c] + acc : acc;
      }
    }
    s = e;
  }
}

// Block b finishes the run that starts in segment b and continues past it (if any): its tail piece,
// then the head pieces of the segments it covers, in order, added to the table row once.
__global__ void combine_kernel(float* gtable, const float* head, const float* tail, const int64_t* sorted_ids,
                               int64_t rows, int64_t dim) {
  const int64_t seg = blockIdx.x, begin = seg * kSegmentRows, end = begin + kSegmentRows;
  if (end >= rows) return;
  const int64_t id = sorted_ids[end - 1];
  if (sorted_ids[end] != id) return;                                      // the last run ends here
  if (begin > 0 && sorted_ids[begin - 1] == id && sorted_ids[begin] == id) return;  // it started earlier
  int64_t last = seg + 1;  // the segment where the run ends
  while (true) {
    const int64_t k_end = (last + 1) * kSegmentRows;
    if (k_end >= rows || sorted_ids[k_end] != id) break;
    ++last;
  }
  for (int64_t c = threadIdx.x; c < dim; c += blockDim.x) {
    float total = tail[seg * dim + c];
    for (int64_t k = seg + 1; k <= last; ++k) total += head[k * dim + c];
    gtable[id * dim + c] += total;
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
  // One stream-ordered scratch block: sorted ids, row order in and out, CUB's temp space, then the
  // pieces of runs that cross segments (head and tail, one row of dim floats per segment each).
  const int64_t segments = (rows + kSegmentRows - 1) / kSegmentRows;
  const size_t ids_bytes = (static_cast<size_t>(rows) * sizeof(int64_t) + 255) / 256 * 256;
  const size_t ord_bytes = (static_cast<size_t>(rows) * sizeof(int32_t) + 255) / 256 * 256;
  const size_t sort_tmp_bytes = (sort_bytes + 255) / 256 * 256;
  const size_t piece_bytes = static_cast<size_t>(segments * dim) * sizeof(float);
  void* scratch = nullptr;
  NC_CUDA_CHECK(cudaMallocAsync(&scratch, ids_bytes + 2 * ord_bytes + sort_tmp_bytes + 2 * piece_bytes, stream));
  auto* base = static_cast<unsigned char*>(scratch);
  auto* sorted_ids = reinterpret_cast<int64_t*>(base);
  auto* order_in = reinterpret_cast<int32_t*>(base + ids_bytes);
  auto* order_out = reinterpret_cast<int32_t*>(base + ids_bytes + ord_bytes);
  void* sort_tmp = base + ids_bytes + 2 * ord_bytes;
  auto* head = reinterpret_cast<float*>(base + ids_bytes + 2 * ord_bytes + sort_tmp_bytes);
  auto* tail = reinterpret_cast<float*>(base + ids_bytes + 2 * ord_bytes + sort_tmp_bytes + piece_bytes);
  iota_kernel<<<detail::grid_for(rows, kThreads), kThreads, 0, stream>>>(order_in, rows);
  NC_CUDA_CHECK_LAUNCH();
  // LSD radix sort is stable: equal ids keep their row order, which fixes the summation order.
  NC_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(sort_tmp, sort_bytes, idx, sorted_ids, order_in, order_out, n, 0,
                                                end_bit, stream));
  const bool vectorized = dim % detail::kVec == 0 && group % detail::kVec == 0 && detail::aligned16(gout) &&
                          detail::aligned16(gtable);
  const GradRows g{gout, gate, group, dim, order_out};
  segment_partial_kernel<<<static_cast<unsigned>(segments), kThreads, 0, stream>>>(gtable, head, tail, g, sorted_ids,
                                                                                  rows, vectorized);
  NC_CUDA_CHECK_LAUNCH();
  combine_kernel<<<static_cast<unsigned>(segments), kThreads, 0, stream>>>(gtable, head, tail, sorted_ids, rows, dim);
  NC_CUDA_CHECK_LAUNCH();
  NC_CUDA_CHECK(cudaFreeAsync(scratch, stream));
}

}  // namespace nanochat::kernels::cuda
