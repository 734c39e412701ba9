#include "nanochat/model/gpt_cuda_inference.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "nanochat/core/bf16.h"
#include "nanochat/core/error.h"
#include "nanochat/kernels/cuda/attention.h"
#include "nanochat/kernels/cuda/check.h"
#include "nanochat/kernels/cuda/decode_gemv.h"
#include "nanochat/kernels/cuda/linear.h"
#include "nanochat/kernels/cuda/ops.h"
#include "nanochat/kernels/ops.h"

namespace nanochat::model {

namespace kc = nanochat::kernels::cuda;
using kc::ScalarParam;

namespace {

constexpr size_t kAlignElems = 128;  // 256-byte aligned tensors (cuBLASLt, 16-byte vector loads)

size_t align_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

}  // namespace

// ---------------------------------------------------------------- weights

GptCudaInference::GptCudaInference(const GPT<float>& host, cuda::CudaContext& ctx) : config_(host.config()), ctx_(ctx) {
  const GPTConfig& c = config_;
  if (const char* e = std::getenv("NANOCHAT_DECODE_GEMV"); e != nullptr && std::string_view(e) == "0") decode_gemv_ = false;
  if (const char* e = std::getenv("NANOCHAT_DECODE_PDL"); e != nullptr && std::string_view(e) == "0") decode_pdl_ = false;
  if (const char* e = std::getenv("NANOCHAT_DECODE_FUSED_POST"); e != nullptr && std::string_view(e) == "0")
    decode_fused_post_ = false;
  const int64_t C = c.n_embd, KV = c.kv_dim(), Vp = c.padded_vocab_size(), L = c.n_layer;
  const ModelPtrs<const float> p = bind_pointers<const float>(c, host.layout(), host.params().data());

  // Host staging of the packed bf16 slab: [wte][lm_head][smear_gate] then per layer
  // [c_q|c_k|c_v][c_proj][c_fc][mlp.c_proj][ve_gate][value_embed].
  std::vector<uint16_t> slab;
  auto append = [&](std::initializer_list<std::pair<const float*, size_t>> parts) {
    const size_t at = slab.size();
    for (const auto& [src, n] : parts)
      for (size_t i = 0; i < n; ++i) slab.push_back(::nanochat::bf16::from_float(src[i]));
    slab.resize(align_up(slab.size(), kAlignElems), 0);
    return at;
  };
  auto sz = [](int64_t n) { return static_cast<size_t>(n); };
  const size_t wte = append({{p.wte, sz(Vp * C)}});
  const size_t lm_head = append({{p.lm_head, sz(Vp * C)}});
  const size_t smear_gate = append({{p.smear_gate, sz(kSmearGateChannels)}});
  struct Offsets {
    size_t qkv, proj, fc, mlp_proj, ve_gate, value_embed;
  };
  std::vector<Offsets> offs;
  for (int64_t i = 0; i < L; ++i) {
    const LayerPtrs<const float>& lp = p.layers[static_cast<size_t>(i)];
    Offsets o{};
    o.qkv = append({{lp.c_q, sz(C * C)}, {lp.c_k, sz(KV * C)}, {lp.c_v, sz(KV * C)}});
    o.proj = append({{lp.c_proj, sz(C * C)}});
    o.fc = append({{lp.c_fc, sz(4 * C * C)}});
    o.mlp_proj = append({{lp.mlp_proj, sz(4 * C * C)}});
    o.ve_gate = lp.ve_gate != nullptr ? append({{lp.ve_gate, sz(c.n_kv_head * kVeGateChannels)}}) : SIZE_MAX;
    o.value_embed = lp.value_embed != nullptr ? append({{lp.value_embed, sz(Vp * KV)}}) : SIZE_MAX;
    offs.push_back(o);
  }
  weights_ = cuda::DeviceBuffer<bf16>(slab.size());
  NC_CUDA_CHECK(cudaMemcpy(weights_.data(), slab.data(), slab.size() * sizeof(uint16_t), cudaMemcpyHostToDevice));
  const bf16* base = weights_.data();
  wte_ = base + wte;
  lm_head_ = base + lm_head;
  smear_gate_ = base + smear_gate;
  for (const Offsets& o : offs) {
    LayerWeights w;
    w.qkv = base + o.qkv;
    w.proj = base + o.proj;
    w.fc = base + o.fc;
    w.mlp_proj = base + o.mlp_proj;
    w.ve_gate = o.ve_gate != SIZE_MAX ? base + o.ve_gate : nullptr;
    w.value_embed = o.value_embed != SIZE_MAX ? base + o.value_embed : nullptr;
    layers_.push_back(w);
  }

  std::vector<float> scalars(static_cast<size_t>(2 * L + 2));
  std::copy_n(p.resid_lambdas, L, scalars.begin());
  std::copy_n(p.x0_lambdas, L, scalars.begin() + L);
  scalars[static_cast<size_t>(2 * L)] = *p.smear_lambda;
  scalars[static_cast<size_t>(2 * L + 1)] = *p.backout_lambda;
  scalars_ = cuda::DeviceBuffer<float>(scalars.size());
  scalars_.copy_from_host(scalars);

  // The original rounds its rotary tables to the compute dtype (spec §3.1.4), as GptCuda does.
  const int64_t max_pos = 10 * c.sequence_len, half = c.head_dim() / 2;
  std::vector<float> cs(static_cast<size_t>(max_pos * half)), sn(cs.size());
  kernels::cpu::rotary_tables(cs.data(), sn.data(), max_pos, c.head_dim());
  for (float& x : cs) x = ::nanochat::bf16::round(x);
  for (float& x : sn) x = ::nanochat::bf16::round(x);
  cos_ = cuda::DeviceBuffer<float>(cs.size());
  sin_ = cuda::DeviceBuffer<float>(sn.size());
  cos_.copy_from_host(cs);
  sin_.copy_from_host(sn);
}

// ---------------------------------------------------------------- workspace

size_t GptCudaInference::plan_workspace(const GPTConfig& c, int64_t R, int64_t B, std::byte* base, Workspace* ws) {
  size_t cursor = 0;
  auto take = [&](size_t bytes) -> std::byte* {
    std::byte* at = base == nullptr ? nullptr : base + cursor;
    cursor += align_up(bytes, 256);
    return at;
  };
  auto h16 = [&](int64_t n) { return reinterpret_cast<bf16*>(take(static_cast<size_t>(n) * 2)); };
  const int64_t C = c.n_embd, KV = c.kv_dim();
  ws->idx = reinterpret_cast<int64_t*>(take(static_cast<size_t>(R) * 8));
  for (bf16** b : {&ws->emb, &ws->xn, &ws->x0, &ws->xs, &ws->xb, &ws->z, &ws->h, &ws->q, &ws->y, &ws->xmid})
    *b = h16(R * C);
  ws->qkv = h16(R * (C + 2 * KV));
  ws->u = h16(R * 4 * C);
  ws->a = h16(R * 4 * C);
  ws->xlast = h16(B * C);
  ws->xblast = h16(B * C);
  return cursor;
}

// ---------------------------------------------------------------- cache

CudaKVCache::CudaKVCache(const GptCudaInference& model, int64_t batch, int64_t max_len)
    : model_(model), B_(batch), Tmax_(max_len) {
  const GPTConfig& c = model.config();
  NC_CHECK(batch >= 1 && max_len >= 1, "CudaKVCache: batch {} and length {} must be positive", batch, max_len);
  const int64_t KV = c.kv_dim(), C = c.n_embd, L = c.n_layer;
  layer_elems_ = B_ * Tmax_ * KV;
  k_ = cuda::DeviceBuffer<bf16>(static_cast<size_t>(L * layer_elems_));
  v_ = cuda::DeviceBuffer<bf16>(static_cast<size_t>(L * layer_elems_));
  prev_ = cuda::DeviceBuffer<bf16>(static_cast<size_t>(B_ * C));
  positions_ = cuda::DeviceBuffer<int32_t>(static_cast<size_t>(B_));
  positions_.fill_bytes(0);
  int64_t scratch = 0;
  for (int64_t i = 0; i < L; ++i) {
    plans_.push_back(kc::plan_decode_attention(B_, c.n_kv_head, std::min(Tmax_, c.window(i) + 1)));
    scratch = std::max(scratch, kc::decode_attention_scratch_floats(B_, c.n_head, c.head_dim(), plans_.back()));
  }
  attn_scratch_ = cuda::DeviceBuffer<float>(static_cast<size_t>(scratch));
  attn_scratch_.fill_bytes(0);  // decode_attention's counters start at zero
  GptCudaInference::Workspace ws;
  step_arena_ = cuda::DeviceBuffer<std::byte>(GptCudaInference::plan_workspace(c, B_, B_, nullptr, &ws));
  logits_ = cuda::DeviceBuffer<float>(static_cast<size_t>(B_ * c.vocab_size));
  argmax_ = cuda::DeviceBuffer<int32_t>(static_cast<size_t>(B_));
  idx_host_ = cuda::PinnedHostBuffer<int64_t>(static_cast<size_t>(B_));
  argmax_host_ = cuda::PinnedHostBuffer<int32_t>(static_cast<size_t>(B_));
}

CudaKVCache::~CudaKVCache() {
  // Failures cannot be reported from a destructor; the stream is drained so nothing still reads these.
  cudaStreamSynchronize(model_.context().stream());
  if (graph_exec_ != nullptr) cudaGraphExecDestroy(graph_exec_);
  if (graph_ != nullptr) cudaGraphDestroy(graph_);
}

void CudaKVCache::trim() {
  NC_CUDA_CHECK(cudaStreamSynchronize(model_.context().stream()));  // nothing may still read them
  chunk_arena_ = cuda::DeviceBuffer<std::byte>();
  chunk_rows_ = 0;  // the next multi-token forward plans a new arena
  all_logits_ = cuda::DeviceBuffer<float>();
}

void CudaKVCache::reset() {
  pos_ = 0;
  has_prev_ = false;
  kc::fill_positions(positions_.data(), B_, 0, model_.context().stream());
}

void CudaKVCache::broadcast_from(const CudaKVCache& one) {
  const GPTConfig& c = model_.config();
  NC_CHECK(&one.model_ == &model_, "CudaKVCache::broadcast_from: the caches belong to different models");
  NC_CHECK(pos_ == 0 && one.B_ == 1 && one.pos_ <= Tmax_,
           "CudaKVCache::broadcast_from: needs an empty cache and a batch-1 source of at most {} positions", Tmax_);
  cudaStream_t st = model_.context().stream();
  const int64_t KV = c.kv_dim(), P = one.pos_, V = c.vocab_size;
  const int64_t row_bytes = Tmax_ * KV * 2;
  for (auto [dst, src] : {std::pair{k_.data(), one.k_.data()}, std::pair{v_.data(), one.v_.data()}})
    kc::broadcast_rows(dst, src, c.n_layer, B_, P * KV * 2, B_ * row_bytes, row_bytes, one.Tmax_ * KV * 2, st);
  if (one.has_prev_) kc::broadcast_rows(prev_.data(), one.prev_.data(), 1, B_, c.n_embd * 2, 0, c.n_embd * 2, 0, st);
  if ((V * 4) % 16 == 0) {
    kc::broadcast_rows(logits_.data(), one.logits_.data(), 1, B_, V * 4, 0, V * 4, 0, st);
  } else {
    for (int64_t b = 0; b < B_; ++b)
      NC_CUDA_CHECK(cudaMemcpyAsync(logits_.data() + b * V, one.logits_.data(), static_cast<size_t>(V) * 4,
                                    cudaMemcpyDeviceToDevice, st));
  }
  kc::fill_positions(positions_.data(), B_, static_cast<int32_t>(P), st);
  pos_ = P;
  has_prev_ = one.has_prev_;
}

// ---------------------------------------------------------------- forward

void GptCudaInference::run_forward(CudaKVCache& cache, const Workspace& ws, int64_t T, bool decode_kernels,
                                   float* logits, LogitsRows rows) const {
  const GPTConfig& c = config_;
  cudaStream_t st = ctx_.stream();
  const int64_t B = cache.B_, R = B * T, C = c.n_embd, H = c.n_head, Hk = c.n_kv_head, d = c.head_dim();
  const int64_t KV = c.kv_dim(), V = c.vocab_size, L = c.n_layer, pos0 = cache.pos_;
  const float* resid_lambdas = scalars_.data();
  const float* x0_lambdas = scalars_.data() + L;
  const float* smear_lambda = scalars_.data() + 2 * L;
  const float* backout_lambda = scalars_.data() + 2 * L + 1;
  bf16* prev = cache.prev_.data();

  // Embedding, norm, smear (within the chunk, and across the chunk boundary from the cache: gpt.h).
  kc::embedding_forward(ws.emb, wte_, ws.idx, R, C, st);
  kc::rmsnorm_forward(ws.xn, nullptr, ws.emb, R, C, st);
  if (T == 1) {
    if (cache.has_prev_)
      kc::smear_step(ws.x0, ws.xn, prev, smear_gate_, smear_lambda, B, C, st);
    else
      NC_CUDA_CHECK(cudaMemcpyAsync(ws.x0, ws.xn, static_cast<size_t>(R * C) * 2, cudaMemcpyDeviceToDevice, st));
  } else {
    kc::smear_forward(ws.x0, nullptr, ws.xn, smear_gate_, smear_lambda, B, T, C, st);
    if (cache.has_prev_)
      for (int64_t b = 0; b < B; ++b)
        kc::smear_step(ws.x0 + b * T * C, ws.xn + b * T * C, prev + b * C, smear_gate_, smear_lambda, 1, C, st);
  }
  NC_CUDA_CHECK(cudaMemcpy2DAsync(prev, static_cast<size_t>(C) * 2, ws.xn + (T - 1) * C, static_cast<size_t>(T * C) * 2,
                                  static_cast<size_t>(C) * 2, static_cast<size_t>(B), cudaMemcpyDeviceToDevice, st));

  const bf16* x = ws.x0;
  // Batch 1 only: measured on an H100 at d20 (bench/RESULTS.md), the fused products win at one row
  // (0.965 vs 1.07 ms per step) and lose to cuBLASLt from four (1.41 vs 1.11 ms).
  const bool fused = decode_kernels && T == 1 && R == 1 && decode_gemv_ && kc::decode_gemv_supported(R, C) &&
                     kc::decode_gemv_supported(R, 4 * C);
  for (int64_t i = 0; i < L; ++i) {
    const LayerWeights& w = layers_[static_cast<size_t>(i)];
    if (fused) {
      kc::DecodeGemvArgs g;
      g.w = w.qkv, g.x = x, g.y = ws.qkv, g.M = R, g.N = C + 2 * KV, g.K = C;
      g.overlap_previous = decode_pdl_ && i > 0;  // layer 0 follows copies, not a kernel
      g.prologue = kc::GemvPrologue::mix_rmsnorm;
      g.x0 = ws.x0, g.z_out = ws.z, g.h_out = ws.h;
      g.alpha = ScalarParam{resid_lambdas + i, 1.0f}, g.beta = ScalarParam{x0_lambdas + i, 1.0f};
      kc::decode_gemv(g, st);
    } else {
      kc::mix_rmsnorm(ws.z, ws.h, x, ws.x0, ScalarParam{resid_lambdas + i, 1.0f}, ScalarParam{x0_lambdas + i, 1.0f},
                      R, C, st);
      cuda::linear_forward(ctx_, ws.qkv, ws.h, w.qkv, R, C + 2 * KV, C);
    }
    kc::QkvPostArgs qa;
    qa.qkv = ws.qkv;
    qa.h = ws.h;
    qa.wg = w.ve_gate;
    qa.table = w.value_embed;
    qa.idx = ws.idx;
    qa.pos = cache.positions_.data();
    qa.cos = cos_.data();
    qa.sin = sin_.data();
    qa.q_out = ws.q;
    qa.k_cache = cache.keys(i);
    qa.v_cache = cache.values(i);
    qa.rows = R;
    qa.T = T;
    qa.C = C;
    qa.H = H;
    qa.Hk = Hk;
    qa.d = d;
    qa.kv_stride = cache.Tmax_;
    qa.qk_scale = static_cast<float>(kQkScale);
    if (decode_kernels && T == 1 && decode_fused_post_) {
      kc::decode_attention_with_post(ws.y, qa, c.window(i), cache.plans_[static_cast<size_t>(i)],
                                     cache.attn_scratch_.data(), st);
    } else if (decode_kernels) {
      kc::qkv_post(qa, st);
      kc::decode_attention(ws.y, ws.q, cache.keys(i), cache.values(i), cache.positions_.data(), B, H, Hk, d,
                           cache.Tmax_, c.window(i), cache.plans_[static_cast<size_t>(i)], cache.attn_scratch_.data(),
                           st);
    } else {
      kc::qkv_post(qa, st);
      const kernels::cpu::AttentionShape shape{B, T, H, Hk, d, pos0 + T, cache.Tmax_, pos0, c.window(i)};
      kc::attention_forward(ws.y, nullptr, ws.q, cache.keys(i), cache.values(i), shape, st);
    }
    // The backout layer's output is kept (xb); every other layer writes xs, which its input may be.
    bf16* out = i == c.backout_layer() ? ws.xb : ws.xs;
    if (fused) {
      kc::DecodeGemvArgs g;
      g.M = R;
      g.overlap_previous = decode_pdl_;  // each follows a kernel: attention, then the previous product
      g.w = w.proj, g.x = ws.y, g.y = ws.xmid, g.N = C, g.K = C;
      g.epilogue = kc::GemvEpilogue::residual, g.residual = ws.z;
      kc::decode_gemv(g, st);
      g.w = w.fc, g.x = ws.xmid, g.y = ws.a, g.N = 4 * C, g.K = C;
      g.prologue = kc::GemvPrologue::rmsnorm, g.epilogue = kc::GemvEpilogue::relu2, g.residual = nullptr;
      kc::decode_gemv(g, st);
      g.w = w.mlp_proj, g.x = ws.a, g.y = out, g.N = C, g.K = 4 * C;
      g.prologue = kc::GemvPrologue::none, g.epilogue = kc::GemvEpilogue::residual, g.residual = ws.xmid;
      kc::decode_gemv(g, st);
    } else {
      cuda::linear_forward(ctx_, ws.xmid, ws.y, w.proj, R, C, C, /*residual=*/ws.z);
      kc::rmsnorm_forward(ws.h, nullptr, ws.xmid, R, C, st);
      cuda::linear_forward(ctx_, ws.u, ws.h, w.fc, R, 4 * C, C);
      kc::relu2_forward(ws.a, ws.u, R * 4 * C, st);
      cuda::linear_forward(ctx_, out, ws.a, w.mlp_proj, R, C, 4 * C, /*residual=*/ws.xmid);
    }
    x = out;
  }
  kc::advance_positions(cache.positions_.data(), B, T, st);

  const bf16* fx = x;
  const bf16* fxb = ws.xb;
  int64_t n = R;
  if (rows == LogitsRows::kLast && T > 1) {
    const size_t row = static_cast<size_t>(C) * 2, pitch = static_cast<size_t>(T * C) * 2;
    NC_CUDA_CHECK(cudaMemcpy2DAsync(ws.xlast, row, x + (T - 1) * C, pitch, row, static_cast<size_t>(B),
                                    cudaMemcpyDeviceToDevice, st));
    NC_CUDA_CHECK(cudaMemcpy2DAsync(ws.xblast, row, ws.xb + (T - 1) * C, pitch, row, static_cast<size_t>(B),
                                    cudaMemcpyDeviceToDevice, st));
    fx = ws.xlast;
    fxb = ws.xblast;
    n = B;
  }
  kc::mix_rmsnorm(ws.z, ws.h, fx, fxb, ScalarParam{nullptr, 1.0f}, ScalarParam{backout_lambda, -1.0f}, n, C, st);
  cuda::linear_forward(ctx_, logits, ws.h, lm_head_, n, V, C);
  kc::softcap_inplace(logits, n * V, static_cast<float>(kLogitSoftcap), st);
}

const float* GptCudaInference::forward_cached(CudaKVCache& cache, const int64_t* idx, int64_t T,
                                              LogitsRows rows) const {
  const GPTConfig& c = config_;
  NC_CHECK(&cache.model_ == this, "forward_cached: the cache belongs to another model");
  const int64_t B = cache.B_, R = B * T, V = c.vocab_size, pos0 = cache.pos_;
  NC_CHECK(T > 0, "forward_cached: no tokens to feed");
  NC_CHECK(pos0 + T <= cache.Tmax_, "forward_cached: {} + {} tokens exceed the cache length {}", pos0, T, cache.Tmax_);
  NC_CHECK(pos0 + T <= 10 * c.sequence_len, "forward_cached: position {} exceeds the rotary table ({} positions)",
           pos0 + T, 10 * c.sequence_len);
  for (int64_t r = 0; r < R; ++r)
    NC_CHECK(idx[r] >= 0 && idx[r] < V, "forward_cached: token id {} at position {} is outside the vocabulary [0, {})",
             idx[r], r, V);
  cudaStream_t st = ctx_.stream();
  float* out = cache.logits_.data();

  if (T == 1) {
    // Decode: the fixed workspace, so a captured graph can replay it. The pinned staging may still feed
    // the previous step's copy: wait for the stream before reusing it.
    Workspace ws;
    plan_workspace(c, B, B, cache.step_arena_.data(), &ws);
    NC_CUDA_CHECK(cudaStreamSynchronize(st));
    std::memcpy(cache.idx_host_.data(), idx, static_cast<size_t>(B) * sizeof(int64_t));
    NC_CUDA_CHECK(cudaMemcpyAsync(ws.idx, cache.idx_host_.data(), static_cast<size_t>(B) * sizeof(int64_t),
                                  cudaMemcpyHostToDevice, st));
    const bool graphable = cache.has_prev_ && cache.use_graph_;
    if (graphable && cache.graph_exec_ == nullptr && cache.eager_decode_steps_ > 0) {
      NC_CUDA_CHECK(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal));
      try {
        run_forward(cache, ws, 1, true, out, LogitsRows::kLast);
      } catch (...) {
        cudaGraph_t broken = nullptr;
        cudaStreamEndCapture(st, &broken);
        if (broken != nullptr) cudaGraphDestroy(broken);
        throw;
      }
      NC_CUDA_CHECK(cudaStreamEndCapture(st, &cache.graph_));
      NC_CUDA_CHECK(cudaGraphInstantiate(&cache.graph_exec_, cache.graph_, 0));
    }
    if (graphable && cache.graph_exec_ != nullptr) {
      NC_CUDA_CHECK(cudaGraphLaunch(cache.graph_exec_, st));
    } else {
      run_forward(cache, ws, 1, true, out, LogitsRows::kLast);
      if (cache.has_prev_) ++cache.eager_decode_steps_;
    }
  } else {
    if (cache.chunk_rows_ < R) {
      NC_CUDA_CHECK(cudaStreamSynchronize(st));  // the old arena may still be in use
      Workspace probe;
      cache.chunk_arena_ = cuda::DeviceBuffer<std::byte>(plan_workspace(c, R, B, nullptr, &probe));
      cache.chunk_rows_ = R;
    }
    Workspace ws;
    plan_workspace(c, R, B, cache.chunk_arena_.data(), &ws);
    NC_CUDA_CHECK(cudaMemcpyAsync(ws.idx, idx, static_cast<size_t>(R) * sizeof(int64_t), cudaMemcpyHostToDevice, st));
    if (rows == LogitsRows::kAll) {
      if (cache.all_logits_.size() < static_cast<size_t>(R * V)) {
        NC_CUDA_CHECK(cudaStreamSynchronize(st));
        cache.all_logits_ = cuda::DeviceBuffer<float>(static_cast<size_t>(R * V));
      }
      out = cache.all_logits_.data();
    }
    run_forward(cache, ws, T, false, out, rows);
  }
  cache.pos_ += T;
  cache.has_prev_ = true;
  return out;
}

