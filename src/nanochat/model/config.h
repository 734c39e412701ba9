// GPTConfig: the seven fields a checkpoint's model_config holds, plus everything derived from them
// (head dim, padded vocab, per-layer attention windows, value-embedding layers, backout layer).
// Spec: model-and-training.md §1.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "nanochat/kernels/ops.h"

namespace nanochat::model {

struct GPTConfig {
  int64_t sequence_len = 2048;
  int64_t vocab_size = 32768;
  int64_t n_layer = 12;
  int64_t n_head = 6;
  int64_t n_kv_head = 6;
  int64_t n_embd = 768;
  std::string window_pattern = "SSSL";

  // Throws nanochat::Error naming the field when the shape is inconsistent.
  void validate() const;

  int64_t head_dim() const { return n_embd / n_head; }
  int64_t padded_vocab_size() const { return (vocab_size + 63) / 64 * 64; }
  int64_t kv_dim() const { return n_kv_head * head_dim(); }
  // Left window w of layer i: query t attends keys [t-w, t]. The last layer is always full.
  int64_t window(int64_t layer) const;
  std::vector<int64_t> windows() const;
  // Layer i has a value embedding iff i % 2 == (L-1) % 2 (the last layer always has one).
  bool has_value_embed(int64_t layer) const { return layer % 2 == (n_layer - 1) % 2; }
  int64_t backout_layer() const { return n_layer / 2; }

  // JSON with the seven keys in checkpoint order. from_json also accepts (and checks) an extra
  // padded_vocab_size key as in the golden files.
  std::string to_json() const;
  static GPTConfig from_json(const std::string& json);

  // Shape rule of base_train (§1.2): model_dim = depth*aspect_ratio rounded up to head_dim.
  static GPTConfig from_depth(int64_t depth, int64_t vocab_size, int64_t sequence_len, int64_t aspect_ratio = 64,
                              int64_t head_dim = 128, const std::string& window_pattern = "SSSL");
};

// The number of value-embedding layers (ascending indices in value_embed_layers()).
std::vector<int64_t> value_embed_layers(const GPTConfig& c);

using kernels::kSmearGateChannels;
using kernels::kVeGateChannels;

}  // namespace nanochat::model
