// Causal sliding-window attention with grouped KV heads (spec §3.1.6, backward §4.5 step 2).
// One query row at a time with an exact softmax (no online rescaling needed on the CPU); the
// backward recomputes the probabilities from the saved log-sum-exp, like flash attention, and is
// split into a query pass (gq) and a key pass (gk, gv) so every output has a single writer.
//
// Arithmetic is in F (fp32 for the reference, as PyTorch's fp32 attention; fp64 for gradient
// checks). Each row's work is staged so that every loop vectorizes: the dot products of one row
// against all its keys (or of one key against all its queries) first, then the exponentials over
// that vector, then the weighted sums. Only keys inside the causal window are ever touched.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "nanochat/kernels/cpu/vec_math.h"
#include "nanochat/kernels/ops.h"

namespace nanochat::kernels::cpu {

namespace {

template <class F>
NC_ALWAYS_INLINE F dot(const F* a, const F* b, int64_t n) {
  F s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t c = 0; c < n; ++c) s += a[c] * b[c];
  return s;
}

template <class F>
NC_ALWAYS_INLINE void axpy(F* y, F a, const F* x, int64_t n) {
#pragma omp simd
  for (int64_t c = 0; c < n; ++c) y[c] += a * x[c];
}

// Keys visible to the query at absolute position pos: [first, last].
inline void key_range(const AttentionShape& s, int64_t pos, int64_t* first, int64_t* last) {
  *last = std::min(pos, s.Tk - 1);
  *first = std::max<int64_t>(0, pos - s.window);
}

template <class F>
const F* at(const F* base, const AttentionShape& s, int64_t b, int64_t t, int64_t heads, int64_t stride, int64_t h) {
  return base + ((b * stride + t) * heads + h) * s.d;
}

// Forward of query row i of head h in batch row b. score: scratch of Tk.
template <class F>
NC_ALWAYS_INLINE void forward_row_impl(F* y, F* lse, const F* q, const F* k, const F* v, const AttentionShape& s,
                                       int64_t b, int64_t h, int64_t i, F* score) {
  const int64_t kvh = h / (s.H / s.Hk), d = s.d;
  const F scale = F(1) / std::sqrt(static_cast<F>(d));
  int64_t first, last;
  key_range(s, s.pos0 + i, &first, &last);
  const int64_t n = last - first + 1;
  const F* qi = at(q, s, b, i, s.H, s.Tq, h);
  const F* k0 = at(k, s, b, first, s.Hk, s.kv_stride, kvh);
  const F* v0 = at(v, s, b, first, s.Hk, s.kv_stride, kvh);
  const int64_t kv_row = s.Hk * d;  // distance between consecutive positions of one kv head
  F m = -std::numeric_limits<F>::infinity();
  for (int64_t j = 0; j < n; ++j) {
    score[j] = scale * dot(qi, k0 + j * kv_row, d);
    m = std::max(m, score[j]);
  }
  F l = 0;
#pragma omp simd reduction(+ : l)
  for (int64_t j = 0; j < n; ++j) {
    score[j] = exp_f(score[j] - m);
    l += score[j];
  }
  F* yi = y + ((b * s.Tq + i) * s.H + h) * d;
  std::fill(yi, yi + d, F(0));
  for (int64_t j = 0; j < n; ++j) axpy(yi, score[j], v0 + j * kv_row, d);
  const F inv_l = F(1) / l;
#pragma omp simd
  for (int64_t c = 0; c < d; ++c) yi[c] *= inv_l;
  if (lse != nullptr) lse[(b * s.H + h) * s.Tq + i] = m + std::log(l);
}

// gq of query row i: scale * sum_j p_ij (gy_i.v_j - D_i) k_j; also stores D_i = gy_i.y_i.
// p, gs: scratch of Tk.
template <class F>
NC_ALWAYS_INLINE void backward_query_row_impl(F* gq, F* D, const F* gy, const F* q, const F* k, const F* v, const F* y,
                                              const F* lse, const AttentionShape& s, int64_t b, int64_t h, int64_t i,
                                              F* p, F* gs) {
  const int64_t kvh = h / (s.H / s.Hk), d = s.d;
  const F scale = F(1) / std::sqrt(static_cast<F>(d));
  const int64_t row = (b * s.H + h) * s.Tq + i;
  const F* qi = at(q, s, b, i, s.H, s.Tq, h);
  const F* gyi = at(gy, s, b, i, s.H, s.Tq, h);
  const F Di = dot(gyi, at(y, s, b, i, s.H, s.Tq, h), d);
  D[row] = Di;
  int64_t first, last;
  key_range(s, s.pos0 + i, &first, &last);
  const int64_t n = last - first + 1;
  const F* k0 = at(k, s, b, first, s.Hk, s.kv_stride, kvh);
  const F* v0 = at(v, s, b, first, s.Hk, s.kv_stride, kvh);
  const int64_t kv_row = s.Hk * d;
  for (int64_t j = 0; j < n; ++j) {
    p[j] = dot(qi, k0 + j * kv_row, d);
    gs[j] = dot(gyi, v0 + j * kv_row, d);
  }
  const F lse_i = lse[row];
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) gs[j] = exp_f(scale * p[j] - lse_i) * (gs[j] - Di);
  F* gqi = gq + ((b * s.Tq + i) * s.H + h) * d;
  std::fill(gqi, gqi + d, F(0));
  for (int64_t j = 0; j < n; ++j) axpy(gqi, gs[j], k0 + j * kv_row, d);
#pragma omp simd
  for (int64_t c = 0; c < d; ++c) gqi[c] *= scale;
}

