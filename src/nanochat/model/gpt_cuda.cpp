#include "nanochat/model/gpt_cuda.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string_view>

#include "nanochat/core/bf16.h"
#include "nanochat/core/error.h"
#include "nanochat/kernels/cuda/attention.h"
#include "nanochat/kernels/cuda/check.h"
#include "nanochat/kernels/cuda/linear.h"
#include "nanochat/kernels/cuda/mlp_gemm.h"
#include "nanochat/kernels/cuda/ops.h"
#include "nanochat/model/gpt.h"

namespace nanochat::model {

namespace kc = nanochat::kernels::cuda;
using cuda::linear_backward_input;
using cuda::linear_backward_weight;
using cuda::linear_forward;
using kc::ScalarParam;

namespace {

inline bf16_t* bf(uint16_t* p) { return reinterpret_cast<bf16_t*>(p); }

// The MLP's relu^2 fused into its GEMMs (kernels/cuda/mlp_gemm.h) where the shape allows; the
// environment's NANOCHAT_FUSED_MLP=0 keeps cuBLASLt + the separate relu^2 passes. Read once.
bool fused_mlp_allowed() {
  static const bool allowed = [] {
    const char* e = std::getenv("NANOCHAT_FUSED_MLP");
    return e == nullptr || std::string_view(e) != "0";
  }();
  return allowed;
}

}  // namespace

// ---------------------------------------------------------------- activations

CudaActivations::CudaActivations(const GPTConfig& config, int64_t B, int64_t T, int64_t logits_chunk_rows)
    : config_(config), B_(B), T_(T) {
  NC_CHECK(B > 0 && T > 0, "activations: batch {} x sequence {} must be positive", B, T);
  NC_CHECK(logits_chunk_rows >= 0, "activations: logits chunk of {} rows", logits_chunk_rows);
  // Logits (bf16) a chunk of rows at a time: about 256M values (512 MiB), never the whole batch. Smaller
  // chunks starve lm_head's input-gradient product (its output is only chunk x n_embd, K = vocab).
  const int64_t rows = logits_chunk_rows > 0 ? logits_chunk_rows : (int64_t{1} << 28) / config.vocab_size;
  chunk_rows_ = std::clamp<int64_t>(rows, 1, B * T);
  size_t total = 0;
  plan(nullptr, &total);
  arena_ = cuda::DeviceBuffer<std::byte>(total);
  plan(arena_.data(), &total);
  NC_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&idx_host), 2 * static_cast<size_t>(B * T) * sizeof(int64_t)));
  targets_host = idx_host + B * T;
}

CudaActivations::~CudaActivations() {
  if (idx_host != nullptr) cudaFreeHost(idx_host);
}

void CudaActivations::plan(std::byte* base, size_t* total) {
  size_t cursor = 0;
  auto take_bytes = [&](size_t bytes) -> std::byte* {
    std::byte* p = base == nullptr ? nullptr : base + cursor;
    cursor += (bytes + 255) / 256 * 256;  // 256-byte aligned spans (cuBLASLt and vector loads)
    return p;
  };
  auto h16 = [&](int64_t n) { return reinterpret_cast<bf16_t*>(take_bytes(static_cast<size_t>(n) * 2)); };
  auto f32 = [&](int64_t n) { return reinterpret_cast<float*>(take_bytes(static_cast<size_t>(n) * 4)); };
  const int64_t BT = B_ * T_, C = config_.n_embd, H = config_.n_head, Hk = config_.n_kv_head;
  const int64_t KV = config_.kv_dim();
  idx = reinterpret_cast<int64_t*>(take_bytes(static_cast<size_t>(BT) * 8));
  targets = reinterpret_cast<int64_t*>(take_bytes(static_cast<size_t>(BT) * 8));
  xn_emb = h16(BT * C);
  rstd_emb = f32(BT);
  smear_sig = f32(BT);
  x0 = h16(BT * C);
  layers.assign(static_cast<size_t>(config_.n_layer), CudaLayerActivations{});
  for (int64_t i = 0; i < config_.n_layer; ++i) {
    CudaLayerActivations& l = layers[static_cast<size_t>(i)];
    l.h = h16(BT * C);
    l.rstd_h = f32(BT);
    l.q = h16(BT * C);
    l.rstd_q = f32(BT * H);
    l.k = h16(BT * KV);
    l.rstd_k = f32(BT * Hk);
    l.v = h16(BT * KV);
    l.ve_gate = config_.has_value_embed(i) ? f32(BT * Hk) : nullptr;
    l.y = h16(BT * C);
    l.lse = f32(BT * H);
    l.h2 = h16(BT * C);
    l.rstd_h2 = f32(BT);
    l.u = h16(BT * 4 * C);
    l.out = h16(BT * C);
  }
  xf_n = h16(BT * C);
  rstd_f = f32(BT);
  loss = f32(BT);
  lse = f32(BT);
  mean_loss = f32(1);
  buf_c0 = h16(BT * C);
  buf_c1 = h16(BT * C);
  buf_c2 = h16(BT * C);
  buf_c3 = h16(BT * C);
  buf_q = h16(BT * C);
  buf_k = h16(BT * KV);
  buf_v = h16(BT * KV);
  buf_4c = h16(BT * 4 * C);
  g_x0 = f32(BT * C);
  g_xb = f32(BT * C);
  logits = h16(chunk_rows_ * config_.vocab_size);
  *total = cursor;
}

