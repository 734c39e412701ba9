// KV cache for inference (spec §3.4): per layer, keys and values (B, max_len, Hk, d) in their
// post-rotary, post-norm form; the shared position; and the smear state, i.e. the last token's
// pre-smear normalized embedding, which a one-token decode step mixes into its own embedding.
#pragma once
#include <cstdint>
#include <vector>

#include "nanochat/model/config.h"

namespace nanochat::model {

template <class F>
class KVCache {
 public:
  KVCache(const GPTConfig& config, int64_t batch, int64_t max_len);

  int64_t batch() const { return batch_; }
  int64_t max_len() const { return max_len_; }
  int64_t pos() const { return pos_; }  // tokens already in the cache (all rows share it)
  void reset() {
    pos_ = 0;
    has_prev_ = false;
  }

  F* keys(int64_t layer) { return k_.data() + static_cast<size_t>(layer * layer_stride_); }
  F* values(int64_t layer) { return v_.data() + static_cast<size_t>(layer * layer_stride_); }
  bool has_prev_embedding() const { return has_prev_; }
  F* prev_embedding() { return prev_.data(); }  // (B, C)

  // Called by the model after a forward of T tokens.
  void advance(int64_t T) { pos_ += T; }
  void set_has_prev_embedding() { has_prev_ = true; }

 private:
  int64_t batch_, max_len_, layer_stride_;
  int64_t pos_ = 0;
  bool has_prev_ = false;
  std::vector<F> k_, v_, prev_;
};

}  // namespace nanochat::model