// gk, gv of key j of kv head kvh: sums over the queries of every head sharing it that see key j.
// p, gs: scratch of Tq.
template <class F>
NC_ALWAYS_INLINE void backward_key_row_impl(F* gk, F* gv, const F* D, const F* gy, const F* q, const F* k, const F* v,
                                            const F* lse, const AttentionShape& s, int64_t b, int64_t kvh, int64_t j,
                                            F* p, F* gs) {
  const int64_t group = s.H / s.Hk, d = s.d;
  const F scale = F(1) / std::sqrt(static_cast<F>(d));
  const F* kj = at(k, s, b, j, s.Hk, s.kv_stride, kvh);
  const F* vj = at(v, s, b, j, s.Hk, s.kv_stride, kvh);
  F* gkj = gk + ((b * s.kv_stride + j) * s.Hk + kvh) * d;
  F* gvj = gv + ((b * s.kv_stride + j) * s.Hk + kvh) * d;
  std::fill(gkj, gkj + d, F(0));
  std::fill(gvj, gvj + d, F(0));
  // Queries i (pos0 + i >= j) within the window: i in [i0, i1].
  const int64_t i0 = std::max<int64_t>(j - s.pos0, 0);
  const int64_t i1 = std::min<int64_t>(s.Tq - 1, j + s.window - s.pos0);
  const int64_t n = i1 - i0 + 1;
  if (n <= 0) return;
  const int64_t q_row = s.H * d;  // distance between consecutive positions of one head
  for (int64_t h = kvh * group; h < (kvh + 1) * group; ++h) {
    const F* q0 = at(q, s, b, i0, s.H, s.Tq, h);
    const F* gy0 = at(gy, s, b, i0, s.H, s.Tq, h);
    const F* lse0 = lse + (b * s.H + h) * s.Tq + i0;
    const F* D0 = D + (b * s.H + h) * s.Tq + i0;
    for (int64_t t = 0; t < n; ++t) {
      p[t] = dot(q0 + t * q_row, kj, d);
      gs[t] = dot(gy0 + t * q_row, vj, d);
    }
#pragma omp simd
    for (int64_t t = 0; t < n; ++t) {
      p[t] = exp_f(scale * p[t] - lse0[t]);
      gs[t] = p[t] * (gs[t] - D0[t]);
    }
    for (int64_t t = 0; t < n; ++t) {
      axpy(gkj, gs[t], q0 + t * q_row, d);
      axpy(gvj, p[t], gy0 + t * q_row, d);
    }
  }
#pragma omp simd
  for (int64_t c = 0; c < d; ++c) gkj[c] *= scale;
}