// ---------------------------------------------------------------- model

GptCuda::GptCuda(const GPTConfig& config, cuda::CudaContext& ctx)
    : config_(config),
      layout_(config),
      ctx_(ctx),
      params_(layout_.total_floats()),
      grads_(layout_.total_floats()),
      shadow_(layout_.total_floats()) {
  config_.validate();
  NC_CHECK(config_.head_dim() == 64 || config_.head_dim() == 128,
           "the CUDA backend needs head_dim 64 or 128 (its attention kernels); this model has n_embd {} / n_head {} = {}",
           config_.n_embd, config_.n_head, config_.head_dim());
  p_ = bind_pointers<float>(config_, layout_, params_.data());
  g_ = bind_pointers<float>(config_, layout_, grads_.data());
  w_ = bind_pointers<uint16_t>(config_, layout_, shadow_.data());
  // The original rounds its rotary tables to the compute dtype (spec §3.1.4).
  const int64_t max_pos = 10 * config_.sequence_len, half = config_.head_dim() / 2;
  std::vector<float> c(static_cast<size_t>(max_pos * half)), s(c.size());
  kernels::cpu::rotary_tables(c.data(), s.data(), max_pos, config_.head_dim());
  for (float& x : c) x = bf16::round(x);
  for (float& x : s) x = bf16::round(x);
  cos_ = cuda::DeviceBuffer<float>(c.size());
  sin_ = cuda::DeviceBuffer<float>(s.size());
  cos_.copy_from_host(c);
  sin_.copy_from_host(s);
  params_.fill_bytes(0);
  grads_.fill_bytes(0);
  refresh_shadow();
  ctx_.synchronize();
}

void GptCuda::upload_params(std::span<const float> host) {
  NC_CHECK(host.size() == layout_.total_floats(), "GptCuda::upload_params: {} floats given, the slab holds {}",
           host.size(), layout_.total_floats());
  ctx_.synchronize();
  params_.copy_from_host(host);
  refresh_shadow();
  ctx_.synchronize();
}

void GptCuda::download_params(std::span<float> host) const {
  NC_CHECK(host.size() == layout_.total_floats(), "GptCuda::download_params: {} floats given, the slab holds {}",
           host.size(), layout_.total_floats());
  const std::vector<float> v = params_.to_host();
  std::copy(v.begin(), v.end(), host.begin());
}

std::vector<float> GptCuda::download_grads() const { return grads_.to_host(); }

void GptCuda::refresh_shadow() {
  kc::cast_to_bf16(shadow(), params_.data(), static_cast<int64_t>(layout_.total_floats()), ctx_.stream());
}

void GptCuda::zero_grads() {
  NC_CUDA_CHECK(cudaMemsetAsync(grads_.data(), 0, grads_.bytes(), ctx_.stream()));
}

