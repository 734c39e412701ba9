// Embedding lookup and its scatter-add backward (spec §4.7).
#include <cstring>

#include "nanochat/kernels/ops.h"

namespace nanochat::kernels::cpu {

template <class F>
void embedding_forward(F* out, const F* table, const int64_t* idx, int64_t rows, int64_t dim) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r)
    std::memcpy(out + r * dim, table + idx[r] * dim, static_cast<size_t>(dim) * sizeof(F));
}

template <class F>
void embedding_backward(F* gtable, const F* gout, const int64_t* idx, int64_t rows, int64_t dim) {
  // Duplicate ids collide on the same table row, so threads split the columns, not the rows;
  // every row is then accumulated in order, which keeps the result deterministic.
#pragma omp parallel for schedule(static)
  for (int64_t c0 = 0; c0 < dim; c0 += 16) {
    const int64_t c1 = c0 + 16 < dim ? c0 + 16 : dim;
    for (int64_t r = 0; r < rows; ++r) {
      F* dst = gtable + idx[r] * dim;
      const F* src = gout + r * dim;
      for (int64_t c = c0; c < c1; ++c) dst[c] += src[c];
    }
  }
}

template void embedding_forward<float>(float*, const float*, const int64_t*, int64_t, int64_t);
template void embedding_forward<double>(double*, const double*, const int64_t*, int64_t, int64_t);
template void embedding_backward<float>(float*, const float*, const int64_t*, int64_t, int64_t);
template void embedding_backward<double>(double*, const double*, const int64_t*, int64_t, int64_t);

}  // namespace nanochat::kernels::cpu
