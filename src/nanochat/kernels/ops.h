// The op table: every numerical kernel the GPT forward and backward use, as plain functions on
// contiguous row-major buffers. This header declares the CPU reference (namespace kernels::cpu):
// readable loops, OpenMP across rows, OpenBLAS for GEMMs, reductions accumulated in double (float
// where it is vectorized and matches PyTorch's fp32 sums: attention's dot products). Each op
// is instantiated for float (the reference) and double (gradient checks). A CUDA backend mirrors
// these signatures (bf16 storage) and is tested against them.
//
// Layout conventions: activations are (rows, width) with rows = B*T; attention tensors are
// (B, T, heads, head_dim); Linear weights are (out_features, in_features), y = x * W^T.
// Ops that write a gradient say whether they overwrite (=) or accumulate (+=).
#pragma once
#include <cstdint>

namespace nanochat::kernels {
// Fixed widths of nanochat's gates: how many leading channels of the normalized input they read.
inline constexpr int64_t kSmearGateChannels = 24;
inline constexpr int64_t kVeGateChannels = 12;
}  // namespace nanochat::kernels

namespace nanochat::kernels::cpu {

// ---- GEMM (matmul.cpp) ----
// out[M,N] = x[M,K] * w[N,K]^T  (+ out when accumulate)
template <class F>
void linear_forward(F* out, const F* x, const F* w, int64_t M, int64_t N, int64_t K, bool accumulate = false);
// gw[N,K] += gy[M,N]^T * x[M,K]
template <class F>
void linear_backward_weight(F* gw, const F* gy, const F* x, int64_t M, int64_t N, int64_t K);
// gx[M,K] = gy[M,N] * w[N,K]  (+ gx when accumulate)
template <class F>
void linear_backward_input(F* gx, const F* gy, const F* w, int64_t M, int64_t N, int64_t K, bool accumulate);

// ---- RMSNorm without weight, eps = 2^-23 (norm.cpp) ----
inline constexpr double kRmsNormEps = 1.1920928955078125e-07;
// y = x * rstd, rstd[r] = 1/sqrt(mean(x[r]^2) + eps); y may alias x. rstd may be null.
template <class F>
void rmsnorm_forward(F* y, F* rstd, const F* x, int64_t rows, int64_t n);
// gx (=|+=) rstd * (gy - y * mean(gy*y)), with y the forward output. gx may alias gy when !accumulate.
template <class F>
void rmsnorm_backward(F* gx, const F* gy, const F* y, const F* rstd, int64_t rows, int64_t n, bool accumulate);
// In place: x = scale * norm(x) per row of n (the QK norm, scale 1.2). rstd may be null.
template <class F>
void scaled_rmsnorm_forward(F* x, F* rstd, int64_t rows, int64_t n, F scale);
// In place: g = d/dx of scale*norm(x), given the forward output out = scale*norm(x).
template <class F>
void scaled_rmsnorm_backward(F* g, const F* out, const F* rstd, int64_t rows, int64_t n, F scale);

// ---- Rotary embeddings, split halves, rotation by -theta (rotary.cpp) ----
// Tables (max_pos, d/2): theta = pos * 1/100000^(2j/d), all in fp32 as the original.
void rotary_tables(float* cos_out, float* sin_out, int64_t max_pos, int64_t head_dim);
// In place on x (B, T, heads, d); row t uses table position pos0 + t.
template <class F>
void rotary_forward(F* x, const F* cos, const F* sin, int64_t B, int64_t T, int64_t heads, int64_t d, int64_t pos0);
template <class F>
void rotary_backward(F* g, const F* cos, const F* sin, int64_t B, int64_t T, int64_t heads, int64_t d, int64_t pos0);

// ---- Causal sliding-window GQA attention, scale 1/sqrt(d) (attention.cpp) ----
struct AttentionShape {
  int64_t B = 0, Tq = 0, H = 0, Hk = 0, d = 0;
  int64_t Tk = 0;         // keys available per row (pos0 + Tq for a cache, Tq in training)
  int64_t kv_stride = 0;  // positions between consecutive batch rows of k/v (Tk, or a cache's Tmax)
  int64_t pos0 = 0;       // absolute position of query 0
  int64_t window = 0;     // query at position p sees keys [p - window, p]
};
// y (B,Tq,H,d), lse (B,H,Tq) (may be null), q (B,Tq,H,d), k/v (B,kv_stride,Hk,d).
template <class F>
void attention_forward(F* y, F* lse, const F* q, const F* k, const F* v, const AttentionShape& s);
// Training shapes only (pos0 = 0, Tk = Tq = kv_stride). Overwrites gq, gk, gv.
template <class F>
void attention_backward(F* gq, F* gk, F* gv, const F* gy, const F* q, const F* k, const F* v, const F* y,
                        const F* lse, const AttentionShape& s);

// ---- MLP activation (mlp.cpp) ----
template <class F>
void relu2_forward(F* a, const F* u, int64_t n);
template <class F>
void relu2_backward(F* gu, const F* ga, const F* u, int64_t n);  // gu = ga * 2 relu(u); gu may alias ga

// ---- Softcap + cross-entropy with ignore_index -1 (loss.cpp) ----
// In place on logits (rows, V): z = cap*tanh(l/cap). Then for rows with a target, lse[r] = logsumexp(z),
// loss[r] = lse[r] - z[target]; ignored rows get loss 0. targets may be null (logits only).
template <class F>
void softcap_cross_entropy_forward(F* logits, F* loss, F* lse, const int64_t* targets, int64_t rows, int64_t V,
                                   F cap);
// In place: z (the softcapped logits) becomes dL/dl = scale*(softmax(z) - onehot)*(1-(z/cap)^2);
// ignored rows become 0.
template <class F>
void softcap_cross_entropy_backward(F* z, const F* lse, const int64_t* targets, int64_t rows, int64_t V, F cap,
                                    F scale);
// The same gradient for a block of vocabulary columns [v0, v0 + n), computed from the raw logits
// (before the softcap) of every row: l (rows, n) becomes dL/dl in place. With lse from the forward,
// the backward can walk the vocabulary in blocks, so the lm_head weight gradient is one GEMM per
// block over all rows instead of a small-K GEMM per row chunk.
template <class F>
void softcap_cross_entropy_backward_block(F* l, const F* lse, const int64_t* targets, int64_t rows, int64_t n,
                                          int64_t v0, F cap, F scale);

// ---- Embedding tables (embedding.cpp) ----
template <class F>
void embedding_forward(F* out, const F* table, const int64_t* idx, int64_t rows, int64_t dim);
template <class F>
void embedding_backward(F* gtable, const F* gout, const int64_t* idx, int64_t rows, int64_t dim);  // +=

// ---- nanochat residual extras (residual.cpp) ----
// z = alpha*x + beta*x0
template <class F>
void residual_mix_forward(F* z, const F* x, const F* x0, F alpha, F beta, int64_t n);
// gx = alpha*gz (gx may alias gz); gx0 += beta*gz; g_alpha += sum(gz*x); g_beta += sum(gz*x0).
template <class F>
void residual_mix_backward(F* gx, F* gx0, F* g_alpha, F* g_beta, const F* gz, const F* x, const F* x0, F alpha,
                           F beta, int64_t n);
// Smear (B,T,C): out[t] = xn[t] + lambda*sigmoid(xn[t][0:24].w)*xn[t-1] for t >= 1; out[0] = xn[0].
// sig (B,T) receives the sigmoid (0 at t = 0).
template <class F>
void smear_forward(F* out, F* sig, const F* xn, const F* w, F lambda, int64_t B, int64_t T, int64_t C);
// gxn = d/dxn (overwritten); gw (24) and g_lambda accumulate.
template <class F>
void smear_backward(F* gxn, F* gw, F* g_lambda, const F* gout, const F* xn, const F* sig, const F* w, F lambda,
                    int64_t B, int64_t T, int64_t C);
// One-token smear with a cached previous embedding (decode): out = xn + lambda*sigmoid(xn[0:24].w)*prev.
template <class F>
void smear_step(F* out, const F* xn, const F* prev, const F* w, F lambda, int64_t rows, int64_t C);
// Value embedding (rows = B*T): gate[r,j] = 3*sigmoid(h[r][0:12].wg[j]); v[r,j,:] += gate[r,j]*table[idx[r], j*d:(j+1)*d].
template <class F>
void value_embed_forward(F* v, F* gate, const F* h, const F* wg, const F* table, const int64_t* idx, int64_t rows,
                         int64_t C, int64_t Hk, int64_t d);
// gh[:, 0:12] += ..., gwg += ..., gtable += scatter of gate*gv.
template <class F>
void value_embed_backward(F* gh, F* gwg, F* gtable, const F* gv, const F* gate, const F* h, const F* wg,
                          const F* table, const int64_t* idx, int64_t rows, int64_t C, int64_t Hk, int64_t d);

// ---- small helpers (residual.cpp) ----
template <class F>
void add_inplace(F* y, const F* x, int64_t n);  // y += x

}  // namespace nanochat::kernels::cpu