void GptCudaInference::download(const float* device_logits, std::span<float> out) const {
  NC_CUDA_CHECK(cudaMemcpyAsync(out.data(), device_logits, out.size() * sizeof(float), cudaMemcpyDeviceToHost,
                                ctx_.stream()));
  NC_CUDA_CHECK(cudaStreamSynchronize(ctx_.stream()));
}

std::span<const float> GptCudaInference::last_logits_to_host(CudaKVCache& cache) const {
  const size_t n = static_cast<size_t>(cache.B_ * config_.vocab_size);
  if (cache.logits_host_.size() < n) cache.logits_host_ = cuda::PinnedHostBuffer<float>(n);
  download(cache.logits_.data(), std::span<float>(cache.logits_host_.data(), n));
  return {cache.logits_host_.data(), n};
}

std::vector<int64_t> GptCudaInference::argmax_last(CudaKVCache& cache, int64_t vocab) const {
  NC_CHECK(vocab >= 1 && vocab <= config_.vocab_size, "argmax_last: vocab {} outside [1, {}]", vocab,
           config_.vocab_size);
  cudaStream_t st = ctx_.stream();
  kc::argmax_rows(cache.argmax_.data(), cache.logits_.data(), cache.B_, vocab, config_.vocab_size, st);
  NC_CUDA_CHECK(cudaMemcpyAsync(cache.argmax_host_.data(), cache.argmax_.data(), static_cast<size_t>(cache.B_) * sizeof(int32_t),
                                cudaMemcpyDeviceToHost, st));
  NC_CUDA_CHECK(cudaStreamSynchronize(st));
  return std::vector<int64_t>(cache.argmax_host_.data(), cache.argmax_host_.data() + cache.B_);
}

}  // namespace nanochat::model