void GptCuda::stage_inputs(CudaActivations& acts, const int64_t* idx, const int64_t* targets) {
  const int64_t BT = acts.rows(), V = config_.vocab_size;
  for (int64_t r = 0; r < BT; ++r)
    NC_CHECK(idx[r] >= 0 && idx[r] < V, "forward: token id {} at position {} is outside the vocabulary [0, {})",
             idx[r], r, V);
  acts.has_targets = targets != nullptr;
  acts.num_valid_targets = 0;
  if (targets != nullptr) {
    for (int64_t r = 0; r < BT; ++r) {
      NC_CHECK(targets[r] >= -1 && targets[r] < V, "forward: target {} at position {} is outside [-1, {})",
               targets[r], r, V);
      acts.num_valid_targets += targets[r] >= 0 ? 1 : 0;
    }
  }
  // The pinned staging may still feed the previous step's copy: wait for the stream before reuse.
  NC_CUDA_CHECK(cudaStreamSynchronize(ctx_.stream()));
  std::memcpy(acts.idx_host, idx, static_cast<size_t>(BT) * sizeof(int64_t));
  NC_CUDA_CHECK(cudaMemcpyAsync(acts.idx, acts.idx_host, static_cast<size_t>(BT) * sizeof(int64_t),
                                cudaMemcpyHostToDevice, ctx_.stream()));
  if (targets != nullptr) {
    std::memcpy(acts.targets_host, targets, static_cast<size_t>(BT) * sizeof(int64_t));
    NC_CUDA_CHECK(cudaMemcpyAsync(acts.targets, acts.targets_host, static_cast<size_t>(BT) * sizeof(int64_t),
                                  cudaMemcpyHostToDevice, ctx_.stream()));
  }
}

void GptCuda::forward_trunk(CudaActivations& acts) {
  const GPTConfig& c = config_;
  cudaStream_t st = ctx_.stream();
  const int64_t B = acts.B(), T = acts.T(), BT = B * T, C = c.n_embd, H = c.n_head, Hk = c.n_kv_head;
  const int64_t d = c.head_dim(), KV = c.kv_dim();
  NC_CHECK(T <= 10 * c.sequence_len, "forward: sequence length {} exceeds the rotary table ({} positions)", T,
           10 * c.sequence_len);

  cuda::profile_mark(prof_, "fwd.embed_smear");
  kc::embedding_forward(acts.buf_c0, bf(w_.wte), acts.idx, BT, C, st);
  kc::rmsnorm_forward(acts.xn_emb, acts.rstd_emb, acts.buf_c0, BT, C, st);
  kc::smear_forward(acts.x0, acts.smear_sig, acts.xn_emb, bf(w_.smear_gate), p_.smear_lambda, B, T, C, st);

  const bf16_t* x = acts.x0;
  bf16_t* z = acts.buf_c0;
  bf16_t* x_mid = acts.buf_c1;
  for (int64_t i = 0; i < c.n_layer; ++i) {
    const LayerPtrs<uint16_t>& lw = w_.layers[static_cast<size_t>(i)];
    CudaLayerActivations& la = acts.layers[static_cast<size_t>(i)];
    cuda::profile_mark(prof_, "fwd.norm_mix");
    kc::residual_mix_rmsnorm_forward(z, la.h, la.rstd_h, x, acts.x0, ScalarParam{p_.resid_lambdas + i, 1.0f},
                                     ScalarParam{p_.x0_lambdas + i, 1.0f}, BT, C, st);

    cuda::profile_mark(prof_, "fwd.gemm_qkv");
    linear_forward(ctx_, la.q, la.h, bf(lw.c_q), BT, C, C);
    linear_forward(ctx_, la.k, la.h, bf(lw.c_k), BT, KV, C);
    linear_forward(ctx_, la.v, la.h, bf(lw.c_v), BT, KV, C);
    cuda::profile_mark(prof_, "fwd.value_embed");
    if (lw.value_embed != nullptr)
      kc::value_embed_forward(la.v, la.ve_gate, la.h, bf(lw.ve_gate), bf(lw.value_embed), acts.idx, BT, C, Hk, d,
                              st);
    cuda::profile_mark(prof_, "fwd.rope_qknorm");
    kc::rotary_scaled_rmsnorm_forward(la.q, la.rstd_q, cos_.data(), sin_.data(), B, T, H, d, 0,
                                      static_cast<float>(kQkScale), st);
    kc::rotary_scaled_rmsnorm_forward(la.k, la.rstd_k, cos_.data(), sin_.data(), B, T, Hk, d, 0,
                                      static_cast<float>(kQkScale), st);
    cuda::profile_mark(prof_, "fwd.attention");
    const kernels::cpu::AttentionShape shape{B, T, H, Hk, d, T, T, 0, c.window(i)};
    kc::attention_forward(la.y, la.lse, la.q, la.k, la.v, shape, st);
    cuda::profile_mark(prof_, "fwd.gemm_proj");
    linear_forward(ctx_, x_mid, la.y, bf(lw.c_proj), BT, C, C, /*residual=*/z);

    cuda::profile_mark(prof_, "fwd.norm_mix");
    kc::rmsnorm_forward(la.h2, la.rstd_h2, x_mid, BT, C, st);
    cuda::profile_mark(prof_, "fwd.gemm_fc");
    if (fused_mlp_allowed() && kc::mlp_gemm_supported(BT, 4 * C, C)) {
      kc::fc_relu2_forward(la.u, acts.buf_4c, la.h2, bf(lw.c_fc), BT, 4 * C, C, st);  // u and a = relu(u)^2
    } else {
      linear_forward(ctx_, la.u, la.h2, bf(lw.c_fc), BT, 4 * C, C);
      cuda::profile_mark(prof_, "fwd.relu2");
      kc::relu2_forward(acts.buf_4c, la.u, BT * 4 * C, st);
    }
    cuda::profile_mark(prof_, "fwd.gemm_mlp_proj");
    linear_forward(ctx_, la.out, acts.buf_4c, bf(lw.mlp_proj), BT, C, 4 * C, /*residual=*/x_mid);
    x = la.out;
  }
  cuda::profile_mark(prof_, "fwd.norm_mix");
  const bf16_t* xb = acts.layers[static_cast<size_t>(c.backout_layer())].out;
  kc::residual_mix_rmsnorm_forward(acts.buf_c2, acts.xf_n, acts.rstd_f, x, xb, ScalarParam{nullptr, 1.0f},
                                   ScalarParam{p_.backout_lambda, -1.0f}, BT, C, st);
}

