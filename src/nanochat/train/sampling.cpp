#include "nanochat/train/sampling.h"

#include <algorithm>

#include "nanochat/core/error.h"
#include "nanochat/model/kv_cache.h"

namespace nanochat::train {

namespace {
TokenId argmax(const float* row, int64_t n) {
  return static_cast<TokenId>(std::max_element(row, row + n) - row);  // first maximum, as torch.argmax
}
}  // namespace

std::vector<TokenId> generate_greedy(const model::GPT<float>& model, std::span<const TokenId> prompt,
                                     int64_t max_new_tokens, std::span<const TokenId> stop_tokens) {
  NC_CHECK(!prompt.empty(), "generate_greedy: empty prompt");
  const int64_t V = model.config().vocab_size;
  const auto P = static_cast<int64_t>(prompt.size());
  std::vector<TokenId> out(prompt.begin(), prompt.end());
  if (max_new_tokens <= 0) return out;
  model::KVCache<float> cache(model.config(), 1, P + max_new_tokens);
  std::vector<int64_t> ids(prompt.begin(), prompt.end());
  std::vector<float> logits(static_cast<size_t>(P * V));
  model.forward_cached(cache, ids.data(), P, logits.data());  // prefill
  TokenId next = argmax(logits.data() + (P - 1) * V, V);
  for (int64_t n = 0; n < max_new_tokens; ++n) {
    if (std::ranges::find(stop_tokens, next) != stop_tokens.end()) break;
    out.push_back(next);
    if (n + 1 == max_new_tokens) break;
    const int64_t id = next;
    model.forward_cached(cache, &id, 1, logits.data());
    next = argmax(logits.data(), V);
  }
  return out;
}

std::vector<std::string> sample_prompts(const model::GPT<float>& model, const Tokenizer& tokenizer) {
  std::vector<TokenId> stops{tokenizer.bos_id()};
  for (const auto& s : tokenizer.special_tokens())
    if (s.text == "<|assistant_end|>") stops.push_back(s.id);
  std::vector<std::string> samples;
  for (const char* prompt : kSamplePrompts) {
    const auto tokens = tokenizer.encode(prompt, tokenizer.bos_id());
    samples.push_back(tokenizer.decode(generate_greedy(model, tokens, kSampleTokens, stops)));
  }
  return samples;
}

}  // namespace nanochat::train
