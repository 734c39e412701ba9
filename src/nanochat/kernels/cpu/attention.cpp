// Causal sliding-window attention with grouped KV heads (spec §3.1.6, backward §4.5 step 2).
// Forward: tiles of kForwardQueryBlock queries x their visible keys, S = Q K^T and Y = P V as GEMMs
// with an exact softmax per row in between (no online rescaling needed on the CPU); short query
// runs (decoding) one row at a time.
// Backward: recomputes the probabilities from the saved log-sum-exp, like flash attention, in tiles
// of kBackwardQueryBlock queries x their visible keys, so the five products (S = Q K^T, dP = gY V^T,
// gQ = dS K, gK += dS^T Q, gV += P^T gY) are small GEMMs (OpenBLAS, one thread each) instead of
// per-row dot products: a row-at-a-time version loaded every key row once per query and computed
// each score twice (query pass and key pass); measured 76 ms of a 16-core step before the change.
// One OpenMP thread owns a (batch row, kv head) pair, so gk/gv have a single writer.
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

#include "nanochat/kernels/cpu/gemm.h"
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

// One query row of a backward tile: scores S (n keys, starting at key k0) -> probabilities P in
// place; dP -> dS = P*(dP - D_i) in place. Keys outside [first, last] (causal/window mask) get 0.
template <class F>
NC_ALWAYS_INLINE void backward_tile_row_impl(F* srow, F* dprow, int64_t n, int64_t k0, int64_t first, int64_t last,
                                             F scale, F lse_i, F Di) {
  const int64_t j0 = std::max<int64_t>(first - k0, 0), j1 = std::min<int64_t>(last - k0 + 1, n);
  for (int64_t j = 0; j < j0; ++j) srow[j] = dprow[j] = F(0);
#pragma omp simd
  for (int64_t j = j0; j < j1; ++j) {
    const F p = exp_f(scale * srow[j] - lse_i);
    srow[j] = p;
    dprow[j] = p * (dprow[j] - Di);
  }
  for (int64_t j = std::max(j1, j0); j < n; ++j) srow[j] = dprow[j] = F(0);
}

// One query row of a forward tile: scores (n keys from key k0, already scaled) -> exp(score - max)
// in place over the visible keys [first, last], 0 elsewhere. Returns the max; *sum = the row's sum.
template <class F>
NC_ALWAYS_INLINE F forward_tile_row_impl(F* srow, int64_t n, int64_t k0, int64_t first, int64_t last, F* sum) {
  const int64_t j0 = std::max<int64_t>(first - k0, 0), j1 = std::min<int64_t>(last - k0 + 1, n);
  F m = -std::numeric_limits<F>::infinity();
#pragma omp simd reduction(max : m)
  for (int64_t j = j0; j < j1; ++j) m = srow[j] > m ? srow[j] : m;
  F l = 0;
#pragma omp simd reduction(+ : l)
  for (int64_t j = j0; j < j1; ++j) {
    srow[j] = exp_f(srow[j] - m);
    l += srow[j];
  }
  for (int64_t j = 0; j < j0; ++j) srow[j] = F(0);
  for (int64_t j = std::max(j1, j0); j < n; ++j) srow[j] = F(0);
  *sum = l;
  return m;
}

NC_SIMD_CLONES float forward_tile_row_f32(float* srow, int64_t n, int64_t k0, int64_t first, int64_t last,
                                          float* sum) {
  return forward_tile_row_impl(srow, n, k0, first, last, sum);
}

NC_SIMD_CLONES void forward_row_f32(float* y, float* lse, const float* q, const float* k, const float* v,
                                    const AttentionShape& s, int64_t b, int64_t h, int64_t i, float* score) {
  forward_row_impl(y, lse, q, k, v, s, b, h, i, score);
}
NC_SIMD_CLONES void backward_tile_row_f32(float* srow, float* dprow, int64_t n, int64_t k0, int64_t first,
                                          int64_t last, float scale, float lse_i, float Di) {
  backward_tile_row_impl(srow, dprow, n, k0, first, last, scale, lse_i, Di);
}