// Logits a chunk of rows at a time: softcap + CE, and for training the loss gradient straight back
// through lm_head while the chunk is at hand (one of the four (BT, V, C) GEMMs saved), so the final
// norm's output gradient (buf_c3) and lm_head's gradient are ready when the trunk's backward starts.
void GptCuda::loss_chunks(CudaActivations& acts, bool with_backward, float loss_scale) {
  cudaStream_t st = ctx_.stream();
  const int64_t BT = acts.rows(), C = config_.n_embd, V = config_.vocab_size, chunk = acts.logits_chunk_rows();
  const float cap = static_cast<float>(kLogitSoftcap);
  const float scale = acts.num_valid_targets > 0 ? loss_scale / static_cast<float>(acts.num_valid_targets) : 0.0f;
  for (int64_t r0 = 0; r0 < BT; r0 += chunk) {
    const int64_t n = std::min(chunk, BT - r0);
    const bf16_t* xf = acts.xf_n + r0 * C;
    cuda::profile_mark(prof_, "loss.gemm_logits");
    linear_forward(ctx_, acts.logits, xf, bf(w_.lm_head), n, V, C);
    cuda::profile_mark(prof_, "loss.softcap_ce");
    if (!with_backward) {
      kc::softcap_cross_entropy_forward(acts.loss + r0, acts.lse + r0, acts.logits, acts.targets + r0, n, V, cap, st);
      continue;
    }
    // Loss and dL/dlogits in place from one read of the chunk.
    kc::softcap_cross_entropy_forward_backward(acts.loss + r0, acts.lse + r0, acts.logits, acts.targets + r0, n, V,
                                               cap, scale, st);
    cuda::profile_mark(prof_, "loss.gemm_lm_head_grads");
    linear_backward_weight(ctx_, g_.lm_head, acts.logits, xf, n, V, C);
    linear_backward_input(ctx_, acts.buf_c3 + r0 * C, acts.logits, bf(w_.lm_head), n, V, C, false);
  }
  const float mean_scale =
      acts.num_valid_targets > 0 ? 1.0f / static_cast<float>(acts.num_valid_targets) : std::numeric_limits<float>::quiet_NaN();
  kc::scaled_sum(acts.mean_loss, acts.loss, BT, mean_scale, st);
}