NC_SIMD_CLONES void forward_row_f32(float* y, float* lse, const float* q, const float* k, const float* v,
                                    const AttentionShape& s, int64_t b, int64_t h, int64_t i, float* score) {
  forward_row_impl(y, lse, q, k, v, s, b, h, i, score);
}
NC_SIMD_CLONES void backward_query_row_f32(float* gq, float* D, const float* gy, const float* q, const float* k,
                                           const float* v, const float* y, const float* lse, const AttentionShape& s,
                                           int64_t b, int64_t h, int64_t i, float* p, float* gs) {
  backward_query_row_impl(gq, D, gy, q, k, v, y, lse, s, b, h, i, p, gs);
}
NC_SIMD_CLONES void backward_key_row_f32(float* gk, float* gv, const float* D, const float* gy, const float* q,
                                         const float* k, const float* v, const float* lse, const AttentionShape& s,
                                         int64_t b, int64_t kvh, int64_t j, float* p, float* gs) {
  backward_key_row_impl(gk, gv, D, gy, q, k, v, lse, s, b, kvh, j, p, gs);
}

template <class F>
void forward_row(F* y, F* lse, const F* q, const F* k, const F* v, const AttentionShape& s, int64_t b, int64_t h,
                 int64_t i, F* score) {
  if constexpr (std::is_same_v<F, float>) forward_row_f32(y, lse, q, k, v, s, b, h, i, score);
  else forward_row_impl(y, lse, q, k, v, s, b, h, i, score);
}
template <class F>
void backward_query_row(F* gq, F* D, const F* gy, const F* q, const F* k, const F* v, const F* y, const F* lse,
                        const AttentionShape& s, int64_t b, int64_t h, int64_t i, F* p, F* gs) {
  if constexpr (std::is_same_v<F, float>) backward_query_row_f32(gq, D, gy, q, k, v, y, lse, s, b, h, i, p, gs);
  else backward_query_row_impl(gq, D, gy, q, k, v, y, lse, s, b, h, i, p, gs);
}
template <class F>
void backward_key_row(F* gk, F* gv, const F* D, const F* gy, const F* q, const F* k, const F* v, const F* lse,
                      const AttentionShape& s, int64_t b, int64_t kvh, int64_t j, F* p, F* gs) {
  if constexpr (std::is_same_v<F, float>) backward_key_row_f32(gk, gv, D, gy, q, k, v, lse, s, b, kvh, j, p, gs);
  else backward_key_row_impl(gk, gv, D, gy, q, k, v, lse, s, b, kvh, j, p, gs);
}

}  // namespace

template <class F>
void attention_forward(F* y, F* lse, const F* q, const F* k, const F* v, const AttentionShape& s) {
#pragma omp parallel
  {
    std::vector<F> score(static_cast<size_t>(s.Tk));
#pragma omp for collapse(3) schedule(static)
    for (int64_t b = 0; b < s.B; ++b)
      for (int64_t h = 0; h < s.H; ++h)
        for (int64_t i = 0; i < s.Tq; ++i) forward_row(y, lse, q, k, v, s, b, h, i, score.data());
  }
}

template <class F>
void attention_backward(F* gq, F* gk, F* gv, const F* gy, const F* q, const F* k, const F* v, const F* y,
                        const F* lse, const AttentionShape& s) {
  // D[b,h,i] = gy_i . y_i, the softmax backward's row correction (written by the query pass).
  std::vector<F> D(static_cast<size_t>(s.B * s.H * s.Tq));
#pragma omp parallel
  {
    std::vector<F> p(static_cast<size_t>(std::max(s.Tk, s.Tq))), gs(p.size());
#pragma omp for collapse(3) schedule(static)
    for (int64_t b = 0; b < s.B; ++b)
      for (int64_t h = 0; h < s.H; ++h)
        for (int64_t i = 0; i < s.Tq; ++i)
          backward_query_row(gq, D.data(), gy, q, k, v, y, lse, s, b, h, i, p.data(), gs.data());
    // (the implicit barrier of the loop above makes D complete)
#pragma omp for collapse(3) schedule(static)
    for (int64_t b = 0; b < s.B; ++b)
      for (int64_t kvh = 0; kvh < s.Hk; ++kvh)
        for (int64_t j = 0; j < s.Tk; ++j)
          backward_key_row(gk, gv, D.data(), gy, q, k, v, lse, s, b, kvh, j, p.data(), gs.data());
  }
}

#define NC_INSTANTIATE(F)                                                                                  \
  template void attention_forward<F>(F*, F*, const F*, const F*, const F*, const AttentionShape&);       \
  template void attention_backward<F>(F*, F*, F*, const F*, const F*, const F*, const F*, const F*,      \
                                      const F*, const AttentionShape&);
NC_INSTANTIATE(float)
NC_INSTANTIATE(double)
#undef NC_INSTANTIATE

}  // namespace nanochat::kernels::cpu
