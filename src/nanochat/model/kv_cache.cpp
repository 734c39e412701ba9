#include "nanochat/model/kv_cache.h"

#include "nanochat/core/error.h"

namespace nanochat::model {

template <class F>
KVCache<F>::KVCache(const GPTConfig& config, int64_t batch, int64_t max_len)
    : batch_(batch), max_len_(max_len), layer_stride_(batch * max_len * config.kv_dim()) {
  NC_CHECK(batch > 0 && max_len > 0, "KV cache: batch {} and max_len {} must be positive", batch, max_len);
  k_.assign(static_cast<size_t>(config.n_layer * layer_stride_), F(0));
  v_.assign(k_.size(), F(0));
  prev_.assign(static_cast<size_t>(batch * config.n_embd), F(0));
}

template class KVCache<float>;
template class KVCache<double>;

}  // namespace nanochat::model