void GptCuda::backward_trunk(CudaActivations& acts) {
  const GPTConfig& c = config_;
  cudaStream_t st = ctx_.stream();
  const int64_t B = acts.B(), T = acts.T(), BT = B * T, C = c.n_embd, H = c.n_head, Hk = c.n_kv_head;
  const int64_t d = c.head_dim(), KV = c.kv_dim(), Vp = c.padded_vocab_size();

  bf16_t* g = acts.buf_c0;    // gradient of the residual stream at the current point
  bf16_t* g_h = acts.buf_c3;  // gradient of a norm output
  bf16_t* g_q = acts.buf_q;
  bf16_t* g_k = acts.buf_k;
  bf16_t* g_v = acts.buf_v;
  bf16_t* g_u = acts.buf_4c;

  cuda::profile_mark(prof_, "bwd.norm_mix");
  const int64_t Lb = c.backout_layer();
  NC_CUDA_CHECK(cudaMemsetAsync(acts.g_xb, 0, static_cast<size_t>(BT * C) * sizeof(float), st));
  kc::rmsnorm_residual_mix_backward(g, acts.g_xb, nullptr, g_.backout_lambda, g_h, acts.xf_n, acts.rstd_f,
                                    /*accumulate=*/false, acts.layers.back().out,
                                    acts.layers[static_cast<size_t>(Lb)].out, ScalarParam{nullptr, 1.0f},
                                    ScalarParam{p_.backout_lambda, -1.0f}, BT, C, st);
  NC_CUDA_CHECK(cudaMemsetAsync(acts.g_x0, 0, static_cast<size_t>(BT * C) * sizeof(float), st));

  for (int64_t i = c.n_layer - 1; i >= 0; --i) {
    const LayerPtrs<uint16_t>& lw = w_.layers[static_cast<size_t>(i)];
    const LayerPtrs<float>& lg = g_.layers[static_cast<size_t>(i)];
    const CudaLayerActivations& la = acts.layers[static_cast<size_t>(i)];
    if (i == Lb) kc::add_inplace(g, acts.g_xb, BT * C, st);

    // MLP. One pass over u gives both relu²'s gradient (in place on g_a) and the recomputed relu²
    // itself, written over u (dead from here on) for mlp_proj's weight gradient.
    cuda::profile_mark(prof_, "bwd.gemm_mlp");
    if (fused_mlp_allowed() && kc::mlp_gemm_supported(BT, 4 * C, C)) {
      // The same, with G = g W_proj never leaving registers.
      kc::mlp_proj_input_grad_relu2(g_u, la.u, g, bf(lw.mlp_proj), BT, 4 * C, C, st);
    } else {
      linear_backward_input(ctx_, g_u, g, bf(lw.mlp_proj), BT, C, 4 * C, false);
      cuda::profile_mark(prof_, "bwd.relu2");
      kc::relu2_backward_with_forward(g_u, la.u, g_u, la.u, BT * 4 * C, st);
    }
    cuda::profile_mark(prof_, "bwd.gemm_mlp");
    linear_backward_weight(ctx_, lg.mlp_proj, g, la.u, BT, C, 4 * C);
    linear_backward_weight(ctx_, lg.c_fc, g_u, la.h2, BT, 4 * C, C);
    linear_backward_input(ctx_, g_h, g_u, bf(lw.c_fc), BT, 4 * C, C, false);
    cuda::profile_mark(prof_, "bwd.norm_mix");
    kc::rmsnorm_backward(g, g_h, la.h2, la.rstd_h2, BT, C, /*accumulate=*/true, st);

    // Attention.
    bf16_t* g_y = g_h;
    cuda::profile_mark(prof_, "bwd.gemm_attn");
    linear_backward_weight(ctx_, lg.c_proj, g, la.y, BT, C, C);
    linear_backward_input(ctx_, g_y, g, bf(lw.c_proj), BT, C, C, false);
    const kernels::cpu::AttentionShape shape{B, T, H, Hk, d, T, T, 0, c.window(i)};
    cuda::profile_mark(prof_, "bwd.attention");
    kc::attention_backward(g_q, g_k, g_v, g_y, la.q, la.k, la.v, la.y, la.lse, shape, st);
    cuda::profile_mark(prof_, "bwd.qknorm_rope");
    kc::scaled_rmsnorm_rotary_backward(g_q, la.q, la.rstd_q, cos_.data(), sin_.data(), B, T, H, d, 0,
                                       static_cast<float>(kQkScale), st);
    kc::scaled_rmsnorm_rotary_backward(g_k, la.k, la.rstd_k, cos_.data(), sin_.data(), B, T, Hk, d, 0,
                                       static_cast<float>(kQkScale), st);
    cuda::profile_mark(prof_, "bwd.gemm_attn");
    linear_backward_weight(ctx_, lg.c_q, g_q, la.h, BT, C, C);
    linear_backward_weight(ctx_, lg.c_k, g_k, la.h, BT, KV, C);
    linear_backward_weight(ctx_, lg.c_v, g_v, la.h, BT, KV, C);
    linear_backward_input(ctx_, g_h, g_q, bf(lw.c_q), BT, C, C, false);
    linear_backward_input(ctx_, g_h, g_k, bf(lw.c_k), BT, KV, C, true);
    linear_backward_input(ctx_, g_h, g_v, bf(lw.c_v), BT, KV, C, true);
    cuda::profile_mark(prof_, "bwd.value_embed");
    if (lw.value_embed != nullptr)
      kc::value_embed_backward(g_h, lg.ve_gate, lg.value_embed, g_v, la.ve_gate, la.h, bf(lw.ve_gate),
                               bf(lw.value_embed), acts.idx, BT, C, Hk, d, Vp, st);
    cuda::profile_mark(prof_, "bwd.norm_mix");
    const bf16_t* x_prev = i == 0 ? acts.x0 : acts.layers[static_cast<size_t>(i - 1)].out;
    kc::rmsnorm_residual_mix_backward(g, acts.g_x0, g_.resid_lambdas + i, g_.x0_lambdas + i, g_h, la.h, la.rstd_h,
                                      /*accumulate=*/true, x_prev, acts.x0, ScalarParam{p_.resid_lambdas + i, 1.0f},
                                      ScalarParam{p_.x0_lambdas + i, 1.0f}, BT, C, st);
  }
  cuda::profile_mark(prof_, "bwd.embed_smear");
  kc::add_inplace(acts.g_x0, g, BT * C, st);
  kc::smear_backward(g, g_.smear_gate, g_.smear_lambda, acts.g_x0, acts.xn_emb, acts.smear_sig, bf(w_.smear_gate),
                     p_.smear_lambda, B, T, C, st);
  kc::rmsnorm_backward(g_h, g, acts.xn_emb, acts.rstd_emb, BT, C, /*accumulate=*/false, st);
  kc::embedding_backward(g_.wte, g_h, acts.idx, BT, C, Vp, st);
}

