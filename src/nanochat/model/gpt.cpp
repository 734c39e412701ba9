#include "nanochat/model/gpt.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "nanochat/core/error.h"
#include "nanochat/kernels/cpu/profile.h"
#include "nanochat/kernels/ops.h"

namespace nanochat::model {

namespace k = nanochat::kernels::cpu;
using k::PhaseTimer;

template <class F>
GPT<F>::GPT(const GPTConfig& config) : config_(config), layout_(config) {
  params_.assign(layout_.total_floats(), F(0));
  grads_.assign(layout_.total_floats(), F(0));
  p_ = bind_pointers<F>(config_, layout_, params_.data());
  g_ = bind_pointers<F>(config_, layout_, grads_.data());
  const int64_t max_pos = 10 * config_.sequence_len, half = config_.head_dim() / 2;
  std::vector<float> c(static_cast<size_t>(max_pos * half)), s(c.size());
  k::rotary_tables(c.data(), s.data(), max_pos, config_.head_dim());
  cos_.assign(c.begin(), c.end());
  sin_.assign(s.begin(), s.end());
}

template <class F>
std::span<F> GPT<F>::param(const std::string& name) {
  const ParamEntry& e = layout_.at(name);
  return {params_.data() + e.offset, e.numel};
}

template <class F>
std::span<F> GPT<F>::grad(const std::string& name) {
  const ParamEntry& e = layout_.at(name);
  return {grads_.data() + e.offset, e.numel};
}

template <class F>
void GPT<F>::zero_grads() {
  std::fill(grads_.begin(), grads_.end(), F(0));
}

template <class F>
void GPT<F>::load(const SafetensorsReader& file, const std::string& prefix) {
  for (const ParamEntry& e : layout_.params()) {
    const std::string name = prefix + e.name;
    std::span<F> dst(params_.data() + e.offset, e.numel);
    if constexpr (std::is_same_v<F, float>) {
      file.read_f32_into(name, e.shape, dst);
    } else {
      const TensorInfo& ti = file.info(name);
      NC_CHECK(ti.shape == e.shape, "{}: tensor '{}' has shape {}, expected {}", file.path().string(), name,
               shape_string(ti.shape), shape_string(e.shape));
      const std::vector<double> v = file.read_f64(name);
      std::copy(v.begin(), v.end(), dst.begin());
    }
  }
  for (const std::string& name : file.names()) {
    if (name.rfind(prefix, 0) != 0) continue;
    NC_CHECK(layout_.index_of(name.substr(prefix.size())) >= 0,
             "{}: tensor '{}' is not a parameter of this model (config {})", file.path().string(), name,
             config_.to_json());
  }
}

// Loss and its gradient through lm_head in one pass over row chunks (Activations::fuse_lm_head_backward):
// logits -> softcap + cross-entropy -> dL/dlogits (loss_scale 1, in place) -> gradients of lm_head
// (accumulated over chunks, K = chunk rows) and of the final norm output. Chunks of 1024 rows keep
// the lm_head gradient's re-reads few (BT/1024 passes over V*C) at 128 MB of logits.
template <class F>
static void fused_loss_chunks(Activations<F>& acts, const F* lm_head, int64_t C, int64_t V) {
  const int64_t BT = acts.rows(), chunk = std::min<int64_t>(BT, 1024);
  const F scale = static_cast<F>(1.0 / static_cast<double>(acts.num_valid_targets));
  acts.fused_logits.resize(static_cast<size_t>(chunk * V));
  acts.fused_g_lm_head.resize(static_cast<size_t>(V * C));
  acts.fused_g_xf.resize(static_cast<size_t>(BT * C));
  std::fill(acts.fused_g_lm_head.begin(), acts.fused_g_lm_head.end(), F(0));
  F* z = acts.fused_logits.data();
  for (int64_t r0 = 0; r0 < BT; r0 += chunk) {
    const int64_t n = std::min(chunk, BT - r0);
    const F* xf = acts.xf_n + r0 * C;
    const int64_t* targets = acts.targets.data() + r0;
    {
      PhaseTimer t("fwd.lm_head_gemm");
      k::linear_forward(z, xf, lm_head, n, V, C);
    }
    {
      PhaseTimer t("fwd.softcap_ce");
      k::softcap_cross_entropy_forward(z, acts.loss + r0, acts.lse + r0, targets, n, V, static_cast<F>(kLogitSoftcap));
    }
    if (acts.num_valid_targets == 0) continue;  // no gradient (backward returns early)
    {
      PhaseTimer t("bwd.softcap_ce");
      k::softcap_cross_entropy_backward(z, acts.lse + r0, targets, n, V, static_cast<F>(kLogitSoftcap), scale);
    }
    PhaseTimer t("bwd.lm_head_gemm");
    k::linear_backward_weight(acts.fused_g_lm_head.data(), z, xf, n, V, C);
    k::linear_backward_input(acts.fused_g_xf.data() + r0 * C, z, lm_head, n, V, C, /*accumulate=*/false);
  }
  acts.fused_grads_ready = acts.num_valid_targets > 0;
}

template <class F>
F GPT<F>::forward(Activations<F>& acts, const int64_t* idx, const int64_t* targets) const {
  const GPTConfig& c = config_;
  const int64_t B = acts.B(), T = acts.T(), BT = B * T, C = c.n_embd, H = c.n_head, Hk = c.n_kv_head;
  const int64_t d = c.head_dim(), KV = c.kv_dim(), V = c.vocab_size;
  PhaseTimer total("fwd");
  NC_CHECK(T <= 10 * c.sequence_len, "forward: sequence length {} exceeds the rotary table ({} positions)", T,
           10 * c.sequence_len);
  acts.idx.assign(idx, idx + BT);
  for (int64_t r = 0; r < BT; ++r)
    NC_CHECK(idx[r] >= 0 && idx[r] < V, "forward: token id {} at position {} is outside the vocabulary [0, {})",
             idx[r], r, V);
  acts.has_targets = targets != nullptr;
  acts.fused_grads_ready = false;
  acts.num_valid_targets = 0;
  if (targets != nullptr) {
    acts.targets.assign(targets, targets + BT);
    for (int64_t r = 0; r < BT; ++r) {
      NC_CHECK(targets[r] >= -1 && targets[r] < V, "forward: target {} at position {} is outside [-1, {})",
               targets[r], r, V);
      acts.num_valid_targets += targets[r] >= 0 ? 1 : 0;
    }
  }

  // Embedding, norm, smear. x0 is the post-smear embedding.
  {
    PhaseTimer t("fwd.embed_smear");
    k::embedding_forward(acts.buf_c0, p_.wte, acts.idx.data(), BT, C);
    k::rmsnorm_forward(acts.xn_emb, acts.rstd_emb, acts.buf_c0, BT, C);
    k::smear_forward(acts.x0, acts.smear_sig, acts.xn_emb, p_.smear_gate, *p_.smear_lambda, B, T, C);
  }

  const F* x = acts.x0;
  F* z = acts.buf_c0;      // block input after the lambda mix
  F* x_mid = acts.buf_c1;  // after the attention residual
  for (int64_t i = 0; i < c.n_layer; ++i) {
    const LayerPtrs<F>& lp = p_.layers[static_cast<size_t>(i)];
    LayerActivations<F>& la = acts.layers[static_cast<size_t>(i)];
    {
      PhaseTimer t("fwd.residual_norm");
      k::residual_mix_forward(z, x, acts.x0, p_.resid_lambdas[i], p_.x0_lambdas[i], BT * C);
      k::rmsnorm_forward(la.h, la.rstd_h, z, BT, C);
    }

    // Attention sub-block.
    {
      PhaseTimer t("fwd.gemm");
      k::linear_forward(la.q, la.h, lp.c_q, BT, C, C);
      k::linear_forward(la.k, la.h, lp.c_k, BT, KV, C);
      k::linear_forward(la.v, la.h, lp.c_v, BT, KV, C);
    }
    if (lp.value_embed != nullptr) {
      PhaseTimer t("fwd.value_embed");
      k::value_embed_forward(la.v, la.ve_gate, la.h, lp.ve_gate, lp.value_embed, acts.idx.data(), BT, C, Hk, d);
    }
    {
      PhaseTimer t("fwd.rope_qknorm");
      k::rotary_forward(la.q, cos_.data(), sin_.data(), B, T, H, d, int64_t{0});
      k::rotary_forward(la.k, cos_.data(), sin_.data(), B, T, Hk, d, int64_t{0});
      k::scaled_rmsnorm_forward(la.q, la.rstd_q, BT * H, d, static_cast<F>(kQkScale));
      k::scaled_rmsnorm_forward(la.k, la.rstd_k, BT * Hk, d, static_cast<F>(kQkScale));
    }
    const k::AttentionShape shape{B, T, H, Hk, d, T, T, 0, c.window(i)};
    {
      PhaseTimer t("fwd.attention");
      k::attention_forward(la.y, la.lse, la.q, la.k, la.v, shape);
    }
    {
      PhaseTimer t("fwd.gemm");
      std::memcpy(x_mid, z, static_cast<size_t>(BT * C) * sizeof(F));
      k::linear_forward(x_mid, la.y, lp.c_proj, BT, C, C, /*accumulate=*/true);
    }

    // MLP sub-block.
    {
      PhaseTimer t("fwd.residual_norm");
      k::rmsnorm_forward(la.h2, la.rstd_h2, x_mid, BT, C);
    }
    {
      PhaseTimer t("fwd.gemm");
      k::linear_forward(la.u, la.h2, lp.c_fc, BT, 4 * C, C);
    }
    {
      PhaseTimer t("fwd.relu2");
      k::relu2_forward(la.a, la.u, BT * 4 * C);
    }
    {
      PhaseTimer t("fwd.gemm");
      std::memcpy(la.out, x_mid, static_cast<size_t>(BT * C) * sizeof(F));
      k::linear_forward(la.out, la.a, lp.mlp_proj, BT, C, 4 * C, /*accumulate=*/true);
    }
    x = la.out;
  }

  // Backout of block L/2's output, then the final norm.
  const F* xb = acts.layers[static_cast<size_t>(c.backout_layer())].out;
  {
    PhaseTimer t("fwd.residual_norm");
    k::residual_mix_forward(acts.buf_c2, x, xb, F(1), -*p_.backout_lambda, BT * C);
    k::rmsnorm_forward(acts.xf_n, acts.rstd_f, acts.buf_c2, BT, C);
  }
  if (targets == nullptr) return std::numeric_limits<F>::quiet_NaN();

  if (acts.fuse_lm_head_backward) {
    fused_loss_chunks(acts, p_.lm_head, C, V);
  } else {
    // Loss, a chunk of rows at a time (the backward recomputes the logits, a vocabulary block at a time).
    const int64_t chunk = acts.logits_chunk_rows();
    for (int64_t r0 = 0; r0 < BT; r0 += chunk) {
      const int64_t n = std::min(chunk, BT - r0);
      {
        PhaseTimer t("fwd.lm_head_gemm");
        k::linear_forward(acts.logits_chunk, acts.xf_n + r0 * C, p_.lm_head, n, V, C);
      }
      PhaseTimer t("fwd.softcap_ce");
      k::softcap_cross_entropy_forward(acts.logits_chunk, acts.loss + r0, acts.lse + r0, acts.targets.data() + r0, n,
                                       V, static_cast<F>(kLogitSoftcap));
    }
  }
  if (acts.num_valid_targets == 0) return std::numeric_limits<F>::quiet_NaN();
  double sum = 0;
  for (int64_t r = 0; r < BT; ++r) sum += acts.loss[r];
  return static_cast<F>(sum / static_cast<double>(acts.num_valid_targets));
}

template <class F>
void GPT<F>::logits(Activations<F>& acts, F* out) const {
  const int64_t BT = acts.rows(), V = config_.vocab_size;
  k::linear_forward(out, acts.xf_n, p_.lm_head, BT, V, config_.n_embd);
  k::softcap_cross_entropy_forward<F>(out, nullptr, nullptr, nullptr, BT, V, static_cast<F>(kLogitSoftcap));
}

template <class F>
void GPT<F>::backward(Activations<F>& acts, F loss_scale) {
  const GPTConfig& c = config_;
  PhaseTimer total("bwd");
  NC_CHECK(acts.has_targets, "backward: the last forward had no targets");
  const int64_t B = acts.B(), T = acts.T(), BT = B * T, C = c.n_embd, H = c.n_head, Hk = c.n_kv_head;
  const int64_t d = c.head_dim(), KV = c.kv_dim(), V = c.vocab_size;
  if (acts.num_valid_targets == 0) return;  // the mean is undefined (NaN); nothing flows back
  const F scale = static_cast<F>(static_cast<double>(loss_scale) / static_cast<double>(acts.num_valid_targets));
  const int64_t* idx = acts.idx.data();

  F* g = acts.buf_c0;     // gradient w.r.t. the residual stream at the current point
  F* g_x0 = acts.buf_c1;  // accumulated gradient w.r.t. x0
  F* g_xb = acts.buf_c2;  // backout's contribution to block L/2's output
  F* g_h = acts.buf_c3;   // gradient w.r.t. a norm output (h, h2, final norm)
  F* g_q = acts.buf_q;
  F* g_k = acts.buf_k;
  F* g_v = acts.buf_v;
  F* g_u = acts.buf_4c1;

  if (acts.fused_grads_ready) {
    // The forward already ran this part for loss_scale 1 (Activations::fuse_lm_head_backward).
    PhaseTimer t("bwd.lm_head_fused_scale");
    const F* gw = acts.fused_g_lm_head.data();
    const F* gx = acts.fused_g_xf.data();
    const int64_t nw = V * C;
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < nw; ++i) g_.lm_head[i] += loss_scale * gw[i];
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < BT * C; ++i) g_h[i] = loss_scale * gx[i];
  } else {
    // Cross-entropy, softcap and lm_head, a block of vocabulary columns at a time over all rows (the
    // forward's lse makes each block's softmax known); g_h collects d/d(final norm output).
    const int64_t vb = acts.logits_vocab_block();
    for (int64_t v0 = 0; v0 < V; v0 += vb) {
      const int64_t n = std::min(vb, V - v0);
      const F* w_block = p_.lm_head + v0 * C;
      {
        PhaseTimer t("bwd.lm_head_gemm");
        k::linear_forward(acts.logits_chunk, acts.xf_n, w_block, BT, n, C);
      }
      {
        PhaseTimer t("bwd.softcap_ce");
        k::softcap_cross_entropy_backward_block(acts.logits_chunk, acts.lse, acts.targets.data(), BT, n, v0,
                                                static_cast<F>(kLogitSoftcap), scale);
      }
      PhaseTimer t("bwd.lm_head_gemm");
      k::linear_backward_weight(g_.lm_head + v0 * C, acts.logits_chunk, acts.xf_n, BT, n, C);
      k::linear_backward_input(g_h, acts.logits_chunk, w_block, BT, n, C, /*accumulate=*/v0 > 0);
    }
  }
  PhaseTimer t_tail("bwd.residual_norm");
  k::rmsnorm_backward(g, g_h, acts.xf_n, acts.rstd_f, BT, C, /*accumulate=*/false);

  // Backout: x_f = x_L - lambda_b * x_b.
  const int64_t Lb = c.backout_layer();
  std::fill(g_xb, g_xb + BT * C, F(0));
  {
    F unused = 0, g_neg_lambda = 0;
    const F* xL = acts.layers.back().out;
    const F* xb = acts.layers[static_cast<size_t>(Lb)].out;
    k::residual_mix_backward(g, g_xb, &unused, &g_neg_lambda, g, xL, xb, F(1), -*p_.backout_lambda, BT * C);
    *g_.backout_lambda -= g_neg_lambda;
  }

  std::fill(g_x0, g_x0 + BT * C, F(0));
  t_tail.stop();
  for (int64_t i = c.n_layer - 1; i >= 0; --i) {
    const LayerPtrs<F>& lp = p_.layers[static_cast<size_t>(i)];
    const LayerPtrs<F>& lg = g_.layers[static_cast<size_t>(i)];
    const LayerActivations<F>& la = acts.layers[static_cast<size_t>(i)];
    if (i == Lb) {
      PhaseTimer t("bwd.residual_norm");
      k::add_inplace(g, g_xb, BT * C);
    }

    // MLP: out = x_mid + relu2(h2 W_fc^T) W_p^T. g becomes d/d(x_mid).
    {
      PhaseTimer t("bwd.gemm");
      k::linear_backward_weight(lg.mlp_proj, g, la.a, BT, C, 4 * C);
      k::linear_backward_input(g_u, g, lp.mlp_proj, BT, C, 4 * C, false);
    }
    {
      PhaseTimer t("bwd.relu2");
      k::relu2_backward(g_u, g_u, la.u, BT * 4 * C);
    }
    {
      PhaseTimer t("bwd.gemm");
      k::linear_backward_weight(lg.c_fc, g_u, la.h2, BT, 4 * C, C);
      k::linear_backward_input(g_h, g_u, lp.c_fc, BT, 4 * C, C, false);
    }
    {
      PhaseTimer t("bwd.residual_norm");
      k::rmsnorm_backward(g, g_h, la.h2, la.rstd_h2, BT, C, /*accumulate=*/true);
    }

    // Attention: x_mid = z + y W_o^T. g becomes d/dz.
    F* g_y = g_h;
    {
      PhaseTimer t("bwd.gemm");
      k::linear_backward_weight(lg.c_proj, g, la.y, BT, C, C);
      k::linear_backward_input(g_y, g, lp.c_proj, BT, C, C, false);
    }
    const k::AttentionShape shape{B, T, H, Hk, d, T, T, 0, c.window(i)};
    {
      PhaseTimer t("bwd.attention");
      k::attention_backward(g_q, g_k, g_v, g_y, la.q, la.k, la.v, la.y, la.lse, shape);
    }
    {
      PhaseTimer t("bwd.rope_qknorm");
      k::scaled_rmsnorm_backward(g_q, la.q, la.rstd_q, BT * H, d, static_cast<F>(kQkScale));
      k::scaled_rmsnorm_backward(g_k, la.k, la.rstd_k, BT * Hk, d, static_cast<F>(kQkScale));
      k::rotary_backward(g_q, cos_.data(), sin_.data(), B, T, H, d, int64_t{0});
      k::rotary_backward(g_k, cos_.data(), sin_.data(), B, T, Hk, d, int64_t{0});
    }
    {
      PhaseTimer t("bwd.gemm");
      k::linear_backward_weight(lg.c_q, g_q, la.h, BT, C, C);
      k::linear_backward_weight(lg.c_k, g_k, la.h, BT, KV, C);
      k::linear_backward_weight(lg.c_v, g_v, la.h, BT, KV, C);
      k::linear_backward_input(g_h, g_q, lp.c_q, BT, C, C, false);
      k::linear_backward_input(g_h, g_k, lp.c_k, BT, KV, C, true);
      k::linear_backward_input(g_h, g_v, lp.c_v, BT, KV, C, true);
    }
    if (lp.value_embed != nullptr) {
      PhaseTimer t("bwd.value_embed");
      k::value_embed_backward(g_h, lg.ve_gate, lg.value_embed, g_v, la.ve_gate, la.h, lp.ve_gate, lp.value_embed, idx,
                              BT, C, Hk, d);
    }
    PhaseTimer t("bwd.residual_norm");
    k::rmsnorm_backward(g, g_h, la.h, la.rstd_h, BT, C, /*accumulate=*/true);

    // Lambda mix: z = alpha*x_prev + beta*x0. g becomes d/d(x_prev).
    const F* x_prev = i == 0 ? acts.x0 : acts.layers[static_cast<size_t>(i - 1)].out;
    k::residual_mix_backward(g, g_x0, g_.resid_lambdas + i, g_.x0_lambdas + i, g, x_prev, acts.x0,
                             p_.resid_lambdas[i], p_.x0_lambdas[i], BT * C);
  }
  // Block 0's "previous" stream is x0 itself.
  PhaseTimer t_embed("bwd.embed_smear");
  k::add_inplace(g_x0, g, BT * C);

  // Smear, embedding norm, embedding table.
  k::smear_backward(g, g_.smear_gate, g_.smear_lambda, g_x0, acts.xn_emb, acts.smear_sig, p_.smear_gate,
                    *p_.smear_lambda, B, T, C);
  k::rmsnorm_backward(g_h, g, acts.xn_emb, acts.rstd_emb, BT, C, /*accumulate=*/false);
  k::embedding_backward(g_.wte, g_h, idx, BT, C);
}

template class GPT<float>;
template class GPT<double>;

}  // namespace nanochat::model
