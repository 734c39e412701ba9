#include "nanochat/engine/decode_cost.h"

#include <algorithm>

#include "nanochat/model/model_stats.h"

namespace nanochat::engine {

int64_t kv_bytes_per_token(const model::GPTConfig& c, int64_t dtype_bytes) {
  return c.n_layer * 2 * c.n_kv_head * c.head_dim() * dtype_bytes;
}

int64_t kv_read_bytes_per_step(const model::GPTConfig& c, int64_t context, int64_t dtype_bytes) {
  int64_t total = 0;
  for (int64_t l = 0; l < c.n_layer; ++l) total += 2 * c.n_kv_head * c.head_dim() * dtype_bytes * std::min(context, c.window(l));
  return total;
}

int64_t decode_flops_per_token(const model::GPTConfig& c, int64_t context) {
  int64_t attn = 0;
  for (int64_t l = 0; l < c.n_layer; ++l) attn += 4 * c.n_head * c.head_dim() * std::min(context, c.window(l));
  return 2 * model::num_matmul_params(c) + attn;
}

int64_t decode_read_bytes_per_step(const model::GPTConfig& c, int64_t batch, int64_t context, int64_t dtype_bytes) {
  const int64_t C = c.n_embd, KV = c.kv_dim();
  int64_t weights = c.vocab_size * C;  // lm_head rows that produce logits
  int64_t table_rows = C;              // wte, per sequence
  for (int64_t l = 0; l < c.n_layer; ++l) {
    weights += (C + 2 * KV) * C + C * C + 8 * C * C;
    if (c.has_value_embed(l)) {
      weights += c.n_kv_head * model::kVeGateChannels;
      table_rows += KV;
    }
  }
  return dtype_bytes * (weights + batch * table_rows) + batch * kv_read_bytes_per_step(c, context, dtype_bytes);
}

int64_t attended_pairs(int64_t n, int64_t window) {
  // Query t sees min(t, window) + 1 keys: a triangle up to the window, then a band.
  const int64_t full = std::min(n, window + 1);
  return full * (full + 1) / 2 + (n - full) * (window + 1);
}

int64_t prefill_flops(const model::GPTConfig& c, int64_t n) {
  int64_t attn = 0;
  for (int64_t l = 0; l < c.n_layer; ++l) attn += 4 * c.n_head * c.head_dim() * attended_pairs(n, c.window(l));
  return 2 * model::num_matmul_params(c) * n + attn;
}

}  // namespace nanochat::engine
