// Causal sliding-window attention with grouped KV heads (spec §3.1.6, backward §4.5 step 2).
// One query row at a time with an exact softmax (no online rescaling needed on the CPU); the
// backward recomputes the probabilities from the saved log-sum-exp, like flash attention, and is
// split into a query pass (gq) and a key pass (gk, gv) so every output has a single writer.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "nanochat/kernels/ops.h"

namespace nanochat::kernels::cpu {

namespace {

template <class F>
double dot(const F* a, const F* b, int64_t n) {
  double s = 0;
  for (int64_t c = 0; c < n; ++c) s += static_cast<double>(a[c]) * b[c];
  return s;
}

// Keys visible to the query at absolute position pos: [first, last].
inline void key_range(const AttentionShape& s, int64_t pos, int64_t* first, int64_t* last) {
  *last = std::min(pos, s.Tk - 1);
  *first = std::max<int64_t>(0, pos - s.window);
}

}  // namespace

template <class F>
void attention_forward(F* y, F* lse, const F* q, const F* k, const F* v, const AttentionShape& s) {
  const int64_t group = s.H / s.Hk;
  const double scale = 1.0 / std::sqrt(static_cast<double>(s.d));
#pragma omp parallel
  {
    std::vector<double> score(static_cast<size_t>(s.Tk));
    std::vector<double> acc(static_cast<size_t>(s.d));
#pragma omp for collapse(3) schedule(static)
    for (int64_t b = 0; b < s.B; ++b) {
      for (int64_t h = 0; h < s.H; ++h) {
        for (int64_t i = 0; i < s.Tq; ++i) {
          int64_t first, last;
          key_range(s, s.pos0 + i, &first, &last);
          const F* qi = q + ((b * s.Tq + i) * s.H + h) * s.d;
          const int64_t kvh = h / group;
          double m = -std::numeric_limits<double>::infinity();
          for (int64_t j = first; j <= last; ++j) {
            const F* kj = k + ((b * s.kv_stride + j) * s.Hk + kvh) * s.d;
            const double sc = scale * dot(qi, kj, s.d);
            score[static_cast<size_t>(j - first)] = sc;
            m = std::max(m, sc);
          }
          std::fill(acc.begin(), acc.end(), 0.0);
          double l = 0;
          for (int64_t j = first; j <= last; ++j) {
            const double p = std::exp(score[static_cast<size_t>(j - first)] - m);
            l += p;
            const F* vj = v + ((b * s.kv_stride + j) * s.Hk + kvh) * s.d;
            for (int64_t c = 0; c < s.d; ++c) acc[static_cast<size_t>(c)] += p * vj[c];
          }
          F* yi = y + ((b * s.Tq + i) * s.H + h) * s.d;
          for (int64_t c = 0; c < s.d; ++c) yi[c] = static_cast<F>(acc[static_cast<size_t>(c)] / l);
          if (lse != nullptr) lse[(b * s.H + h) * s.Tq + i] = static_cast<F>(m + std::log(l));
        }
      }
    }
  }
}

template <class F>
void attention_backward(F* gq, F* gk, F* gv, const F* gy, const F* q, const F* k, const F* v, const F* y,
                        const F* lse, const AttentionShape& s) {
  const int64_t group = s.H / s.Hk;
  const double scale = 1.0 / std::sqrt(static_cast<double>(s.d));
  // D[b,h,i] = gy_i . y_i, the softmax backward's row correction.
  std::vector<double> D(static_cast<size_t>(s.B * s.H * s.Tq));
  auto row = [&](const F* base, int64_t b, int64_t t, int64_t heads, int64_t stride, int64_t h) {
    return base + ((b * stride + t) * heads + h) * s.d;
  };

  // Pass 1: queries. gq_i = scale * sum_j p_ij (gy_i.v_j - D_i) k_j
#pragma omp parallel
  {
    std::vector<double> acc(static_cast<size_t>(s.d));
#pragma omp for collapse(3) schedule(static)
    for (int64_t b = 0; b < s.B; ++b) {
      for (int64_t h = 0; h < s.H; ++h) {
        for (int64_t i = 0; i < s.Tq; ++i) {
          const int64_t kvh = h / group;
          const F* qi = row(q, b, i, s.H, s.Tq, h);
          const F* gyi = row(gy, b, i, s.H, s.Tq, h);
          const double Di = dot(gyi, row(y, b, i, s.H, s.Tq, h), s.d);
          D[static_cast<size_t>((b * s.H + h) * s.Tq + i)] = Di;
          const double lse_i = lse[(b * s.H + h) * s.Tq + i];
          int64_t first, last;
          key_range(s, s.pos0 + i, &first, &last);
          std::fill(acc.begin(), acc.end(), 0.0);
          for (int64_t j = first; j <= last; ++j) {
            const F* kj = row(k, b, j, s.Hk, s.kv_stride, kvh);
            const double p = std::exp(scale * dot(qi, kj, s.d) - lse_i);
            const double gs = p * (dot(gyi, row(v, b, j, s.Hk, s.kv_stride, kvh), s.d) - Di);
            for (int64_t c = 0; c < s.d; ++c) acc[static_cast<size_t>(c)] += gs * kj[c];
          }
          F* gqi = gq + ((b * s.Tq + i) * s.H + h) * s.d;
          for (int64_t c = 0; c < s.d; ++c) gqi[c] = static_cast<F>(scale * acc[static_cast<size_t>(c)]);
        }
      }
    }
  }

  // Pass 2: keys. Key j is seen by queries i in [j, j + window] of every head sharing its kv head.
#pragma omp parallel
  {
    std::vector<double> acc_k(static_cast<size_t>(s.d)), acc_v(static_cast<size_t>(s.d));
#pragma omp for collapse(3) schedule(static)
    for (int64_t b = 0; b < s.B; ++b) {
      for (int64_t kvh = 0; kvh < s.Hk; ++kvh) {
        for (int64_t j = 0; j < s.Tk; ++j) {
          const F* kj = row(k, b, j, s.Hk, s.kv_stride, kvh);
          const F* vj = row(v, b, j, s.Hk, s.kv_stride, kvh);
          std::fill(acc_k.begin(), acc_k.end(), 0.0);
          std::fill(acc_v.begin(), acc_v.end(), 0.0);
          for (int64_t h = kvh * group; h < (kvh + 1) * group; ++h) {
            for (int64_t i = std::max(j - s.pos0, int64_t{0}); i < s.Tq; ++i) {
              const int64_t pos = s.pos0 + i;
              if (pos - s.window > j) break;  // later queries are even further away
              const F* qi = row(q, b, i, s.H, s.Tq, h);
              const F* gyi = row(gy, b, i, s.H, s.Tq, h);
              const double p = std::exp(scale * dot(qi, kj, s.d) - static_cast<double>(lse[(b * s.H + h) * s.Tq + i]));
              const double gs = p * (dot(gyi, vj, s.d) - D[static_cast<size_t>((b * s.H + h) * s.Tq + i)]);
              for (int64_t c = 0; c < s.d; ++c) {
                acc_k[static_cast<size_t>(c)] += gs * qi[c];
                acc_v[static_cast<size_t>(c)] += p * gyi[c];
              }
            }
          }
          F* gkj = gk + ((b * s.kv_stride + j) * s.Hk + kvh) * s.d;
          F* gvj = gv + ((b * s.kv_stride + j) * s.Hk + kvh) * s.d;
          for (int64_t c = 0; c < s.d; ++c) {
            gkj[c] = static_cast<F>(scale * acc_k[static_cast<size_t>(c)]);
            gvj[c] = static_cast<F>(acc_v[static_cast<size_t>(c)]);
          }
        }
      }
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
