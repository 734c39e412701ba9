#include "nanochat/model/activations.h"

#include <algorithm>

#include "nanochat/core/error.h"

namespace nanochat::model {

template <class F>
Activations<F>::Activations(const GPTConfig& config, int64_t B, int64_t T) : config_(config), B_(B), T_(T) {
  NC_CHECK(B > 0 && T > 0, "activations: batch {} x sequence {} must be positive", B, T);
  // Logits are produced a chunk of rows at a time (about 4M floats), never for the whole batch.
  chunk_rows_ = std::clamp<int64_t>((int64_t{1} << 22) / config.vocab_size, 1, B * T);
  // The backward walks the vocabulary in blocks of all B*T rows, in the same buffer.
  vocab_block_ = std::clamp<int64_t>((int64_t{1} << 22) / (B * T), 1, config.vocab_size);
  size_t total = 0;
  plan(nullptr, &total);
  storage_.assign(total, F(0));
  plan(storage_.data(), &total);
}

template <class F>
void Activations<F>::plan(F* base, size_t* total) {
  size_t cursor = 0;
  auto take = [&](int64_t n) -> F* {
    F* p = base == nullptr ? nullptr : base + cursor;
    cursor += (static_cast<size_t>(n) + 15) / 16 * 16;  // 64-byte aligned spans
    return p;
  };
  const int64_t BT = B_ * T_, C = config_.n_embd, H = config_.n_head, Hk = config_.n_kv_head;
  const int64_t KV = config_.kv_dim();
  xn_emb = take(BT * C);
  rstd_emb = take(BT);
  smear_sig = take(BT);
  x0 = take(BT * C);
  layers.assign(static_cast<size_t>(config_.n_layer), LayerActivations<F>{});
  for (int64_t i = 0; i < config_.n_layer; ++i) {
    LayerActivations<F>& l = layers[static_cast<size_t>(i)];
    l.h = take(BT * C);
    l.rstd_h = take(BT);
    l.q = take(BT * C);
    l.rstd_q = take(BT * H);
    l.k = take(BT * KV);
    l.rstd_k = take(BT * Hk);
    l.v = take(BT * KV);
    l.ve_gate = config_.has_value_embed(i) ? take(BT * Hk) : nullptr;
    l.y = take(BT * C);
    l.lse = take(BT * H);
    l.h2 = take(BT * C);
    l.rstd_h2 = take(BT);
    l.u = take(BT * 4 * C);
    l.a = take(BT * 4 * C);
    l.out = take(BT * C);
  }
  xf_n = take(BT * C);
  rstd_f = take(BT);
  loss = take(BT);
  lse = take(BT);
  buf_c0 = take(BT * C);
  buf_c1 = take(BT * C);
  buf_c2 = take(BT * C);
  buf_c3 = take(BT * C);
  buf_q = take(BT * C);
  buf_k = take(BT * KV);
  buf_v = take(BT * KV);
  buf_4c1 = take(BT * 4 * C);
  logits_chunk = take(std::max(chunk_rows_ * config_.vocab_size, BT * vocab_block_));
  *total = cursor;
}

template class Activations<float>;
template class Activations<double>;

}  // namespace nanochat::model
