// The KV-cache forward (spec §3.4). Same math as the training forward, without keeping activations:
// keys and values go to the cache, attention reads [0, pos + T) under the layer's window.
#include <cstring>
#include <vector>

#include "nanochat/core/error.h"
#include "nanochat/kernels/ops.h"
#include "nanochat/model/gpt.h"

namespace nanochat::model {

namespace k = nanochat::kernels::cpu;

template <class F>
void GPT<F>::forward_cached(KVCache<F>& cache, const int64_t* idx, int64_t T, F* logits) const {
  const GPTConfig& c = config_;
  const int64_t B = cache.batch(), BT = B * T, C = c.n_embd, H = c.n_head, Hk = c.n_kv_head;
  const int64_t d = c.head_dim(), KV = c.kv_dim(), V = c.vocab_size, pos0 = cache.pos();
  NC_CHECK(T > 0, "forward_cached: no tokens to feed");
  NC_CHECK(pos0 + T <= cache.max_len(), "forward_cached: {} + {} tokens exceed the cache length {}", pos0, T,
           cache.max_len());
  NC_CHECK(pos0 + T <= 10 * c.sequence_len, "forward_cached: position {} exceeds the rotary table ({} positions)",
           pos0 + T, 10 * c.sequence_len);
  for (int64_t r = 0; r < BT; ++r)
    NC_CHECK(idx[r] >= 0 && idx[r] < V, "forward_cached: token id {} at position {} is outside the vocabulary [0, {})",
             idx[r], r, V);
  const ModelPtrs<const F> p = bind_pointers<const F>(c, layout_, params_.data());
  auto buffer = [](int64_t n) { return std::vector<F>(static_cast<size_t>(n)); };
  std::vector<F> xn = buffer(BT * C), x0 = buffer(BT * C), x = buffer(BT * C), z = buffer(BT * C),
                 h = buffer(BT * C), q = buffer(BT * C), kk = buffer(BT * KV), v = buffer(BT * KV),
                 y = buffer(BT * C), u = buffer(BT * 4 * C), a = buffer(BT * 4 * C), xb = buffer(BT * C),
                 sig = buffer(BT), gate = buffer(BT * Hk);

  // Embedding, norm, smear (within the chunk, and across the chunk boundary from the cache).
  k::embedding_forward(z.data(), p.wte, idx, BT, C);
  k::rmsnorm_forward<F>(xn.data(), nullptr, z.data(), BT, C);
  k::smear_forward(x0.data(), sig.data(), xn.data(), p.smear_gate, *p.smear_lambda, B, T, C);
  F* prev = cache.prev_embedding();
  if (cache.has_prev_embedding())
    for (int64_t b = 0; b < B; ++b)
      k::smear_step(x0.data() + b * T * C, xn.data() + b * T * C, prev + b * C, p.smear_gate, *p.smear_lambda, 1, C);
  for (int64_t b = 0; b < B; ++b)
    std::memcpy(prev + b * C, xn.data() + (b * T + T - 1) * C, static_cast<size_t>(C) * sizeof(F));
  cache.set_has_prev_embedding();

  std::memcpy(x.data(), x0.data(), x.size() * sizeof(F));
  for (int64_t i = 0; i < c.n_layer; ++i) {
    const LayerPtrs<const F>& lp = p.layers[static_cast<size_t>(i)];
    k::residual_mix_forward(z.data(), x.data(), x0.data(), p.resid_lambdas[i], p.x0_lambdas[i], BT * C);
    k::rmsnorm_forward<F>(h.data(), nullptr, z.data(), BT, C);
    k::linear_forward(q.data(), h.data(), lp.c_q, BT, C, C);
    k::linear_forward(kk.data(), h.data(), lp.c_k, BT, KV, C);
    k::linear_forward(v.data(), h.data(), lp.c_v, BT, KV, C);
    if (lp.value_embed != nullptr)
      k::value_embed_forward(v.data(), gate.data(), h.data(), lp.ve_gate, lp.value_embed, idx, BT, C, Hk, d);
    k::rotary_forward(q.data(), cos_.data(), sin_.data(), B, T, H, d, pos0);
    k::rotary_forward(kk.data(), cos_.data(), sin_.data(), B, T, Hk, d, pos0);
    k::scaled_rmsnorm_forward<F>(q.data(), nullptr, BT * H, d, static_cast<F>(kQkScale));
    k::scaled_rmsnorm_forward<F>(kk.data(), nullptr, BT * Hk, d, static_cast<F>(kQkScale));
    F* kc = cache.keys(i);
    F* vc = cache.values(i);
    for (int64_t b = 0; b < B; ++b) {
      const size_t bytes = static_cast<size_t>(T * KV) * sizeof(F);
      std::memcpy(kc + (b * cache.max_len() + pos0) * KV, kk.data() + b * T * KV, bytes);
      std::memcpy(vc + (b * cache.max_len() + pos0) * KV, v.data() + b * T * KV, bytes);
    }
    const k::AttentionShape shape{B, T, H, Hk, d, pos0 + T, cache.max_len(), pos0, c.window(i)};
    k::attention_forward<F>(y.data(), nullptr, q.data(), kc, vc, shape);
    k::linear_forward(z.data(), y.data(), lp.c_proj, BT, C, C, /*accumulate=*/true);  // z becomes x_mid
    k::rmsnorm_forward<F>(h.data(), nullptr, z.data(), BT, C);
    k::linear_forward(u.data(), h.data(), lp.c_fc, BT, 4 * C, C);
    k::relu2_forward(a.data(), u.data(), BT * 4 * C);
    std::memcpy(x.data(), z.data(), x.size() * sizeof(F));
    k::linear_forward(x.data(), a.data(), lp.mlp_proj, BT, C, 4 * C, /*accumulate=*/true);
    if (i == c.backout_layer()) xb = x;
  }
  cache.advance(T);
  if (logits == nullptr) return;
  k::residual_mix_forward(z.data(), x.data(), xb.data(), F(1), -*p.backout_lambda, BT * C);
  k::rmsnorm_forward<F>(h.data(), nullptr, z.data(), BT, C);
  k::linear_forward(logits, h.data(), p.lm_head, BT, V, C);
  k::softcap_cross_entropy_forward<F>(logits, nullptr, nullptr, nullptr, BT, V, static_cast<F>(kLogitSoftcap));
}

template void GPT<float>::forward_cached(KVCache<float>&, const int64_t*, int64_t, float*) const;
template void GPT<double>::forward_cached(KVCache<double>&, const int64_t*, int64_t, double*) const;

}  // namespace nanochat::model