template <class F>
void forward_row(F* y, F* lse, const F* q, const F* k, const F* v, const AttentionShape& s, int64_t b, int64_t h,
                 int64_t i, F* score) {
  if constexpr (std::is_same_v<F, float>) forward_row_f32(y, lse, q, k, v, s, b, h, i, score);
  else forward_row_impl(y, lse, q, k, v, s, b, h, i, score);
}
template <class F>
F forward_tile_row(F* srow, int64_t n, int64_t k0, int64_t first, int64_t last, F* sum) {
  if constexpr (std::is_same_v<F, float>) return forward_tile_row_f32(srow, n, k0, first, last, sum);
  else return forward_tile_row_impl(srow, n, k0, first, last, sum);
}

template <class F>
void backward_tile_row(F* srow, F* dprow, int64_t n, int64_t k0, int64_t first, int64_t last, F scale, F lse_i, F Di) {
  if constexpr (std::is_same_v<F, float>) backward_tile_row_f32(srow, dprow, n, k0, first, last, scale, lse_i, Di);
  else backward_tile_row_impl(srow, dprow, n, k0, first, last, scale, lse_i, Di);
}

// Queries per tile: small enough that the causal triangle wastes little of a tile (T=512: 12% more
// scores than the exact triangle), large enough for efficient GEMMs.
constexpr int64_t kBackwardQueryBlock = 64;
constexpr int64_t kForwardQueryBlock = 64;

// Keys [*k0, *k0 + *nk) seen by any query of the block [i0, i0 + nq).
inline void block_key_range(const AttentionShape& s, int64_t i0, int64_t nq, int64_t* k0, int64_t* nk) {
  int64_t unused, k_last;
  key_range(s, s.pos0 + i0, k0, &unused);
  key_range(s, s.pos0 + i0 + nq - 1, &unused, &k_last);
  *nk = k_last - *k0 + 1;
}

// y (and lse when not null) of the query block [i0, i0 + nq) of head h: S = scale Q K^T, row
// softmax, Y = P V / l. S: scratch of nq x Tk; l: of nq.
template <class F>
void forward_tile(F* y, F* lse, const F* q, const F* k, const F* v, const AttentionShape& s, int64_t b, int64_t h,
                  int64_t i0, int64_t nq, F* S, F* l) {
  const int64_t kvh = h / (s.H / s.Hk), d = s.d;
  const F scale = F(1) / std::sqrt(static_cast<F>(d));
  const int64_t q_row = s.H * d, kv_row = s.Hk * d;
  int64_t k0, nk;
  block_key_range(s, i0, nq, &k0, &nk);
  const F* Kb = at(k, s, b, k0, s.Hk, s.kv_stride, kvh);
  gemm<F>(false, true, nq, nk, d, scale, at(q, s, b, i0, s.H, s.Tq, h), q_row, Kb, kv_row, F(0), S, nk);
  for (int64_t r = 0; r < nq; ++r) {
    int64_t first, last;
    key_range(s, s.pos0 + i0 + r, &first, &last);
    const F m = forward_tile_row(S + r * nk, nk, k0, first, last, &l[r]);
    if (lse != nullptr) lse[(b * s.H + h) * s.Tq + i0 + r] = m + std::log(l[r]);
  }
  F* Yb = y + ((b * s.Tq + i0) * s.H + h) * d;
  gemm<F>(false, false, nq, d, nk, F(1), S, nk, at(v, s, b, k0, s.Hk, s.kv_stride, kvh), kv_row, F(0), Yb, q_row);
  for (int64_t r = 0; r < nq; ++r) {
    const F inv_l = F(1) / l[r];
    F* yr = Yb + r * q_row;
#pragma omp simd
    for (int64_t c = 0; c < d; ++c) yr[c] *= inv_l;
  }
}

