#include "nanochat/model/config.h"

#include <cctype>
#include <nlohmann/json.hpp>

#include "nanochat/core/error.h"

namespace nanochat::model {

void GPTConfig::validate() const {
  NC_CHECK(sequence_len > 0, "model config: sequence_len must be positive, got {}", sequence_len);
  NC_CHECK(vocab_size > 0, "model config: vocab_size must be positive, got {}", vocab_size);
  NC_CHECK(n_layer > 0, "model config: n_layer must be positive, got {}", n_layer);
  NC_CHECK(n_head > 0 && n_kv_head > 0, "model config: n_head ({}) and n_kv_head ({}) must be positive", n_head,
           n_kv_head);
  NC_CHECK(n_embd % n_head == 0, "model config: n_embd {} is not a multiple of n_head {}", n_embd, n_head);
  NC_CHECK(n_kv_head <= n_head && n_head % n_kv_head == 0,
           "model config: n_head {} must be a multiple of n_kv_head {}", n_head, n_kv_head);
  NC_CHECK(head_dim() % 2 == 0, "model config: head_dim {} must be even for rotary embeddings", head_dim());
  NC_CHECK(n_embd >= kSmearGateChannels, "model config: n_embd {} is smaller than the smear gate's {} channels",
           n_embd, kSmearGateChannels);
  NC_CHECK(!window_pattern.empty(), "model config: window_pattern is empty");
  for (char ch : window_pattern) {
    const char u = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    NC_CHECK(u == 'S' || u == 'L', "model config: window_pattern '{}' may contain only S and L", window_pattern);
  }
}

int64_t GPTConfig::window(int64_t layer) const {
  const int64_t long_window = sequence_len;
  if (layer == n_layer - 1) return long_window;
  const int64_t quarter = (sequence_len + 3) / 4;
  const int64_t short_window = (quarter + 127) / 128 * 128;
  const char ch = static_cast<char>(
      std::toupper(static_cast<unsigned char>(window_pattern[static_cast<size_t>(layer) % window_pattern.size()])));
  return ch == 'L' ? long_window : short_window;
}

std::vector<int64_t> GPTConfig::windows() const {
  std::vector<int64_t> w;
  for (int64_t i = 0; i < n_layer; ++i) w.push_back(window(i));
  return w;
}

std::string GPTConfig::to_json() const {
  nlohmann::ordered_json j;
  j["sequence_len"] = sequence_len;
  j["vocab_size"] = vocab_size;
  j["n_layer"] = n_layer;
  j["n_head"] = n_head;
  j["n_kv_head"] = n_kv_head;
  j["n_embd"] = n_embd;
  j["window_pattern"] = window_pattern;
  return j.dump();
}

GPTConfig GPTConfig::from_json(const std::string& json) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json);
  } catch (const nlohmann::json::exception& e) {
    fail("model config: malformed JSON: {}", e.what());
  }
  NC_CHECK(j.is_object(), "model config: expected a JSON object");
  auto get_int = [&](const char* key) -> int64_t {
    const auto it = j.find(key);
    NC_CHECK(it != j.end(), "model config: missing field '{}'", key);
    NC_CHECK(it->is_number_integer(), "model config: field '{}' must be an integer, got {}", key, it->dump());
    return it->get<int64_t>();
  };
  GPTConfig c;
  c.sequence_len = get_int("sequence_len");
  c.vocab_size = get_int("vocab_size");
  c.n_layer = get_int("n_layer");
  c.n_head = get_int("n_head");
  c.n_kv_head = get_int("n_kv_head");
  c.n_embd = get_int("n_embd");
  const auto wp = j.find("window_pattern");
  NC_CHECK(wp != j.end() && wp->is_string(), "model config: missing string field 'window_pattern'");
  c.window_pattern = wp->get<std::string>();
  c.validate();
  if (j.contains("padded_vocab_size")) {
    const int64_t padded = get_int("padded_vocab_size");
    NC_CHECK(padded == c.padded_vocab_size(), "model config: padded_vocab_size {} disagrees with vocab_size {} (-> {})",
             padded, c.vocab_size, c.padded_vocab_size());
  }
  return c;
}

GPTConfig GPTConfig::from_depth(int64_t depth, int64_t vocab_size, int64_t sequence_len, int64_t aspect_ratio,
                                int64_t head_dim, const std::string& window_pattern) {
  NC_CHECK(depth > 0 && aspect_ratio > 0 && head_dim > 0, "model config: depth {}, aspect_ratio {}, head_dim {} must be positive",
           depth, aspect_ratio, head_dim);
  GPTConfig c;
  const int64_t base_dim = depth * aspect_ratio;
  c.n_embd = (base_dim + head_dim - 1) / head_dim * head_dim;
  c.n_head = c.n_embd / head_dim;
  c.n_kv_head = c.n_head;
  c.n_layer = depth;
  c.vocab_size = vocab_size;
  c.sequence_len = sequence_len;
  c.window_pattern = window_pattern;
  c.validate();
  return c;
}

std::vector<int64_t> value_embed_layers(const GPTConfig& c) {
  std::vector<int64_t> out;
  for (int64_t i = 0; i < c.n_layer; ++i)
    if (c.has_value_embed(i)) out.push_back(i);
  return out;
}

}  // namespace nanochat::model
