// The op table's CUDA half (see kernels/ops.h for the math and layouts; the CPU versions are the
// reference these are tested against). Storage is bf16 (__nv_bfloat16) for activations and their
// gradients, fp32 for per-row statistics (rstd, lse, loss) and for weight gradients that accumulate
// into fp32 master buffers; every reduction accumulates in fp32. Each op is enqueued on `stream` and
// returns without synchronising; launch errors throw nanochat::Error (see check.h).
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace nanochat::kernels::cuda {

using bf16 = __nv_bfloat16;

// ---- RMSNorm without weight (norm.cu), eps = 2^-23 as kernels::cpu::kRmsNormEps ----
// y = bf16(x * rstd), rstd[r] = 1/sqrt(mean(x[r]^2) + eps); y may alias x; rstd may be null.
void rmsnorm_forward(bf16* y, float* rstd, const bf16* x, int64_t rows, int64_t n, cudaStream_t stream);
// gx (=|+=) rstd * (gy - y * mean(gy*y)); gx may alias gy when !accumulate.
void rmsnorm_backward(bf16* gx, const bf16* gy, const bf16* y, const float* rstd, int64_t rows, int64_t n,
                      bool accumulate, cudaStream_t stream);
// QK norm, in place: x = bf16((x * rstd) * scale) per row of n (scale = model::kQkScale, 1.2). One warp
// per row (rows are single heads). rstd may be null.
void scaled_rmsnorm_forward(bf16* x, float* rstd, int64_t rows, int64_t n, float scale, cudaStream_t stream);
// In place: g becomes d/dx of scale*norm(x), given the forward output out = scale*norm(x).
void scaled_rmsnorm_backward(bf16* g, const bf16* out, const float* rstd, int64_t rows, int64_t n, float scale,
                             cudaStream_t stream);

// ---- MLP activation (mlp.cu) ----
void relu2_forward(bf16* a, const bf16* u, int64_t n, cudaStream_t stream);
// gu = ga * 2 relu(u); gu may alias ga.
void relu2_backward(bf16* gu, const bf16* ga, const bf16* u, int64_t n, cudaStream_t stream);
// The backward and the recomputed forward from one read of u: gu = ga * 2 relu(u) and a = relu(u)^2
// (for the down projection's weight gradient). gu may alias ga, and a may alias u (the model
// overwrites u, which nothing needs afterwards, so no extra (BT, 4C) buffer is needed).
void relu2_backward_with_forward(bf16* gu, bf16* a, const bf16* ga, const bf16* u, int64_t n, cudaStream_t stream);

// ---- Rotary embeddings, split halves, rotation by -theta (rotary.cu) ----
// In place on x (B, T, heads, d) with fp32 tables (max_pos, d/2) from kernels::cpu::rotary_tables;
// row t uses table position pos0 + t. The rotation is computed in fp32 and rounded once.
void rotary_forward(bf16* x, const float* cos, const float* sin, int64_t B, int64_t T, int64_t heads, int64_t d,
                    int64_t pos0, cudaStream_t stream);
void rotary_backward(bf16* g, const float* cos, const float* sin, int64_t B, int64_t T, int64_t heads, int64_t d,
                     int64_t pos0, cudaStream_t stream);

// ---- Rotary + QK norm fused (qk_rope_norm.cu): one warp per head row, in place ----
// x = scaled_rmsnorm(rotary(x)): the rotation is rounded to bf16 and normalised from the rounded
// values, exactly as rotary_forward followed by scaled_rmsnorm_forward, with one read and one write.
void rotary_scaled_rmsnorm_forward(bf16* x, float* rstd, const float* cos, const float* sin, int64_t B, int64_t T,
                                   int64_t heads, int64_t d, int64_t pos0, float scale, cudaStream_t stream);
// g = rotary_backward(scaled_rmsnorm_backward(g)) (the norm's result rounded to bf16 in between).
void scaled_rmsnorm_rotary_backward(bf16* g, const bf16* out, const float* rstd, const float* cos, const float* sin,
                                    int64_t B, int64_t T, int64_t heads, int64_t d, int64_t pos0, float scale,
                                    cudaStream_t stream);

// ---- Softcap + cross-entropy with ignore_index -1 (loss.cu) ----
// Memory plan: the logits are never widened to fp32 in memory. The caller computes bf16 logits for a
// chunk of rows (chunk x V, e.g. 4096 x 32768 x 2 bytes = 256 MiB), calls the forward on that chunk
// (loss and lse, fp32, one value per row), and later recomputes the chunk's logits for the backward,
// which overwrites them with dL/dlogits in place; z = cap*tanh(l/cap) and exp(z - lse) live only in
// registers. Since |z| <= cap, sum(exp(z - cap)) cannot overflow or underflow fp32 for cap = 15, so
// the forward is a single pass: lse = cap + log(sum(exp(z - cap))).
// Rows with target -1 get loss 0 and lse 0. targets must lie in [-1, V).
void softcap_cross_entropy_forward(float* loss, float* lse, const bf16* logits, const int64_t* targets, int64_t rows,
                                   int64_t V, float cap, cudaStream_t stream);
// For the vocabulary columns [v0, v0 + n) of every row: grad (rows, n) = scale*(softmax(z) - onehot)*(1 - t^2),
// t = tanh(l/cap), from the raw logits l (rows, n). grad may alias logits. Ignored rows become 0.
void softcap_cross_entropy_backward(bf16* grad, const bf16* logits, const float* lse, const int64_t* targets,
                                    int64_t rows, int64_t n, int64_t v0, float cap, float scale, cudaStream_t stream);

// Training: the forward and then the backward over the whole vocabulary of each row (v0 = 0, n = V),
// in place: logits become dL/dlogits (scale as above). Rows of up to 32768 columns are read once (the
// capped values stay in registers between the two); wider ones take the two separate passes.
void softcap_cross_entropy_forward_backward(float* loss, float* lse, bf16* logits, const int64_t* targets,
                                            int64_t rows, int64_t V, float cap, float scale, cudaStream_t stream);

// ---- Embedding tables (embedding.cu) ----
// out[r] = table[idx[r]]; idx must lie in [0, num_embeddings).
void embedding_forward(bf16* out, const bf16* table, const int64_t* idx, int64_t rows, int64_t dim,
                       cudaStream_t stream);
// gtable[idx[r]] += gout[r] (fp32 master gradient). Deterministic: rows are stably sorted by token id
// and each token's rows are summed in their original order by one thread per column, so the result
// never depends on scheduling (no float atomics). Scratch memory is taken stream-ordered.
void embedding_backward(float* gtable, const bf16* gout, const int64_t* idx, int64_t rows, int64_t dim,
                        int64_t num_embeddings, cudaStream_t stream);
// The same scatter with each group of `group` columns of row r scaled by gate[r, c / group] (fp32,
// rows x dim/group) before the sum: gtable[idx[r]] += gate[r] (x) gout[r]. group must divide dim.
void embedding_backward_gated(float* gtable, const bf16* gout, const float* gate, int64_t group, const int64_t* idx,
                              int64_t rows, int64_t dim, int64_t num_embeddings, cudaStream_t stream);

// ---- Scalar parameters ----
// The model's scalar parameters (resid/x0 lambdas, smear lambda, backout lambda) live on the device as
// fp32 master values, so the kernels read them there (no host round trip per step). A ScalarParam
// is scale * (*ptr), or the constant `scale` when ptr is null: the backout's -lambda is
// {backout_lambda, -1}, a fixed 1 is {nullptr, 1}. Gradients are taken with respect to *ptr.
struct ScalarParam {
  const float* ptr = nullptr;
  float scale = 1.0f;
};
// Scalar and gate-weight gradients are reduced deterministically (reduce.h: a fixed grid of fp32
// partial sums, added in order; no float atomics) and accumulated (+=) into fp32 master gradients.

// ---- Residual lambda blend (residual.cu); also the backout x_L - lambda_b * x_b ----
// z = bf16(alpha*x + beta*x0).
void residual_mix_forward(bf16* z, const bf16* x, const bf16* x0, ScalarParam alpha, ScalarParam beta, int64_t n,
                          cudaStream_t stream);
// gx = alpha*gz (gx may alias gz); gx0 += beta*gz into an fp32 accumulator (the x0 gradient sums
// every layer's contribution, too many terms for bf16); g_alpha += alpha.scale*sum(gz*x) and
// g_beta += beta.scale*sum(gz*x0), each skipped when null.
void residual_mix_backward(bf16* gx, float* gx0, float* g_alpha, float* g_beta, const bf16* gz, const bf16* x,
                           const bf16* x0, ScalarParam alpha, ScalarParam beta, int64_t n, cudaStream_t stream);

// ---- Residual blend + RMSNorm fused (norm.cu): one pass instead of two ----
// z = bf16(alpha*x + beta*x0) (residual_mix_forward), then y = rmsnorm(z) of the rounded z with its
// rstd (rmsnorm_forward); rows x n. z is stored too: it is the block's residual input.
void residual_mix_rmsnorm_forward(bf16* z, bf16* y, float* rstd, const bf16* x, const bf16* x0, ScalarParam alpha,
                                  ScalarParam beta, int64_t rows, int64_t n, cudaStream_t stream);
// rmsnorm_backward(g, gy, y, rstd, accumulate) and then residual_mix_backward(g, gx0, g_alpha,
// g_beta, g, x, x0, alpha, beta) on its bf16 result, in place on g, from one pass over the rows.
void rmsnorm_residual_mix_backward(bf16* g, float* gx0, float* g_alpha, float* g_beta, const bf16* gy, const bf16* y,
                                   const float* rstd, bool accumulate, const bf16* x, const bf16* x0,
                                   ScalarParam alpha, ScalarParam beta, int64_t rows, int64_t n,
                                   cudaStream_t stream);

// ---- Smear (smear.cu), layout (B, T, C), gate weight w (24) ----
// out[t] = xn[t] + lambda*sigmoid(xn[t][0:24].w)*xn[t-1] for t >= 1, out[0] = xn[0]; sig (B,T) gets the
// sigmoid (0 at t = 0) for the backward and may be null.
void smear_forward(bf16* out, float* sig, const bf16* xn, const bf16* w, const float* lambda, int64_t B, int64_t T,
                   int64_t C, cudaStream_t stream);
// gxn (=) from gout, the fp32 x0-gradient accumulator; gw (24) and g_lambda accumulate (fp32).
void smear_backward(bf16* gxn, float* gw, float* g_lambda, const float* gout, const bf16* xn, const float* sig,
                    const bf16* w, const float* lambda, int64_t B, int64_t T, int64_t C, cudaStream_t stream);
// Decode: out = xn + lambda*sigmoid(xn[0:24].w)*prev, each of rows x C.
void smear_step(bf16* out, const bf16* xn, const bf16* prev, const bf16* w, const float* lambda, int64_t rows,
                int64_t C, cudaStream_t stream);

// ---- Gated value embeddings (value_embed.cu), rows = B*T, 1 <= Hk <= 85 ----
// gate[r,j] = 3*sigmoid(h[r][0:12].wg[j]) (fp32, rows x Hk); v[r,j,:] += gate[r,j]*table[idx[r], j*d:(j+1)*d].
void value_embed_forward(bf16* v, float* gate, const bf16* h, const bf16* wg, const bf16* table, const int64_t* idx,
                         int64_t rows, int64_t C, int64_t Hk, int64_t d, cudaStream_t stream);
// gh[:, 0:12] += (bf16), gwg (Hk x 12) += and gtable (num_embeddings x Hk*d) += (fp32 master gradients).
void value_embed_backward(bf16* gh, float* gwg, float* gtable, const bf16* gv, const float* gate, const bf16* h,
                          const bf16* wg, const bf16* table, const int64_t* idx, int64_t rows, int64_t C, int64_t Hk,
                          int64_t d, int64_t num_embeddings, cudaStream_t stream);

// ---- Small elementwise helpers (residual.cu), fp32 math, one rounding per stored element ----
void add_inplace(bf16* y, const bf16* x, int64_t n, cudaStream_t stream);   // y += x
void add_inplace(float* y, const bf16* x, int64_t n, cudaStream_t stream);  // fp32 accumulator += bf16
void add_inplace(bf16* y, const float* x, int64_t n, cudaStream_t stream);  // bf16 += fp32 accumulator
void axpy(float* y, float a, const float* x, int64_t n, cudaStream_t stream);  // y += a*x (fp32)
void scale(bf16* y, const bf16* x, float a, int64_t n, cudaStream_t stream);  // y = a*x; y may alias x
void cast_to_bf16(bf16* y, const float* x, int64_t n, cudaStream_t stream);     // y = bf16(x), round to nearest even
// *count = the number of NaN or infinite values in x[0:n] (int32 counter, zeroed by the call).
void count_non_finite(int* count, const float* x, int64_t n, cudaStream_t stream);
// *out = scale * sum(x[0:n]), summed by one block in a fixed order (bitwise reproducible); out fp32.
void scaled_sum(float* out, const float* x, int64_t n, float scale, cudaStream_t stream);

}  // namespace nanochat::kernels::cuda