// gq (overwritten) and gk, gv (accumulated) for one query block [i0, i0 + nq) of head h.
// S, dP: scratch of nq x Tk.
template <class F>
void backward_tile(F* gq, F* gk, F* gv, const F* gy, const F* q, const F* k, const F* v, const F* y, const F* lse,
                   const AttentionShape& s, int64_t b, int64_t h, int64_t i0, int64_t nq, F* S, F* dP) {
  const int64_t kvh = h / (s.H / s.Hk), d = s.d;
  const F scale = F(1) / std::sqrt(static_cast<F>(d));
  const int64_t q_row = s.H * d, kv_row = s.Hk * d;  // row strides of one head's (T, d) matrices
  int64_t k0, nk;
  block_key_range(s, i0, nq, &k0, &nk);
  const F* Qb = at(q, s, b, i0, s.H, s.Tq, h);
  const F* gYb = at(gy, s, b, i0, s.H, s.Tq, h);
  const F* Kb = at(k, s, b, k0, s.Hk, s.kv_stride, kvh);
  const F* Vb = at(v, s, b, k0, s.Hk, s.kv_stride, kvh);
  gemm<F>(false, true, nq, nk, d, F(1), Qb, q_row, Kb, kv_row, F(0), S, nk);    // raw scores q.k
  gemm<F>(false, true, nq, nk, d, F(1), gYb, q_row, Vb, kv_row, F(0), dP, nk);  // gy_i . v_j
  for (int64_t r = 0; r < nq; ++r) {
    const int64_t i = i0 + r;
    int64_t first, last;
    key_range(s, s.pos0 + i, &first, &last);
    const F Di = dot(at(gy, s, b, i, s.H, s.Tq, h), at(y, s, b, i, s.H, s.Tq, h), d);  // softmax row correction
    backward_tile_row(S + r * nk, dP + r * nk, nk, k0, first, last, scale, lse[(b * s.H + h) * s.Tq + i], Di);
  }
  // S now holds P, dP holds dS (the score gradient before the 1/sqrt(d) scale).
  gemm<F>(false, false, nq, d, nk, scale, dP, nk, Kb, kv_row, F(0), gq + ((b * s.Tq + i0) * s.H + h) * d, q_row);
  F* gKb = gk + ((b * s.kv_stride + k0) * s.Hk + kvh) * d;
  F* gVb = gv + ((b * s.kv_stride + k0) * s.Hk + kvh) * d;
  gemm<F>(true, false, nk, d, nq, scale, dP, nk, Qb, q_row, F(1), gKb, kv_row);
  gemm<F>(true, false, nk, d, nq, F(1), S, nk, gYb, q_row, F(1), gVb, kv_row);
}

}  // namespace

template <class F>
void attention_forward(F* y, F* lse, const F* q, const F* k, const F* v, const AttentionShape& s) {
  // Training and prefill: tiles of queries through GEMMs. Decoding a few tokens: row by row (a GEMM
  // call per row would cost more than it saves).
  if (s.Tq >= kForwardQueryBlock) {
    configure_blas();  // before the threads call gemm() concurrently
    const int64_t blocks = (s.Tq + kForwardQueryBlock - 1) / kForwardQueryBlock;
#pragma omp parallel
    {
      std::vector<F> S(static_cast<size_t>(kForwardQueryBlock * s.Tk)), l(static_cast<size_t>(kForwardQueryBlock));
      // Later blocks see more keys (causal): dynamic scheduling evens out the threads.
#pragma omp for collapse(3) schedule(dynamic, 1)
      for (int64_t b = 0; b < s.B; ++b)
        for (int64_t h = 0; h < s.H; ++h)
          for (int64_t blk = 0; blk < blocks; ++blk) {
            const int64_t i0 = blk * kForwardQueryBlock;
            forward_tile(y, lse, q, k, v, s, b, h, i0, std::min(kForwardQueryBlock, s.Tq - i0), S.data(), l.data());
          }
    }
    return;
  }
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
  configure_blas();  // before the threads call gemm() concurrently
  const int64_t group = s.H / s.Hk;
#pragma omp parallel
  {
    const size_t tile = static_cast<size_t>(kBackwardQueryBlock * s.Tk);
    std::vector<F> S(tile), dP(tile);
#pragma omp for collapse(2) schedule(static)
    for (int64_t b = 0; b < s.B; ++b)
      for (int64_t kvh = 0; kvh < s.Hk; ++kvh) {
        for (int64_t j = 0; j < s.Tk; ++j) {
          std::fill_n(gk + ((b * s.kv_stride + j) * s.Hk + kvh) * s.d, s.d, F(0));
          std::fill_n(gv + ((b * s.kv_stride + j) * s.Hk + kvh) * s.d, s.d, F(0));
        }
        for (int64_t h = kvh * group; h < (kvh + 1) * group; ++h)
          for (int64_t i0 = 0; i0 < s.Tq; i0 += kBackwardQueryBlock)
            backward_tile(gq, gk, gv, gy, q, k, v, y, lse, s, b, h, i0, std::min(kBackwardQueryBlock, s.Tq - i0),
                          S.data(), dP.data());
      }
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