void GptCuda::forward_backward(CudaActivations& acts, const int64_t* idx, const int64_t* targets, float loss_scale) {
  NC_CHECK(targets != nullptr, "forward_backward: targets are required");
  stage_inputs(acts, idx, targets);
  forward_trunk(acts);
  loss_chunks(acts, /*with_backward=*/acts.num_valid_targets > 0, loss_scale);
  if (acts.num_valid_targets > 0) backward_trunk(acts);  // the mean is undefined (NaN): nothing flows back
}

void GptCuda::forward_loss(CudaActivations& acts, const int64_t* idx, const int64_t* targets) {
  NC_CHECK(targets != nullptr, "forward_loss: targets are required");
  stage_inputs(acts, idx, targets);
  forward_trunk(acts);
  loss_chunks(acts, /*with_backward=*/false, 1.0f);
}

float GptCuda::read_loss(const CudaActivations& acts) const {
  float v = 0;
  NC_CUDA_CHECK(cudaMemcpyAsync(&v, acts.mean_loss, sizeof(float), cudaMemcpyDeviceToHost, ctx_.stream()));
  NC_CUDA_CHECK(cudaStreamSynchronize(ctx_.stream()));
  return v;
}

std::vector<float> GptCuda::read_row_losses(const CudaActivations& acts) const {
  std::vector<float> v(static_cast<size_t>(acts.rows()));
  NC_CUDA_CHECK(cudaMemcpyAsync(v.data(), acts.loss, v.size() * sizeof(float), cudaMemcpyDeviceToHost,
                                ctx_.stream()));
  NC_CUDA_CHECK(cudaStreamSynchronize(ctx_.stream()));
  return v;
}

}  // namespace nanochat::model
